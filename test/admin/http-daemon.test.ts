// The admin HTTP limits of the real daemon (the built dist/cli.js), set by
// its config file: 300 local connections that never finish their headers do
// not stop /health from answering, and bad values are refused by `validate`
// with their line.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, startDaemon, type DaemonHandle } from '../integration/daemon-process.js';
import { freePort, waitFor } from '../integration/helpers.js';
import { openEvents } from './sse.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-httpd-'));
const daemons = new Set<DaemonHandle>();
after(async () => {
  for (const d of daemons) await d.stop('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

let seq = 0;
function config(admin: string): { dir: string; file: string } {
  const dir = join(tmp, `c${++seq}`);
  mkdirSync(dir);
  const file = join(dir, 'reloadkit.yaml');
  writeFileSync(file, `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n${admin}targets:\n  app:\n    kind: command\n    reload: ["true"]\n`);
  return { dir, file };
}

describe('daemon admin HTTP limits', () => {
  test('limits from the config file; 300 slow connections against 100 slots: /health keeps answering within a second', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const { dir, file } = config(
      `  http: 127.0.0.1:${port}\n  http_max_connections: 100\n  http_headers_timeout: 2s\n  http_request_timeout: 3s\n  http_max_event_clients: 1\n`,
    );
    const d = await startDaemon({ args: ['-c', file], socket: join(dir, 'admin.sock') });
    daemons.add(d);
    const base = `http://127.0.0.1:${port}`;
    try {
      const line = await d.waitForLine((l) => l.msg === 'admin HTTP listening', 'the HTTP line');
      assert.equal(line.maxConnections, 100);
      assert.equal(line.headersTimeoutMs, 2000);
      assert.equal(line.requestTimeoutMs, 3000);
      assert.equal(line.maxEventClients, 1);

      const slow: Socket[] = [];
      const closed = new Set<Socket>();
      for (let i = 0; i < 300; i++) {
        const s = connect(port, '127.0.0.1', () => s.write('GET /status HTTP/1.1\r\nhost: x'));
        s.on('error', () => {});
        s.on('close', () => closed.add(s));
        s.resume();
        slow.push(s);
      }
      await waitFor(() => slow.every((s) => s.readyState === 'open' || closed.has(s)), 'all 300 to connect');
      const latencies: number[] = [];
      for (let i = 0; i < 10; i++) {
        const t0 = performance.now();
        const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5000) });
        assert.equal(res.status, 200);
        await res.text();
        latencies.push(performance.now() - t0);
      }
      assert.ok(Math.max(...latencies) < 1000, `/health latencies under attack: ${latencies.map((x) => x.toFixed(0)).join(', ')} ms`);
      await waitFor(() => closed.size === 300, 'every slow connection closed (evicted or expired)', 20_000);

      const a = await openEvents(`${base}/events`);
      await a.next((e) => e.event === 'status', 'the first stream');
      const b = await openEvents(`${base}/events`);
      assert.equal(b.status, 503, 'http_max_event_clients: 1');
      a.close();
      b.close();
      assert.equal(await d.stop(), 0);
    } finally {
      await d.stop();
    }
  });

  test('validate refuses bad HTTP limits with their line', async () => {
    for (const [admin, want] of [
      ['  http_max_connections: 0\n', /reloadkit\.yaml:4:\d+.*http_max_connections/s],
      ['  http_headers_timeout: soon\n', /reloadkit\.yaml:4:\d+.*invalid duration "soon"/s],
      ['  http_headers_timeout: 10s\n  http_request_timeout: 5s\n', /http_request_timeout must not be shorter than http_headers_timeout/],
    ] as const) {
      const { file } = config(admin);
      const r = await cli(['validate', '-c', file]);
      assert.equal(r.code, 1, `${admin}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout + r.stderr, want);
    }
  });
});
