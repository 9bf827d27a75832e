// Conformance of the admin socket with docs/protocol.md, driven with raw bytes over a
// real Unix socket against a reloader on a real YAML file.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { startAdminSocket } from '../../src/admin/socket.js';
import { ShutdownError } from '../../src/index.js';
import { command, gateHook, rawExchange, startApp, stubHost, tempDir, type AppFixture } from './support.js';
import { waitFor } from '../helpers/wait.js';

const INVALID = '{"status":"error","message":"invalid input"}\n';

/** reloadkit_reload_requests_total{trigger="socket"}: socket requests that reached the unit's queue. */
async function socketRequests(registry: Registry): Promise<number> {
  const metric = registry.getSingleMetric('reloadkit_reload_requests_total');
  if (!metric) throw new Error('no reloadkit_reload_requests_total in the registry');
  const { values } = await metric.get();
  return values.find((v) => v.labels.unit === 'app' && v.labels.trigger === 'socket')?.value ?? 0;
}

describe('the request/reply table of docs/protocol.md', () => {
  let app: AppFixture;
  before(async () => {
    app = await startApp();
  });
  after(() => app.cleanup());

  test('status: exactly the documented fields', async () => {
    const reply = await command(app.socketPath, 'status');
    assert.deepEqual(Object.keys(reply), ['status', 'uptime_secs', 'targets', 'units', 'version', 'degraded']);
    assert.equal(reply.status, 'ok');
    assert.ok(Number.isInteger(reply.uptime_secs) && (reply.uptime_secs as number) >= 0);
    assert.equal(reply.targets, 1);
    const units = reply.units as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(units), ['app']);
    assert.deepEqual(Object.keys(units.app!), ['generation', 'last_result', 'pending_restart']);
    assert.equal(units.app!.generation, app.r.generation);
    assert.deepEqual(units.app!.pending_restart, []);
  });

  test('reload: runs a pass, waits, and returns the real result', async () => {
    const gen = app.r.generation;
    app.write('port: 8080\nlevel: debug\n');
    const reply = await command(app.socketPath, 'reload');
    assert.deepEqual(Object.keys(reply), ['status', 'results']);
    assert.equal(reply.status, 'ok');
    const res = (reply.results as Record<string, Record<string, unknown>>).app!;
    assert.equal(res.status, 'full_success');
    assert.equal(res.trigger, 'socket');
    assert.equal(res.generation, gen + 1);
    assert.deepEqual(res.changed, ['level']);
    assert.deepEqual(app.r.current(), { port: 8080, level: 'debug' });
  });

  test('reload <unit>: the same for one unit', async () => {
    const gen = app.r.generation;
    const reply = await command(app.socketPath, 'reload app');
    assert.equal(reply.status, 'ok');
    assert.equal((reply.results as Record<string, { generation: number }>).app!.generation, gen + 1);
  });

  test('reload <unknown unit>: unknown unit, name sanitised', async () => {
    assert.deepEqual(await command(app.socketPath, 'reload nope'), { status: 'error', message: 'unknown unit: nope' });
    const long = 'x'.repeat(100);
    assert.deepEqual(await command(app.socketPath, `reload ${long}`), { status: 'error', message: `unknown unit: ${'x'.repeat(32)}` });
    assert.deepEqual(await command(app.socketPath, 'reload n\u00e9\u0007'), { status: 'error', message: 'unknown unit: n??' });
  });

  test('RELOAD: the Go text protocol answers OK as soon as queued', async () => {
    const gen = app.r.generation;
    const { text } = await rawExchange(app.socketPath, 'RELOAD\n');
    assert.equal(text, 'OK\n');
    await waitFor(() => app.r.generation === gen + 1, 'the queued pass');
    assert.equal(app.r.lastResult()!.trigger, 'socket');
  });

  test("RELOAD <unit> : OK once that unit's pass is queued; an unknown unit is ERROR: unknown unit, sanitised", async () => {
    const gen = app.r.generation;
    app.write('port: 8081\nlevel: info\n');
    assert.equal((await rawExchange(app.socketPath, 'RELOAD app\n')).text, 'OK\n');
    await waitFor(() => app.r.generation === gen + 1, 'the queued pass of app');
    assert.equal(app.r.lastResult()!.trigger, 'socket');
    assert.deepEqual(app.r.current(), { port: 8081, level: 'info' });

    assert.equal((await rawExchange(app.socketPath, 'RELOAD nope\n')).text, 'ERROR: unknown unit: nope\n');
    assert.equal((await rawExchange(app.socketPath, `RELOAD ${'y'.repeat(100)}\n`)).text, `ERROR: unknown unit: ${'y'.repeat(32)}\n`);
    assert.equal((await rawExchange(app.socketPath, 'RELOAD n\u00e9\u0007\n')).text, 'ERROR: unknown unit: n??\n');
    // An unknown unit queues nothing. A pass queued by mistake would start at once (the
    // queue is idle), so the next reload, which waits for a pass that starts after it,
    // would be a generation later than this one.
    const next = (await command(app.socketPath, 'reload app')) as { results: { app: { generation: number } } };
    assert.equal(next.results.app.generation, gen + 2);
    assert.equal(app.r.generation, gen + 2);
  });

  test('empty line, blank line and bare newline → invalid input', async () => {
    for (const payload of ['\n', '   \n', '\r\n', '\t\n']) {
      assert.equal((await rawExchange(app.socketPath, payload)).text, INVALID, JSON.stringify(payload));
    }
  });

  test('invalid UTF-8 → invalid input', async () => {
    for (const bytes of [
      [0xff, 0xfe, 0x0a],
      [0x73, 0x74, 0xc3, 0x28, 0x0a],
      [0xed, 0xa0, 0x80, 0x0a],
      [0xc0, 0xaf, 0x0a],
    ]) {
      assert.equal((await rawExchange(app.socketPath, Buffer.from(bytes))).text, INVALID, String(bytes));
    }
  });

  test('4096 bytes is a line; 4097 is invalid input', async () => {
    const at = await command(app.socketPath, 'a'.repeat(4096));
    assert.deepEqual(at, { status: 'error', message: `unknown command: ${'a'.repeat(32)}` });
    assert.equal((await rawExchange(app.socketPath, `${'a'.repeat(4097)}\n`)).text, INVALID);
    // Split across writes, the limit still holds, and a split line is still one line.
    const split = await rawExchange(app.socketPath, ['a'.repeat(3000), 'a'.repeat(1097), '\n']);
    assert.equal(split.text, INVALID);
    assert.equal((await rawExchange(app.socketPath, ['sta', 'tu', 's\n'])).text.startsWith('{"status":"ok"'), true);
  });

  test('a 1 MiB line is answered invalid input at once, without reading it all', async () => {
    const { text, ms } = await rawExchange(app.socketPath, Buffer.alloc(1024 * 1024, 0x61));
    assert.equal(text, INVALID);
    assert.ok(ms < 4000, `answered after ${ms} ms, before the 5 s deadline`);
    assert.equal((await command(app.socketPath, 'status')).status, 'ok');
  });

  test('anything else → unknown command: <word>, sanitised to 32 printable ASCII characters', async () => {
    const cases: [string, string][] = [
      ['hello', 'hello'],
      ['Status', 'Status'],
      ['RELOAD now please', 'RELOAD now please'],
      ['ok', 'ok'],
      ['status please', 'status please'],
      ['reload a b', 'reload a b'],
      ['foo bar baz', 'foo'],
      ['<script>alert(1)</script>', '<script>alert(1)</script>'],
      ['\u00e9t\u00e9', '?t?'],
      ['a\u0000b', 'a?b'],
      ['q'.repeat(50), 'q'.repeat(32)],
      ['"quoted"', '"quoted"'],
    ];
    for (const [line, word] of cases) {
      assert.deepEqual(await command(app.socketPath, line), { status: 'error', message: `unknown command: ${word}` }, line);
    }
  });

  test('CRLF clients and surrounding spaces are accepted', async () => {
    assert.equal((await rawExchange(app.socketPath, 'status\r\n')).text.startsWith('{"status":"ok","uptime_secs"'), true);
    assert.equal((await command(app.socketPath, '  status  ')).status, 'ok');
  });

  test('the end of input ends the line (printf status | nc -U)', async () => {
    const { text } = await rawExchange(app.socketPath, 'status', { halfClose: true });
    assert.match(text, /^\{"status":"ok","uptime_secs":\d+,/);
    assert.equal((await rawExchange(app.socketPath, null, { halfClose: true })).text, INVALID);
  });

  test('half-closed connection: line, then shutdown of the write side → still answered (reload waits)', async () => {
    const gen = app.r.generation;
    const { text } = await rawExchange(app.socketPath, 'reload\n', { halfClose: true });
    const reply = JSON.parse(text) as { status: string; results: { app: { generation: number } } };
    assert.equal(reply.status, 'ok');
    assert.equal(reply.results.app.generation, gen + 1);
  });

  test('only the first line counts; the server closes after one reply', async () => {
    const { text } = await rawExchange(app.socketPath, 'hello\nstatus\nstatus\n');
    assert.equal(text, '{"status":"error","message":"unknown command: hello"}\n');
  });
});

describe('reload replies for failed passes', () => {
  test('missing config file: load_failed, old config kept, generation unchanged', async () => {
    const app = await startApp();
    try {
      unlinkSync(app.configPath);
      const reply = (await command(app.socketPath, 'reload')) as { status: string; message: string; results: { app: Record<string, unknown> } };
      assert.equal(reply.status, 'error');
      assert.match(reply.message, /^app: load_failed: .+/);
      assert.equal(reply.results.app.status, 'load_failed');
      assert.equal(typeof reply.results.app.load_error, 'string');
      assert.ok(reply.message.endsWith(reply.results.app.load_error as string));
      assert.equal(reply.results.app.generation, 0);
      assert.deepEqual(app.r.current(), { port: 8080, level: 'info' });
    } finally {
      await app.cleanup();
    }
  });

  test('broken YAML: load_failed with line information', async () => {
    const app = await startApp();
    try {
      app.write('port: [8080\nlevel: info\n');
      const reply = (await command(app.socketPath, 'reload app')) as { status: string; message: string };
      assert.equal(reply.status, 'error');
      assert.match(reply.message, /^app: load_failed: .*config\.yaml:\d+:\d+: /);
    } finally {
      await app.cleanup();
    }
  });

  test('a failing check: validation_failed naming the hook; a failing apply: apply_failed', async () => {
    let mode: 'check' | 'apply' = 'check';
    const app = await startApp({
      hooks: [
        {
          name: 'db',
          check() {
            if (mode === 'check') throw new Error('pool too small');
          },
          apply() {
            if (mode === 'apply') throw new Error('cannot reconnect');
          },
        },
      ],
    });
    try {
      app.write('port: 8081\n');
      let reply = (await command(app.socketPath, 'reload')) as { status: string; message: string };
      assert.equal(reply.status, 'error');
      assert.equal(reply.message, 'app: validation_failed: db: pool too small');
      mode = 'apply';
      reply = (await command(app.socketPath, 'reload')) as { status: string; message: string };
      assert.equal(reply.message, 'app: apply_failed: db: cannot reconnect');
    } finally {
      await app.cleanup();
    }
  });
});

describe('concurrency and shutdown', () => {
  test('reload waits while another runs, and answers with a pass that started after it', async () => {
    const gate = gateHook();
    const registry = new Registry();
    const app = await startApp({ hooks: [gate], registry });
    try {
      gate.hold();
      const first = command(app.socketPath, 'reload');
      await waitFor(() => gate.entered === 1, 'the first pass to block in apply');
      app.write('port: 9090\n');
      const sentAt = new Date().toISOString();
      let secondDone = false;
      const second = command(app.socketPath, 'reload').then((r) => {
        secondDone = true;
        return r;
      });
      // The second request is queued behind the blocked pass (the request counter says it
      // arrived), and not answered early: not even after a round trip on another connection.
      await waitFor(async () => (await socketRequests(registry)) === 2, 'the second request to reach the queue');
      assert.equal((await command(app.socketPath, 'status')).status, 'ok');
      assert.equal(secondDone, false);
      gate.release();
      const [a, b] = (await Promise.all([first, second])) as { results: { app: { generation: number; started_at: string; changed: string[] } } }[];
      assert.equal(a!.results.app.generation, 1);
      assert.equal(b!.results.app.generation, 2);
      assert.ok(b!.results.app.started_at >= sentAt);
      assert.deepEqual(app.r.current(), { port: 9090 });
      assert.equal(gate.runs, 2);
    } finally {
      gate.release();
      await app.cleanup();
    }
  });

  test('a client that disconnects while its reload runs disturbs nothing', async () => {
    const gate = gateHook();
    const app = await startApp({ hooks: [gate] });
    try {
      gate.hold();
      const client = connect({ path: app.socketPath });
      client.on('error', () => {});
      client.write('reload\n');
      await waitFor(() => gate.entered === 1, 'the pass to start');
      client.destroy();
      assert.equal((await command(app.socketPath, 'status')).status, 'ok');
      gate.release();
      await waitFor(() => app.r.generation === 1, 'the pass to commit');
      assert.equal((await command(app.socketPath, 'reload')).status, 'ok');
    } finally {
      gate.release();
      await app.cleanup();
    }
  });

  test('waiters answered at shutdown get "shutting down"; the socket file is removed', async () => {
    const gate = gateHook();
    const registry = new Registry();
    const app = await startApp({ hooks: [gate], registry });
    try {
      gate.hold();
      const running = command(app.socketPath, 'reload');
      await waitFor(() => gate.entered === 1, 'the first pass to block');
      const pending = command(app.socketPath, 'reload');
      await waitFor(async () => (await socketRequests(registry)) === 2, 'the second request to be queued');
      await app.cleanup();
      assert.deepEqual(await running, { status: 'error', message: 'shutting down' });
      assert.deepEqual(await pending, { status: 'error', message: 'shutting down' });
      await assert.rejects(rawExchange(app.socketPath, 'status\n'), /ENOENT/);
    } finally {
      gate.release();
      await app.cleanup();
    }
  });

  test('RELOAD that cannot be queued → ERROR: <reason>', async () => {
    const { dir, cleanup } = tempDir();
    const host = stubHost({
      reload: () => Promise.reject(new ShutdownError()),
      enqueue: () => {
        throw new ShutdownError();
      },
    });
    const sock = await startAdminSocket({ path: `${dir}/a.sock`, host });
    try {
      assert.equal((await rawExchange(`${dir}/a.sock`, 'RELOAD\n')).text, 'ERROR: shutting down\n');
      assert.deepEqual(await command(`${dir}/a.sock`, 'reload'), { status: 'error', message: 'shutting down' });
    } finally {
      await sock.close();
      cleanup();
    }
  });
});

describe('deadline', () => {
  test('a client that sends nothing (or no newline) is answered within ~5 s; others are served meanwhile', async () => {
    const app = await startApp();
    try {
      const silent = rawExchange(app.socketPath, null, { timeoutMs: 30_000 });
      const partial = rawExchange(app.socketPath, 'stat', { timeoutMs: 30_000 });
      // While both wait, the server answers others.
      for (let i = 0; i < 5; i++) assert.equal((await command(app.socketPath, 'status')).status, 'ok');
      const [a, b] = await Promise.all([silent, partial]);
      for (const x of [a, b]) {
        assert.equal(x.text, INVALID);
        assert.ok(x.ms >= 4500 && x.ms < 15_000, `answered after ${x.ms} ms`);
      }
      assert.equal((await command(app.socketPath, 'status')).status, 'ok');
    } finally {
      await app.cleanup();
    }
  });
});

test('socket: "" disables the socket; the reloader works without it', async () => {
  const app = await startApp({ socket: '' });
  try {
    await assert.rejects(rawExchange(app.socketPath, 'status\n'), /ENOENT/);
    app.write('port: 1\n');
    assert.equal((await app.r.reload()).status, 'full_success');
  } finally {
    await app.cleanup();
  }
  rmSync(app.dir, { recursive: true, force: true });
});
