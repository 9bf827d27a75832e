// The status page's files and its event stream, served by the library's
// triggers.http in front of a reloader on a real YAML file; the event
// stream's bounds (clients, buffering) on real sockets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { EventStream } from '../../src/admin/events.js';
import { startAdminHttp } from '../../src/admin/http.js';
import { createReloadMetrics } from '../../src/admin/metrics.js';
import { PAGE_PATHS } from '../../src/admin/page.js';
import type { ReloadResult } from '../../src/shared/types.js';
import { waitFor } from '../integration/helpers.js';
import { openEvents, type SseEvent } from './sse.js';
import { httpApp, recordingLogger, stubHost } from './support.js';

/** The most a browser downloads for the page (every file, uncompressed). */
const PAGE_BUDGET_BYTES = 60 * 1024;

const isPass = (e: SseEvent) => e.event === 'pass';
const isStatus = (e: SseEvent) => e.event === 'status';

describe('the page', () => {
  test('every file is served with the security headers, revalidates by ETag, and the whole page weighs at most 60 KB', async () => {
    const app = await httpApp();
    try {
      let total = 0;
      const types: Record<string, RegExp> = {
        '/': /^text\/html/,
        '/page.css': /^text\/css/,
        '/page.js': /^text\/javascript/,
        '/favicon.svg': /^image\/svg\+xml/,
      };
      for (const path of PAGE_PATHS) {
        const res = await fetch(`${app.base}${path}`);
        const body = Buffer.from(await res.arrayBuffer());
        assert.equal(res.status, 200, path);
        assert.match(res.headers.get('content-type') ?? '', types[path]!, path);
        assert.match(res.headers.get('content-security-policy') ?? '', /^default-src 'self'(;|$)/, path);
        assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
        assert.equal(res.headers.get('referrer-policy'), 'no-referrer', path);
        total += body.length;
        const etag = res.headers.get('etag');
        assert.ok(etag, path);
        const again = await fetch(`${app.base}${path}`, { headers: { 'if-none-match': etag } });
        assert.equal(again.status, 304, path);
      }
      assert.ok(total <= PAGE_BUDGET_BYTES, `page weight ${total} bytes is over ${PAGE_BUDGET_BYTES}`);
      process.stdout.write(`# status page weight: ${(total / 1024).toFixed(1)} KB uncompressed\n`);

      const html = await (await fetch(`${app.base}/`)).text();
      assert.doesNotMatch(html, /<script>|<script [^>]*>[^<]|\son[a-z]+=|style=/i, 'no inline script, handler or style');
      assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//i, 'nothing from another origin');
      const head = await fetch(`${app.base}/events`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
      assert.equal(head.status, 200, 'HEAD /events answers and ends');
      assert.match(head.headers.get('content-type') ?? '', /^text\/event-stream/);
      const post = await fetch(`${app.base}/`, { method: 'POST' });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get('allow'), 'GET, HEAD');
    } finally {
      await app.cleanup();
    }
  });

  test('missing page files are reported with every place looked in', async () => {
    const { PageAssets } = await import('../../src/admin/page.js');
    const assets = await PageAssets.load('file:///nonexistent/admin/http.js');
    assert.match(assets.problem ?? '', /status page files not found \(looked in \/nonexistent\/admin\/page\/.*installation is incomplete/);
    assert.equal(assets.weight, 0);
  });
});

describe('GET /events', () => {
  test('a status snapshot on connect, each pass as it ends, then a fresh snapshot; a reconnect gets the current state, not a replay', async () => {
    const app = await httpApp();
    try {
      const a = await openEvents(`${app.base}/events`);
      assert.equal(a.status, 200);
      assert.match(String(a.headers['content-type']), /^text\/event-stream/);
      assert.equal(a.headers['cache-control'], 'no-store');
      const first = await a.next(() => true, 'the first event');
      assert.equal(first.event, 'status');
      const s = first.data as {
        units: Record<string, { generation: number; watch: { state: string } }>;
        actions: unknown;
        timeline: unknown[];
        ready: { ok: boolean };
      };
      assert.equal(s.units.app?.generation, 0);
      assert.equal(s.units.app?.watch.state, 'off', 'this reloader watches nothing');
      assert.deepEqual(s.actions, { reload: false, token: false });
      assert.deepEqual(s.timeline, []);
      assert.equal(s.ready.ok, true);

      app.write('port: 1\n');
      const result = await app.r.reload();
      const pass = await a.next(isPass, 'the pass event');
      assert.deepEqual(pass.data, JSON.parse(JSON.stringify(result)));
      const after = await a.next(
        (e) => isStatus(e) && (e.data as { units: { app: { generation: number } } }).units.app.generation === 1,
        'a snapshot with generation 1',
      );
      assert.equal((after.data as { timeline: ReloadResult[] }).timeline.at(-1)?.generation, 1);

      app.write('port: [\n');
      const bad = await app.r.reload();
      assert.equal(bad.status, 'load_failed');
      const badPass = await a.next((e) => isPass(e) && (e.data as ReloadResult).status === 'load_failed', 'the failed pass');
      assert.match(String((badPass.data as ReloadResult).load_error), /config\.yaml:\d+/, 'the error names the file and line');

      const b = await openEvents(`${app.base}/events`);
      const bFirst = await b.next(() => true, 'the reconnecting client first event');
      assert.equal(bFirst.event, 'status');
      const bs = bFirst.data as { units: { app: { last_result: ReloadResult } }; timeline: ReloadResult[] };
      assert.equal(bs.units.app.last_result.status, 'load_failed', 'the current state');
      assert.equal(bs.timeline.length, 2, 'the history is part of the snapshot');
      assert.equal(b.events.filter(isPass).length, 0, 'no replay of past pass events');
      a.close();
      b.close();
    } finally {
      await app.cleanup();
    }
  });

  test('at most maxEventClients streams: the next is refused with 503, and accepted once one leaves', async () => {
    const app = await httpApp({ maxEventClients: 2 });
    try {
      const a = await openEvents(`${app.base}/events`);
      const b = await openEvents(`${app.base}/events`);
      await a.next(isStatus, 'a connected');
      await b.next(isStatus, 'b connected');
      const c = await openEvents(`${app.base}/events`);
      assert.equal(c.status, 503);
      assert.equal(c.headers['retry-after'], '5');
      await c.closed;
      assert.deepEqual(JSON.parse(c.body), { status: 'error', message: 'too many event clients (at most 2)' });
      const health = await fetch(`${app.base}/health`);
      assert.equal(health.status, 200, 'other endpoints are unaffected');
      a.close();
      await a.closed;
      const d = await waitFor(async () => {
        const x = await openEvents(`${app.base}/events`);
        if (x.status === 200) return x;
        x.close();
        return null;
      }, 'a stream slot to free up');
      await d.next(isStatus, 'd connected');
      b.close();
      d.close();
    } finally {
      await app.cleanup();
    }
  });

  test('closing the server ends every stream', async () => {
    const app = await httpApp();
    const a = await openEvents(`${app.base}/events`);
    await a.next(isStatus, 'connected');
    await app.cleanup();
    await a.closed;
  });
});

describe('event stream buffering', () => {
  /** A real HTTP server whose only route is the event stream, with a small buffer limit. */
  async function streamServer(
    maxBufferBytes: number,
  ): Promise<{ stream: EventStream; server: Server; port: number; logger: ReturnType<typeof recordingLogger> }> {
    const logger = recordingLogger();
    const stream = new EventStream({ maxClients: 10, maxBufferBytes, snapshots: [{ event: 'status', read: () => ({ ok: true }) }], logger });
    const server = createServer((req, res) => stream.accept(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { stream, server, port: (server.address() as { port: number }).port, logger };
  }

  test('a client that never reads is dropped when its queue is full; one that reads gets every event', { timeout: 120_000 }, async () => {
    const limit = 64 * 1024;
    const { stream, server, port, logger } = await streamServer(limit);
    try {
      const reader = await openEvents(`http://127.0.0.1:${port}/`);
      await reader.next(isStatus, 'the reader connected');
      // The stuck client sends its request and then never reads a byte.
      const stuck = connect(port, '127.0.0.1');
      stuck.on('error', () => {});
      stuck.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n');
      stuck.pause();
      await waitFor(() => stream.clientCount === 2, 'both streams open');
      const big = 'x'.repeat(256 * 1024);
      let sent = 0;
      // Enough to fill the kernel's socket buffers of the stuck client and then its queue here.
      while (stream.counts.dropped === 0 && sent < 400) {
        stream.publish('pass', { n: sent, big });
        sent += 1;
        await reader.next((e) => isPass(e) && (e.data as { n: number }).n === sent - 1, `event ${sent - 1} at the reader`);
      }
      assert.equal(stream.counts.dropped, 1, `the stuck client was dropped after ${sent} events of 256 KiB`);
      assert.equal(stream.clientCount, 1);
      const warn = logger.at('warn').find((e) => e.msg === 'event client dropped: it stopped reading');
      assert.ok(warn);
      assert.ok(Number(warn.obj.queued_bytes) > limit && Number(warn.obj.queued_bytes) <= limit + big.length + 1024, String(warn.obj.queued_bytes));
      stream.publish('pass', { n: sent, big: '' });
      await reader.next((e) => isPass(e) && (e.data as { n: number }).n === sent, 'the reader keeps receiving after the drop');
      reader.close();
      stuck.destroy();
    } finally {
      stream.close();
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('status page snapshot', () => {
  test('watch state, history and actions come from the host', async () => {
    const metrics = await createReloadMetrics({ defaultMetrics: false });
    const result = (unit: string, ended: string): ReloadResult => ({
      unit,
      generation: 1,
      status: 'full_success',
      trigger: 'api',
      outcomes: [],
      requires_restart: [],
      config_hash: 'h',
      changed: [],
      started_at: ended,
      ended_at: ended,
      duration_ms: 1,
      coalesced: 0,
    });
    const view = (name: string, history: ReloadResult[]) => ({
      name,
      generation: 1,
      lastResult: () => history.at(-1) ?? null,
      pendingRestart: () => [],
      history: () => history,
    });
    const host = stubHost({
      units: () => [
        view('a', [result('a', '2026-01-01T00:00:01.000Z'), result('a', '2026-01-01T00:00:03.000Z')]),
        view('b', [result('b', '2026-01-01T00:00:02.000Z')]),
      ],
      watchHealth: (u) =>
        u === 'a'
          ? { ok: true, mode: 'watching' as const }
          : { ok: false, mode: 'polling' as const, reason: 'watching degraded: polling 1 directory every 1000 ms (ENOSPC)' },
    });
    const h = await startAdminHttp({ address: '127.0.0.1:0', host, metrics, reloadEnabled: true, token: 't0ken' });
    try {
      const ev = await openEvents(`http://${h.address}/events`);
      const s = (await ev.next(isStatus, 'the snapshot')).data as {
        units: Record<string, { watch: { state: string; reason?: string } }>;
        timeline: ReloadResult[];
        actions: unknown;
      };
      assert.deepEqual(s.units.a?.watch, { state: 'watching' });
      assert.equal(s.units.b?.watch.state, 'polling');
      assert.match(String(s.units.b?.watch.reason), /ENOSPC/);
      assert.deepEqual(
        s.timeline.map((r) => `${r.unit}@${r.ended_at.slice(17, 19)}`),
        ['a@01', 'b@02', 'a@03'],
        'every unit, oldest first',
      );
      assert.deepEqual(s.actions, { reload: true, token: true });
      assert.ok(!JSON.stringify(s).includes('t0ken'), 'the token is never sent');
      ev.close();
    } finally {
      await h.close();
    }
  });
});

describe('event: fleet (a host that pushes its fleet)', () => {
  test('sent on connect, then only when the JSON differs, at most every 250 ms (the latest wins); subscribed only while someone listens', async () => {
    const metrics = await createReloadMetrics({ defaultMetrics: false });
    const listeners = new Set<(s: object) => void>();
    let subscribes = 0;
    let current: object = { fleet: 'web', n: 0 };
    const host = stubHost({
      fleetEvents: (fn) => {
        subscribes += 1;
        listeners.add(fn);
        // As the agent does: the current state soon after subscribing.
        setTimeout(() => fn(current), 10);
        return () => listeners.delete(fn);
      },
    });
    const push = (n: number) => {
      current = { fleet: 'web', n };
      for (const fn of listeners) fn(current);
    };
    const h = await startAdminHttp({ address: '127.0.0.1:0', host, metrics });
    try {
      const a = await openEvents(`http://${h.address}/events`);
      const isFleet = (e: SseEvent) => e.event === 'fleet';
      assert.deepEqual((await a.next(isFleet, 'the fleet on connect')).data, { fleet: 'web', n: 0 });
      // A burst: the same JSON again, then four changes at once.
      push(0);
      for (const n of [1, 2, 3, 4]) push(n);
      await a.next((e) => isFleet(e) && (e.data as { n: number }).n === 4, 'the latest of the burst');
      const fleet = a.events.filter(isFleet);
      assert.deepEqual(
        fleet.map((e) => (e.data as { n: number }).n),
        [0, 4],
        'within 250 ms of the last one sent, the changes are coalesced into the latest',
      );
      assert.ok(fleet[1]!.at - fleet[0]!.at >= 200, `${fleet[1]!.at - fleet[0]!.at} ms apart`);
      // A second client gets what the others have at once, and no second subscription is made.
      const b = await openEvents(`http://${h.address}/events`);
      assert.deepEqual((await b.next(isFleet, 'the fleet for b')).data, { fleet: 'web', n: 4 });
      assert.equal(subscribes, 1);
      a.close();
      b.close();
      await waitFor(() => listeners.size === 0, 'unsubscribed once nobody listens');
    } finally {
      await h.close();
    }
  });

  test('a host without a fleet hook sends no fleet event', async () => {
    const metrics = await createReloadMetrics({ defaultMetrics: false });
    const h = await startAdminHttp({ address: '127.0.0.1:0', host: stubHost(), metrics });
    try {
      const a = await openEvents(`http://${h.address}/events`);
      await a.next(isStatus, 'the status');
      assert.deepEqual(
        a.events.filter((e) => e.event === 'fleet'),
        [],
      );
      a.close();
    } finally {
      await h.close();
    }
  });
});
