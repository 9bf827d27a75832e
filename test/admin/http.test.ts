// The HTTP endpoints on a real server (port 0) in front of a reloader
// on a real YAML file.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { isLoopback, startAdminHttp } from '../../src/admin/http.js';
import { parseHttpAddress } from '../../src/shared/http-address.js';
import { createReloadMetrics } from '../../src/admin/metrics.js';
import { parseExposition, sampleValue } from './prom-text.js';
import { command, httpApp, startApp, stubHost } from './support.js';

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string; headers: Headers; json: () => Record<string, unknown> }> {
  const res = await fetch(url, init);
  const body = await res.text();
  return { status: res.status, body, headers: res.headers, json: () => JSON.parse(body) as Record<string, unknown> };
}

describe('read-only endpoints', () => {
  test('/health, /status, /reload-status, /metrics.json, /metrics', async () => {
    const app = await httpApp();
    try {
      let r = await get(`${app.base}/health`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.json(), { status: 'ok' });
      assert.match(r.headers.get('content-type') ?? '', /^application\/json/);

      r = await get(`${app.base}/status`);
      assert.equal(r.status, 200);
      const viaSocket = await command(app.socketPath, 'status');
      const viaHttp = r.json();
      delete viaSocket.uptime_secs;
      delete viaHttp.uptime_secs;
      assert.deepEqual(viaHttp, viaSocket, 'the same JSON as the socket status');

      assert.deepEqual((await get(`${app.base}/reload-status`)).json(), { status: 'no_reload_yet' });
      assert.deepEqual((await get(`${app.base}/reload-status?unit=app`)).json(), { status: 'no_reload_yet' });
      assert.deepEqual((await get(`${app.base}/metrics.json`)).json(), { reloads: 0, failures: 0, deduplicated: 0 });

      app.write('port: 1\n');
      const result = await app.r.reload();
      const rs = await get(`${app.base}/reload-status`);
      assert.deepEqual(rs.json(), JSON.parse(JSON.stringify(result)));
      assert.deepEqual((await get(`${app.base}/reload-status?unit=app`)).json(), rs.json());
      const nope = await get(`${app.base}/reload-status?unit=%3Cnope%3E`);
      assert.equal(nope.status, 404);
      assert.deepEqual(nope.json(), { status: 'error', message: 'unknown unit: <nope>' });

      const mj = (await get(`${app.base}/metrics.json`)).json();
      assert.equal(mj.reloads, 1);
      assert.match(String(mj.last_reload), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const m = await get(`${app.base}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const exp = parseExposition(m.body);
      assert.equal(sampleValue(exp, 'reloadkit_reloads_total', { unit: 'app', status: 'full_success' }), 1);
      assert.equal(sampleValue(exp, 'reloadkit_config_generation', { unit: 'app' }), 1);

      const head = await fetch(`${app.base}/health`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
    } finally {
      await app.cleanup();
    }
  });

  test('/ready means "serving a valid config": a refused reload stays 200 (listed as degraded); ?strict=1 is 503 until a pass succeeds', async () => {
    const app = await httpApp();
    try {
      assert.deepEqual((await get(`${app.base}/ready`)).json(), { status: 'ready' });
      unlinkSync(app.configPath);
      assert.equal((await app.r.reload()).status, 'load_failed');
      // The old config is still served: a load balancer must keep this instance.
      const r = await get(`${app.base}/ready`);
      assert.equal(r.status, 200);
      const body = r.json() as { status: string; degraded: string[] };
      assert.equal(body.status, 'ready');
      assert.ok(
        body.degraded.some((x) => x.includes('last reload load_failed')),
        body.degraded.join(' | '),
      );
      const strict = await get(`${app.base}/ready?strict=1`);
      assert.equal(strict.status, 503);
      const strictBody = strict.json() as { status: string; reasons: string[] };
      assert.equal(strictBody.status, 'not_ready');
      assert.ok(strictBody.reasons.some((x) => x.includes('load_failed')));
      app.write('port: 2\n');
      await app.r.reload();
      assert.deepEqual((await get(`${app.base}/ready?strict=1`)).json(), { status: 'ready' });
    } finally {
      await app.cleanup();
    }
  });

  test('unknown paths 404, wrong methods 405 with Allow; bodies never echo input', async () => {
    const app = await httpApp();
    try {
      const nf = await get(`${app.base}/%3Cscript%3Eevil`);
      assert.equal(nf.status, 404);
      assert.deepEqual(nf.json(), { status: 'error', message: 'not found' });
      assert.ok(!nf.body.includes('evil'));
      for (const [path, method, allow] of [
        ['/reload', 'GET', 'POST'],
        ['/health', 'POST', 'GET, HEAD'],
        ['/metrics', 'DELETE', 'GET, HEAD'],
        ['/status', 'PUT', 'GET, HEAD'],
      ] as const) {
        const r = await get(`${app.base}${path}`, { method });
        assert.equal(r.status, 405, `${method} ${path}`);
        assert.equal(r.headers.get('allow'), allow);
        assert.deepEqual(r.json(), { status: 'error', message: 'method not allowed' });
      }
    } finally {
      await app.cleanup();
    }
  });
});

describe('POST /reload', () => {
  test('disabled by default: 403', async () => {
    const app = await httpApp();
    try {
      const r = await get(`${app.base}/reload`, { method: 'POST' });
      assert.equal(r.status, 403);
      assert.equal(r.json().status, 'error');
      assert.equal(app.r.generation, 0);
    } finally {
      await app.cleanup();
    }
  });

  test('enabled: 200 with the socket reply when ok, 500 with it otherwise', async () => {
    const app = await httpApp({ reload: true });
    try {
      app.write('port: 3\n');
      let r = await get(`${app.base}/reload`, { method: 'POST' });
      assert.equal(r.status, 200);
      const ok = r.json() as { status: string; results: { app: { trigger: string; generation: number } } };
      assert.equal(ok.status, 'ok');
      assert.equal(ok.results.app.trigger, 'http');
      assert.equal(ok.results.app.generation, 1);

      r = await get(`${app.base}/reload?unit=app`, { method: 'POST', body: 'ignored body' });
      assert.equal(r.status, 200);

      app.write('port: [\n');
      r = await get(`${app.base}/reload`, { method: 'POST' });
      assert.equal(r.status, 500);
      const bad = r.json() as { status: string; message: string; results: { app: { status: string } } };
      assert.equal(bad.status, 'error');
      assert.match(bad.message, /^app: load_failed: /);
      assert.equal(bad.results.app.status, 'load_failed');

      // An unknown unit is 404, as for GET /reload-status?unit=nope.
      r = await get(`${app.base}/reload?unit=nope`, { method: 'POST' });
      assert.equal(r.status, 404);
      assert.deepEqual(r.json(), { status: 'error', message: 'unknown unit: nope' });
    } finally {
      await app.cleanup();
    }
  });

  test('with a token: missing, wrong, or wrong-length bearer → 401; the right one → 200', async () => {
    const token = 's3cr3t-token-value';
    const app = await httpApp({ reload: true, token });
    try {
      for (const auth of [undefined, 'Bearer nope', `Bearer ${token}x`, `Basic ${token}`, 'Bearer', `Bearer ${token.slice(0, -1)}`]) {
        const r = await get(`${app.base}/reload`, { method: 'POST', ...(auth ? { headers: { authorization: auth } } : {}) });
        assert.equal(r.status, 401, String(auth));
        assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="reloadkit"');
        assert.ok(!r.body.includes(token.slice(0, 6)));
      }
      assert.equal(app.r.generation, 0, 'no pass ran');
      const r = await get(`${app.base}/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200);
      assert.equal(app.r.generation, 1);
      assert.ok(
        app.logger.entries.every((e) => !JSON.stringify(e).includes(token)),
        'the token is never logged',
      );
    } finally {
      await app.cleanup();
    }
  });
});

describe('binding', () => {
  const host = stubHost();

  test('a non-loopback address is refused unless allowed', async (t) => {
    const metrics = await createReloadMetrics();
    for (const address of ['0.0.0.0:0', ':0', '[::]:0', '10.1.2.3:9111', 'example.com:80']) {
      await assert.rejects(startAdminHttp({ address, host, metrics }), /not a loopback address; allow it explicitly/, address);
    }
    const h = await startAdminHttp({ address: '0.0.0.0:0', allowRemote: true, host, metrics });
    t.after(() => h.close());
    assert.ok(h.port > 0);
    assert.equal((await get(`http://127.0.0.1:${h.port}/health`)).status, 200);
  });

  test('loopback forms and address parsing', () => {
    for (const h of ['127.0.0.1', '127.9.8.7', '::1', 'localhost', 'LOCALHOST', '::ffff:127.0.0.1']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '', '::', '128.0.0.1', '1.127.0.0', 'localhost.example.com', '::2']) assert.ok(!isLoopback(h), h);
    assert.deepEqual(parseHttpAddress('127.0.0.1:9111'), { host: '127.0.0.1', port: 9111 });
    assert.deepEqual(parseHttpAddress('[::1]:80'), { host: '::1', port: 80 });
    for (const bad of ['9111', '127.0.0.1', '127.0.0.1:99999', '::1:80', 'host:port', '']) {
      assert.throws(() => parseHttpAddress(bad), /host:port/, bad);
    }
  });

  test('IPv6 loopback works; a port in use gives a clear error; an empty token is refused', async (t) => {
    const metrics = await createReloadMetrics();
    const v6 = await startAdminHttp({ address: '[::1]:0', host, metrics }).catch(() => null);
    if (v6) {
      t.after(() => v6.close());
      assert.match(v6.address, /^\[::1\]:\d+$/);
      assert.equal((await get(`http://${v6.address}/health`)).status, 200);
    }
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    try {
      const port = (blocker.address() as { port: number }).port;
      await assert.rejects(
        startAdminHttp({ address: `127.0.0.1:${port}`, host, metrics }),
        /cannot serve the admin HTTP endpoints on 127\.0\.0\.1:\d+: address already in use/,
      );
    } finally {
      blocker.close();
    }
    await assert.rejects(startAdminHttp({ address: '127.0.0.1:0', host, metrics, token: ' ' }), /non-empty/);
  });

  test('the library refuses to start with a remote address, and closes HTTP with the reloader', async () => {
    await assert.rejects(startApp({ http: '0.0.0.0:0' }), /not a loopback address/);
    const app = await httpApp();
    try {
      await app.r.close();
      await assert.rejects(fetch(`${app.base}/health`));
    } finally {
      await app.cleanup();
    }
  });
});
