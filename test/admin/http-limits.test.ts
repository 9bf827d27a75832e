// Limits of the admin HTTP server against real slow clients: connections
// that never finish their headers expire after the header timeout, and
// while they hold every slot /health still answers (the oldest idle one
// makes room); a server whose every connection is busy refuses with 503.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { startAdminHttp } from '../../src/admin/http.js';
import { httpLimits, serverOptions } from '../../src/admin/http-limits.js';
import { createReloadMetrics } from '../../src/admin/metrics.js';
import { waitFor } from '../integration/helpers.js';
import { openEvents } from './sse.js';
import { recordingLogger, stubHost } from './support.js';

interface SlowClient {
  sock: Socket;
  /** What the server sent before closing. */
  got: string;
  closedAt: number | null;
}

/** Opens `n` connections that send half a request line and then nothing. */
async function slowClients(port: number, n: number): Promise<SlowClient[]> {
  const out: SlowClient[] = [];
  await Promise.all(
    Array.from({ length: n }, () => {
      const c: SlowClient = { sock: connect(port, '127.0.0.1'), got: '', closedAt: null };
      c.sock.setEncoding('utf8');
      c.sock.on('data', (d: string) => (c.got += d));
      c.sock.on('error', () => {});
      c.sock.on('close', () => (c.closedAt = performance.now()));
      out.push(c);
      return new Promise<void>((resolve) => c.sock.once('connect', () => (c.sock.write('GET /health HTTP/1.1\r\nhost: a'), resolve())));
    }),
  );
  return out;
}

async function timedHealth(base: string): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
  await res.text();
  return { status: res.status, ms: performance.now() - t0 };
}

async function server(opts: Parameters<typeof startAdminHttp>[0] extends infer O ? Partial<O> : never) {
  const logger = recordingLogger();
  const h = await startAdminHttp({ address: '127.0.0.1:0', host: stubHost(), metrics: await createReloadMetrics({ defaultMetrics: false }), logger, ...opts });
  return { h, logger, base: `http://${h.address}` };
}

describe('admin HTTP limits', () => {
  test(
    '300 connections that never finish their headers: /health answers throughout, and they expire after the header timeout',
    { timeout: 60_000 },
    async () => {
      const { h, base } = await server({ headersTimeoutMs: 2000 });
      try {
        const t0 = performance.now();
        const slow = await slowClients(h.port, 300);
        await waitFor(() => h.stats.connections >= 300, 'the server to hold 300 connections');
        for (let i = 0; i < 5; i++) {
          const r = await timedHealth(base);
          assert.equal(r.status, 200);
          assert.ok(r.ms < 1000, `/health took ${r.ms.toFixed(0)} ms under the attack`);
        }
        await waitFor(() => slow.every((c) => c.closedAt !== null), 'every slow connection to be closed', 20_000);
        const last = Math.max(...slow.map((c) => c.closedAt!)) - t0;
        assert.ok(last < 2000 + 1000 + 1500, `the last one closed ${last.toFixed(0)} ms after the attack began (timeout 2000 ms, checked every second)`);
        assert.ok(
          slow.every((c) => c.got.startsWith('HTTP/1.1 408 ')),
          slow.find((c) => !c.got.startsWith('HTTP/1.1 408 '))?.got,
        );
        assert.match(slow[0]!.got, /"message":"request timeout"/);
      } finally {
        await h.close();
      }
    },
  );

  test(
    'at the connection limit a new client closes the oldest idle one: /health answers while 300 slow clients hold 100 slots',
    { timeout: 60_000 },
    async () => {
      const { h, base, logger } = await server({ maxConnections: 100, headersTimeoutMs: 30_000 });
      try {
        const slow = await slowClients(h.port, 300);
        await waitFor(() => slow.filter((c) => c.closedAt !== null).length >= 200, 'the 200 oldest slow connections to make room');
        assert.equal(h.stats.connections, 100);
        assert.ok(h.stats.evicted >= 200, String(h.stats.evicted));
        for (let i = 0; i < 5; i++) {
          const r = await timedHealth(base);
          assert.equal(r.status, 200);
          assert.ok(r.ms < 1000, `/health took ${r.ms.toFixed(0)} ms at the limit`);
        }
        // Oldest first: the survivors are the newest slow clients.
        assert.ok(slow.slice(-90).every((c) => c.closedAt === null));
        assert.ok(
          logger.at('warn').some((e) => e.msg.includes('connection limit')),
          'the limit is logged',
        );
        for (const c of slow) c.sock.destroy();
      } finally {
        await h.close();
      }
    },
  );

  test('when every connection is busy (event streams), a new one is refused with 503, not left hanging', async () => {
    const { h, base } = await server({ maxConnections: 2 });
    try {
      const a = await openEvents(`${base}/events`);
      const b = await openEvents(`${base}/events`);
      await waitFor(() => a.events.length > 0 && b.events.length > 0, 'both streams open');
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
      assert.equal(res.status, 503);
      assert.deepEqual(await res.json(), { status: 'error', message: 'too many connections' });
      assert.equal(h.stats.refused, 1);
      a.close();
      await a.closed;
      await waitFor(async () => (await fetch(`${base}/health`)).status === 200, '/health once a slot is free');
      b.close();
    } finally {
      await h.close();
    }
  });

  test('an event stream outlives the request timeout that closes a slow client opened with it', async () => {
    const { h, base } = await server({ headersTimeoutMs: 300, requestTimeoutMs: 300 });
    try {
      const a = await openEvents(`${base}/events`);
      await waitFor(() => a.events.length > 0, 'the first snapshot');
      let closed = false;
      void a.closed.then(() => (closed = true));
      const [slow] = await slowClients(h.port, 1);
      // The timeouts were checked (the slow client got its 408) and the stream was left alone.
      await waitFor(() => slow!.closedAt !== null, 'the slow client to expire', 10_000);
      assert.match(slow!.got, /^HTTP\/1\.1 408 /);
      assert.equal(closed, false, 'the stream is still open');
      assert.equal(h.stats.eventClients, 1);
      a.close();
    } finally {
      await h.close();
    }
  });

  test('bad limits are refused with the option named; defaults fill the rest', () => {
    assert.deepEqual(httpLimits({}), { maxConnections: 1024, headersTimeoutMs: 5000, requestTimeoutMs: 10_000, maxEventClients: 256 });
    assert.equal(httpLimits({ headersTimeoutMs: 20_000 }).requestTimeoutMs, 20_000, 'an unset request timeout follows a longer header timeout');
    assert.throws(() => httpLimits({ maxConnections: 0 }), { code: 'ERR_OPTIONS', message: /HTTP maxConnections must be an integer from 1 to 1000000, got 0/ });
    assert.throws(() => httpLimits({ headersTimeoutMs: 1.5 }), /headersTimeoutMs must be an integer/);
    assert.throws(() => httpLimits({ maxEventClients: -1 }), /maxEventClients/);
    assert.throws(
      () => httpLimits({ headersTimeoutMs: 5000, requestTimeoutMs: 1000 }),
      /requestTimeoutMs \(1000\) must not be shorter than headersTimeoutMs \(5000\)/,
    );
    const o = serverOptions(httpLimits({ headersTimeoutMs: 2000 }));
    assert.equal(o.connectionsCheckingInterval, 1000, 'expiry is checked every second, not every 30 s');
    assert.equal(o.headersTimeout, 2000);
  });
});
