import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { createReloader, onChange, ShutdownError, type Hook, type LoadContext, type LoadedConfig } from '../../src/index.js';
import { deferred, MemorySource } from '../helpers/memory-source.js';

const schema = z.object({
  server: z.object({ port: z.number().int(), host: z.string().default('127.0.0.1') }),
  log_level: z.enum(['debug', 'info', 'warn']).default('info'),
  backends: z.array(z.object({ name: z.string(), url: z.string() })).default([]),
  password: z.string().optional(),
});
type Cfg = z.infer<typeof schema>;
const base = { server: { port: 8080 }, log_level: 'info', backends: [{ name: 'a', url: 'http://a' }] };

function recordingHook(name: string, log: string[], behaviour: 'ok' | 'skip' | 'fail' | 'throw' = 'ok'): Hook<unknown> {
  return {
    name,
    apply: () => {
      log.push(name);
      if (behaviour === 'skip') return 'skipped';
      if (behaviour === 'fail') return 'failed';
      if (behaviour === 'throw') throw new Error(`${name} exploded`);
      return undefined;
    },
  };
}

describe('start', () => {
  test('initial load becomes generation 0 without running hooks; lastResult is null', async (t) => {
    const log: string[] = [];
    const r = createReloader({ source: new MemorySource(base), schema, hooks: [recordingHook('h', log)] });
    t.after(() => r.close());
    await r.start();
    assert.equal(r.generation, 0);
    assert.equal(r.current().server.port, 8080);
    assert.equal(r.lastResult(), null);
    assert.deepEqual(log, []);
  });

  test('invalid initial config rejects with every issue and its path', async (t) => {
    const r = createReloader({ source: new MemorySource({ server: { port: 'x' }, log_level: 'loud' }), schema });
    t.after(() => r.close());
    await assert.rejects(r.start(), (err: Error) => {
      assert.match(err.message, /server\.port/);
      assert.match(err.message, /log_level/);
      return true;
    });
  });

  test('a schema failure on reload names the source and every field', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    src.set({ server: { port: 'x' }, log_level: 'loud' });
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.match(res.load_error!, /^memory: schema validation failed: /);
    assert.match(res.load_error!, /server\.port: /);
    assert.match(res.load_error!, /log_level: /);
  });
});

describe('start twice', () => {
  test('two concurrent start() calls: one load, both resolve, generation 0, one signal listener', async () => {
    const src = new MemorySource(base);
    const gate = deferred();
    src.gate = gate.promise; // holds the first load until both calls are in
    const before = process.listenerCount('SIGHUP');
    const r = createReloader({ source: src, schema, triggers: { signal: true } });
    try {
      let settled = 0;
      const a = r.start().then(() => void (settled += 1));
      const b = r.start().then(() => void (settled += 1));
      await new Promise((res) => setImmediate(res));
      assert.equal(src.loads, 1, 'the second call did not start a load of its own');
      assert.equal(settled, 0, 'neither resolved while the load is held');
      src.gate = null;
      gate.resolve();
      await Promise.all([a, b]);
      assert.equal(settled, 2);
      assert.equal(src.loads, 1);
      assert.equal(r.generation, 0);
      assert.equal(r.lastResult(), null);
      assert.deepEqual(r.history(), []);
      assert.equal(r.current().server.port, 8080);
      assert.equal(process.listenerCount('SIGHUP'), before + 1, 'triggers started once');
    } finally {
      await r.close();
    }
    assert.equal(process.listenerCount('SIGHUP'), before);
  });

  test('start() again after it resolved: resolves, no second load, nothing changes', async (t) => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const r = createReloader({ source: src, schema, hooks: [recordingHook('h', log)] });
    t.after(() => r.close());
    await r.start();
    const first = r.current();
    src.set({ ...base, server: { port: 1 } }); // a second load would see this
    await r.start();
    assert.equal(src.loads, 1);
    assert.equal(r.generation, 0);
    assert.equal(r.current(), first, 'the same snapshot object');
    assert.equal(r.current().server.port, 8080);
    assert.equal(r.lastResult(), null);
    assert.deepEqual(log, []);
    // A reload afterwards is generation 1, not 2: neither start() call counted as a pass.
    assert.equal((await r.reload()).generation, 1);
  });
});

describe('statuses', () => {
  test('full success moves generation 1 then 2; skipped counts as success', async (t) => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const r = createReloader({ source: src, schema, hooks: [recordingHook('a', log), recordingHook('b', log, 'skip')] });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'debug' });
    const r1 = await r.reload();
    assert.equal(r1.status, 'full_success');
    assert.equal(r1.generation, 1);
    assert.deepEqual(r1.changed, ['log_level']);
    assert.deepEqual(
      r1.outcomes.map((o) => [o.name, o.status]),
      [
        ['a', 'applied'],
        ['b', 'skipped'],
      ],
    );
    const r2 = await r.reload();
    assert.equal(r2.status, 'full_success');
    assert.equal(r2.generation, 2);
    assert.deepEqual(r2.changed, []);
  });

  test('partial apply: every apply runs once, swapped, generation 1, one failed outcome', async (t) => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const r = createReloader({
      source: src,
      schema,
      hooks: [recordingHook('a', log), recordingHook('b', log, 'throw'), recordingHook('c', log)],
    });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'partial_applied');
    assert.equal(res.generation, 1);
    assert.deepEqual(log, ['a', 'b', 'c']);
    assert.equal(res.outcomes.filter((o) => o.status === 'failed').length, 1);
    assert.match(res.outcomes[1]!.error!, /b exploded/);
    assert.equal(r.current().log_level, 'warn');
  });

  test('a hook returning failed without an error is a failure, not a success', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema, hooks: [recordingHook('only', [], 'fail')] });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'apply_failed');
    assert.equal(res.generation, 0);
    assert.equal(r.current().log_level, 'info');
    assert.ok(res.outcomes[0]!.error);
  });

  test('validation failure collects every check error and runs no apply', async (t) => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const refuse = (name: string): Hook<Cfg> => ({
      name,
      check: () => {
        throw new Error(`${name} says no`);
      },
      apply: () => {
        log.push(name);
      },
    });
    const r = createReloader({ source: src, schema, hooks: [refuse('x'), refuse('y')] });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.equal(res.generation, 0);
    assert.deepEqual(
      res.outcomes.map((o) => o.name),
      ['x', 'y'],
    );
    assert.match(res.error!, /x says no.*y says no/);
    assert.deepEqual(log, []);
  });

  test('load failure keeps the old snapshot and generation', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    src.fail('file vanished');
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.match(res.load_error!, /file vanished/);
    assert.equal(r.generation, 0);
    assert.equal(r.current().server.port, 8080);
  });

  test('a source value that contains itself is a load failure naming where, never a stack overflow', async (t) => {
    const bad = structuredClone(base) as { server: Record<string, unknown> };
    bad.server.self = bad;
    const first = createReloader({ source: new MemorySource(bad), schema, logger: false });
    await assert.rejects(first.start(), { code: 'ERR_LOAD', message: /the config contains itself at server\.self/ });
    await first.close();

    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    const loop: unknown[] = [];
    loop.push(loop);
    src.set({ ...base, backends: loop });
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.match(res.load_error!, /the config contains itself at backends\.0/);
    assert.equal(r.generation, 0);
    assert.equal(r.current().server.port, 8080);
  });

  test('subscribe() with something other than two functions is refused with ERR_OPTIONS', async (t) => {
    const r = createReloader({ source: new MemorySource(base), schema });
    t.after(() => r.close());
    await r.start();
    assert.throws(() => r.subscribe(42 as never, () => {}), { code: 'ERR_OPTIONS', message: /two functions/ });
    assert.throws(() => r.subscribe((c) => c.server, 'fn' as never), { code: 'ERR_OPTIONS' });
  });

  test('a hung apply is failed at its timeout and its signal is aborted', async (t) => {
    const src = new MemorySource(base);
    let aborted = false;
    const r = createReloader({
      source: src,
      schema,
      applyTimeoutMs: 50,
      hooks: [
        {
          name: 'hang',
          apply: (ctx) =>
            new Promise<void>(() => {
              ctx.signal.addEventListener('abort', () => {
                aborted = true;
              });
            }),
        },
        { name: 'fine', apply: () => {} },
      ],
    });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'partial_applied');
    assert.match(res.outcomes[0]!.error!, /timed out after 50 ms/);
    assert.equal(aborted, true);
  });
});

describe('close', () => {
  test('close before start and close twice are safe; requests after close are refused', async (t) => {
    const r = createReloader({ source: new MemorySource(base), schema });
    t.after(() => r.close());
    await r.close();
    await r.close();
    await assert.rejects(r.reload(), ShutdownError);
  });

  test('a started then closed reloader refuses reload() with a clear error', async (t) => {
    const r = createReloader({ name: 'app', source: new MemorySource(base), schema });
    t.after(() => r.close());
    await r.start();
    await r.close();
    await assert.rejects(r.reload(), (err: Error) => err instanceof ShutdownError && /unit "app" is closed; reload refused/.test(err.message));
  });

  test('close() during a start whose source hangs aborts the load: close resolves, start rejects', async (t) => {
    const hanging = {
      description: 'a source that never answers on its own',
      // Honours the abort, as the built-in sources do; otherwise never settles.
      load: (ctx: LoadContext) => new Promise<LoadedConfig>((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
    };
    const r = createReloader({ source: hanging, schema });
    t.after(() => r.close());
    const starting = r.start();
    starting.catch(() => {});
    await new Promise((res) => setImmediate(res));
    await r.close();
    await assert.rejects(starting, /closed during start/);
    assert.equal(r.ready().ok, false);
  });

  test('close() while the triggers are still starting: not ready from the moment close() begins, and a second close() is a no-op', async (t) => {
    // The second load is the watcher's recheck, which runs while start() sets up triggers: hold it there.
    const src = new MemorySource(base);
    const secondLoad = deferred();
    const release = deferred();
    const source = {
      description: src.description,
      watchSpecs: () => [],
      load: async (ctx: LoadContext) => {
        if (src.loads === 1) {
          secondLoad.resolve();
          await release.promise;
        }
        return src.load(ctx);
      },
    };
    const r = createReloader({ source, schema, triggers: { watch: true } });
    t.after(() => r.close());
    const starting = r.start();
    await secondLoad.promise;
    const closing = r.close();
    assert.equal(r.ready().ok, false, 'ready() must not say ok once close() began');
    release.resolve();
    await starting;
    // start() has finished; close() is still tearing down: still not ready, and close() again is safe.
    assert.deepEqual(r.ready().reasons.slice(0, 1), ['shutting down']);
    await Promise.all([closing, r.close()]);
    assert.equal(r.ready().ok, false);
    await assert.rejects(r.reload(), ShutdownError);
  });

  test('a pending pass at close answers its waiters with a shutdown error', async (t) => {
    const src = new MemorySource(base);
    const gate = deferred();
    const r = createReloader({
      source: src,
      schema,
      hooks: [{ name: 'slow', apply: () => gate.promise }],
    });
    t.after(() => r.close());
    await r.start();
    const running = r.reload();
    const pending = r.reload();
    await new Promise((res) => setImmediate(res));
    const closing = r.close();
    gate.resolve();
    await assert.rejects(pending, ShutdownError);
    // The running pass's hook finished despite the abort: the reload happened, and says so.
    assert.equal((await running).status, 'full_success');
    await closing;
    assert.equal(r.generation, 1);
  });
});

describe('shutdown', () => {
  test('a pass cut short by close() is not recorded as a failed reload', async (t) => {
    const src = new MemorySource(base);
    const seen: string[] = [];
    const r = createReloader({
      source: src,
      schema,
      applyTimeoutMs: 60_000,
      // Holds the pass until close() aborts it, then fails because of the abort.
      hooks: [{ name: 'held', apply: (ctx) => new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))) }],
    });
    t.after(() => r.close());
    await r.start();
    r.subscribe(
      (c) => c,
      () => seen.push('committed'),
    );
    src.set({ ...base, log_level: 'warn' });
    const running = r.reload();
    while (src.loads < 2) await new Promise((res) => setImmediate(res));
    await new Promise((res) => setImmediate(res));
    await r.close();
    await assert.rejects(running, ShutdownError);
    assert.equal(r.lastResult(), null, 'no result recorded for the interrupted pass');
    assert.deepEqual(r.history(), []);
    assert.deepEqual(seen, []);
    assert.equal(r.generation, 0);
  });

  test('a pass that committed while close() aborted it is reported as it ended, not as a shutdown', async (t) => {
    const src = new MemorySource(base);
    const committed: number[] = [];
    const r = createReloader({
      source: src,
      schema,
      applyTimeoutMs: 60_000,
      hooks: [
        { name: 'quick', apply: () => {} },
        // Held until close() aborts it; fails because of the abort, after 'quick' applied.
        { name: 'held', apply: (ctx) => new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))) },
      ],
    });
    t.after(() => r.close());
    await r.start();
    r.subscribe(
      (c) => c,
      (_c, _o, res) => committed.push(res.generation),
    );
    src.set({ ...base, log_level: 'warn' });
    const running = r.reload();
    while (src.loads < 2) await new Promise((res) => setImmediate(res));
    await new Promise((res) => setImmediate(res));
    await r.close();
    const result = await running;
    assert.equal(result.status, 'partial_applied');
    assert.deepEqual(
      result.outcomes.map((o) => [o.name, o.status]),
      [
        ['quick', 'applied'],
        ['held', 'failed'],
      ],
    );
    // What the caller is told is what the reloader holds.
    assert.equal(r.generation, 1);
    assert.equal(r.current().log_level, 'warn');
    assert.deepEqual(r.lastResult(), result);
    assert.deepEqual(committed, [1]);
  });

  test('ready() reports not ready once close() has begun', async (t) => {
    const r = createReloader({ source: new MemorySource(base), schema });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.ready(), { ok: true, reasons: [], degraded: [] });
    await r.close();
    const ready = r.ready();
    assert.equal(ready.ok, false);
    assert.match(ready.reasons.join(' '), /shutting down/);
  });

  test('a trigger that fails to start leaves no other trigger running', async () => {
    const blocker = createServer();
    await new Promise<void>((res) => blocker.listen(0, '127.0.0.1', res));
    const port = (blocker.address() as AddressInfo).port;
    const before = process.listenerCount('SIGHUP');
    const r = createReloader({ source: new MemorySource(base), schema, triggers: { signal: true, http: `127.0.0.1:${port}` } });
    try {
      await assert.rejects(r.start(), /cannot serve the admin HTTP endpoints/);
      assert.equal(process.listenerCount('SIGHUP'), before, 'the SIGHUP handler was removed');
    } finally {
      await r.close();
      blocker.close();
    }
  });
});

describe('restart-required', () => {
  const restartSchema = z.object({ server: z.object({ port: z.number() }), x: z.number().default(0) });

  test('warn: listed, still full_success, and the warning persists until restart', async (t) => {
    const src = new MemorySource({ server: { port: 80 } });
    const r = createReloader({ source: src, schema: restartSchema, restartRequired: { paths: ['server.port'] } });
    t.after(() => r.close());
    await r.start();
    src.set({ server: { port: 81 } });
    const a = await r.reload();
    assert.equal(a.status, 'full_success');
    assert.deepEqual(a.requires_restart, ['server.port']);
    src.set({ server: { port: 81 }, x: 1 });
    const b = await r.reload();
    // Compared with the boot config, not the last applied one: still needs a restart.
    assert.deepEqual(b.requires_restart, ['server.port']);
    assert.deepEqual(r.pendingRestart(), ['server.port']);
    src.set({ server: { port: 80 }, x: 1 });
    const c = await r.reload();
    assert.deepEqual(c.requires_restart, []);
    assert.deepEqual(r.pendingRestart(), []);
  });

  test('reject: validation_failed, nothing applied, generation unchanged', async (t) => {
    const src = new MemorySource({ server: { port: 80 } });
    let applied = 0;
    const r = createReloader({
      source: src,
      schema: restartSchema,
      restartRequired: { paths: ['server.*'], policy: 'reject' },
      hooks: [{ name: 'h', apply: () => void applied++ }],
    });
    t.after(() => r.close());
    await r.start();
    src.set({ server: { port: 81 } });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.deepEqual(res.requires_restart, ['server.port']);
    assert.match(res.error!, /server\.port/);
    assert.equal(applied, 0);
    assert.equal(r.generation, 0);
  });

  // "The server changed" (host or port differ): each case starts from the
  // same boot config, { host: 127.0.0.1 (the schema's default), port: 8080 }.
  const serverCases: Array<{ name: string; server: Record<string, unknown>; restart: string[] }> = [
    { name: 'same server, another setting changed', server: { port: 8080 }, restart: [] },
    { name: 'same server, the default host now written out', server: { host: '127.0.0.1', port: 8080 }, restart: [] },
    { name: 'host changed', server: { host: '0.0.0.0', port: 8080 }, restart: ['server.host'] },
    { name: 'port changed', server: { port: 9090 }, restart: ['server.port'] },
    { name: 'host and port changed', server: { host: '::', port: 9090 }, restart: ['server.host', 'server.port'] },
  ];
  for (const c of serverCases) {
    test(`server changed? ${c.name}: requires_restart ${JSON.stringify(c.restart)}, onChange('server') ${c.restart.length > 0 ? 'called once' : 'not called'}`, async (t) => {
      const src = new MemorySource({ ...base, server: { port: 8080 } });
      const calls: Array<{ next: unknown; prev: unknown }> = [];
      const r = createReloader({
        source: src,
        schema,
        restartRequired: { paths: ['server.host', 'server.port'] },
        hooks: [onChange('server', (next, prev) => void calls.push({ next, prev }))],
      });
      t.after(() => r.close());
      await r.start();
      src.set({ ...base, log_level: 'debug', server: c.server });
      const res = await r.reload();
      assert.equal(res.status, 'full_success', res.error);
      assert.equal(res.generation, 1);
      assert.deepEqual(res.requires_restart, c.restart);
      assert.deepEqual(r.pendingRestart(), c.restart);
      // onChange is after-commit work: it is not an outcome, its calls say whether it ran.
      assert.deepEqual(res.outcomes, []);
      if (c.restart.length === 0) {
        assert.deepEqual(calls, []);
        assert.deepEqual(res.changed, ['log_level']);
      } else {
        assert.deepEqual(calls, [{ next: { host: '127.0.0.1', port: 8080, ...c.server }, prev: { host: '127.0.0.1', port: 8080 } }]);
        assert.deepEqual([...res.changed].sort(), ['log_level', ...c.restart].sort());
      }
      // Policy warn: the snapshot holds the new server even when a restart is needed.
      assert.deepEqual(r.current().server, { host: '127.0.0.1', port: 8080, ...c.server });
      // The same content again (an explicit reload): the server slice did not change from
      // the config in effect, so onChange does not fire again; the restart stays pending.
      const again = await r.reload();
      assert.deepEqual(again.requires_restart, c.restart);
      assert.equal(calls.length, c.restart.length > 0 ? 1 : 0);
    });
  }
});

describe('rollback policy', () => {
  test('applied hooks are rolled back in reverse order, old snapshot kept', async (t) => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const hook = (name: string, fail = false): Hook<Cfg> => ({
      name,
      apply: () => {
        log.push(`apply ${name}`);
        if (fail) throw new Error('nope');
      },
      rollback: () => {
        log.push(`rollback ${name}`);
      },
    });
    const r = createReloader({ source: src, schema, onApplyFailure: 'rollback', hooks: [hook('a'), hook('b'), hook('c', true)] });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'debug' });
    const res = await r.reload();
    assert.equal(res.status, 'rolled_back');
    assert.equal(res.generation, 0);
    assert.equal(r.current().log_level, 'info');
    assert.deepEqual(log, ['apply a', 'apply b', 'apply c', 'rollback b', 'rollback a']);
  });

  test('a hook without rollback is reported as not undone', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({
      source: src,
      schema,
      onApplyFailure: 'rollback',
      hooks: [
        { name: 'a', apply: () => {} },
        { name: 'b', apply: () => 'failed' as const },
      ],
    });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'debug' });
    const res = await r.reload();
    assert.equal(res.status, 'rolled_back');
    assert.match(res.outcomes[0]!.error!, /no rollback defined/);
  });
});

describe('unchanged', () => {
  test('a watch-triggered pass with the same content runs no hook; an explicit reload always runs', async (t) => {
    const src = new MemorySource(base);
    let applies = 0;
    const r = createReloader({ source: src, schema, hooks: [{ name: 'h', apply: () => void applies++ }] });
    t.after(() => r.close());
    await r.start();
    // Internals: the watch trigger goes through the same queue with trigger 'watch'.
    const watched = await r.reload({ trigger: 'watch' });
    assert.equal(watched.status, 'unchanged');
    assert.equal(applies, 0);
    assert.equal(watched.generation, 0);
    assert.equal(r.lastResult()?.status, 'unchanged');
    const explicit = await r.reload();
    assert.equal(explicit.status, 'full_success');
    assert.equal(applies, 1);
  });
});

describe('coalescing', () => {
  test('1 running + 20 requests: exactly 2 passes, 19 coalesced, each answered by a pass that started after it', async (t) => {
    const src = new MemorySource(base);
    const gate = deferred();
    let applies = 0;
    const r = createReloader({
      source: src,
      schema,
      hooks: [
        {
          name: 'slow',
          apply: async () => {
            applies += 1;
            if (applies === 1) await gate.promise;
          },
        },
      ],
    });
    t.after(() => r.close());
    await r.start();
    const first = r.reload();
    await new Promise((res) => setImmediate(res));
    src.set({ ...base, log_level: 'warn' }); // arrives after the first pass read its source
    const rest = Array.from({ length: 20 }, () => r.reload());
    gate.resolve();
    const [a, ...others] = await Promise.all([first, ...rest]);
    assert.equal(applies, 2);
    assert.equal(a!.coalesced, 0);
    assert.equal(a!.generation, 1);
    for (const o of others) {
      assert.equal(o, others[0]);
      assert.equal(o.generation, 2);
      assert.equal(o.coalesced, 19);
    }
    // The second pass read the source after the edit: it saw the newest content.
    assert.equal(r.current().log_level, 'warn');
  });

  test('concurrent reloads with different contents end on one of their values', async () => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema, hooks: [{ name: 'h', apply: () => new Promise((res) => setTimeout(res, 2)) }] });
    await r.start();
    const ports = Array.from({ length: 30 }, (_, i) => 9000 + i);
    await Promise.all(
      ports.map(async (port, i) => {
        await new Promise((res) => setTimeout(res, i % 7));
        src.set({ ...base, server: { port } });
        return r.reload();
      }),
    );
    assert.ok(ports.includes(r.current().server.port));
    // The last write happened before the last pass started, so it is what is in effect.
    assert.equal(r.current().server.port, (src.value as { server: { port: number } }).server.port);
    await r.close();
  });
});

describe('snapshots', () => {
  test('an old snapshot held by a caller stays unchanged through later reloads', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    const old = r.current();
    src.set({ ...base, server: { port: 1 }, backends: [] });
    await r.reload();
    assert.equal(old.server.port, 8080);
    assert.equal(old.backends.length, 1);
    assert.ok(Object.isFrozen(old.backends[0]));
    assert.equal(r.current().server.port, 1);
  });

  test('100 concurrent readers during 50 reloads always see a complete, valid snapshot', async (t) => {
    const src = new MemorySource({ ...base, server: { port: 0 }, backends: [{ name: 'n0', url: 'u' }] });
    const r = createReloader({ source: src, schema, hooks: [{ name: 'h', apply: () => new Promise((res) => setImmediate(res)) }] });
    t.after(() => r.close());
    await r.start();
    let stop = false;
    let reads = 0;
    const readers = Array.from({ length: 100 }, async () => {
      while (!stop) {
        const c = r.current();
        assert.equal(schema.safeParse(c).success, true);
        assert.equal(c.backends[0]?.name, `n${c.server.port}`);
        reads += 1;
        await new Promise((res) => setImmediate(res));
      }
    });
    for (let i = 1; i <= 50; i += 1) {
      src.set({ ...base, server: { port: i }, backends: [{ name: `n${i}`, url: 'u' }] });
      await r.reload();
    }
    stop = true;
    await Promise.all(readers);
    assert.ok(reads > 100);
  });

  test('100 readers during concurrent reloads of changing (sometimes refused) contents: only committed, consistent, never-mutated snapshots', async (t) => {
    // The source always writes a, b, items and label together from one n; n < 0 fails the
    // schema and a multiple of 7 is refused by a check, so neither may ever be seen.
    const consistentSchema = z.object({
      a: z.number().int().nonnegative(),
      b: z.number().int(),
      items: z.array(z.number()),
      label: z.string(),
      nested: z.object({ n: z.number() }),
    });
    type C = z.infer<typeof consistentSchema>;
    const content = (n: number) => ({ a: n, b: n, items: [n, n, n, n], label: `n${n}`, nested: { n } });
    const src = new MemorySource(content(1));
    // Every config object that was handed to the hooks, i.e. that passed validation and checks.
    const validated = new Set<unknown>();
    const r = createReloader({
      source: src,
      schema: consistentSchema,
      historySize: 10_000,
      hooks: [
        {
          name: 'no-sevens',
          check: (_old, next: C) => {
            if (next.a % 7 === 0) throw new Error(`${next.a} is refused`);
          },
          apply: async (_ctx, _old, next: C) => {
            validated.add(next);
            await new Promise((res) => setImmediate(res)); // readers run while the pass is in its apply
          },
        },
      ],
    });
    t.after(() => r.close());
    await r.start();
    validated.add(r.current());

    const firstSeen = new Map<object, string>(); // snapshot → its JSON when first seen
    const problems: string[] = [];
    let stop = false;
    let reads = 0;
    const reader = async (): Promise<void> => {
      let lastGeneration = 0;
      while (!stop) {
        const generation = r.generation;
        const c = r.current();
        if (generation < lastGeneration) problems.push(`generation went back: ${lastGeneration} -> ${generation}`);
        lastGeneration = generation;
        if (!validated.has(c)) problems.push(`a snapshot that was never validated: ${JSON.stringify(c)}`);
        if (!(c.a === c.b && c.items.length === 4 && c.items.every((x) => x === c.a) && c.label === `n${c.a}` && c.nested.n === c.a)) {
          problems.push(`inconsistent snapshot: ${JSON.stringify(c)}`);
        }
        if (c.a < 0 || c.a % 7 === 0) problems.push(`a refused config is in effect: ${JSON.stringify(c)}`);
        if (!firstSeen.has(c)) firstSeen.set(c, JSON.stringify(c));
        reads += 1;
        await new Promise((res) => setImmediate(res));
      }
    };
    const readers = Array.from({ length: 100 }, () => reader());

    // 20 clients, 15 requests each, none waiting for the others: writes land while passes run.
    let n = 1;
    const clients = Array.from({ length: 20 }, async (_, client) => {
      const results = [];
      for (let i = 0; i < 15; i += 1) {
        await new Promise((res) => setTimeout(res, (client + i) % 4));
        const v = (n += 1);
        src.set(content(v % 11 === 0 ? -v : v)); // some fail the schema
        results.push(await r.reload());
      }
      return results;
    });
    const results = (await Promise.all(clients)).flat();
    stop = true;
    await Promise.all(readers);

    assert.deepEqual(problems.slice(0, 5), []);
    // The refusals really happened, and so did commits.
    const statuses = new Set(r.history().map((h) => h.status));
    for (const s of ['full_success', 'load_failed', 'validation_failed']) assert.ok(statuses.has(s as never), `no ${s} pass: ${[...statuses].join(', ')}`);
    assert.equal(results.length, 300);
    assert.ok(r.history().length < 300, 'concurrent requests were coalesced');
    assert.equal(r.generation, r.history().filter((h) => h.status === 'full_success').length);
    assert.ok(firstSeen.size > 10, `readers saw only ${firstSeen.size} distinct snapshots`);
    assert.ok(reads > 1000, `only ${reads} reads`);
    // No snapshot a reader saw was changed afterwards, and all are frozen all the way down.
    for (const [snap, json] of firstSeen) {
      assert.equal(JSON.stringify(snap), json);
      const c = snap as C;
      assert.ok(Object.isFrozen(c) && Object.isFrozen(c.items) && Object.isFrozen(c.nested));
    }
  });

  test('a second identical reload reports no changed paths', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    assert.deepEqual((await r.reload()).changed, ['log_level']);
    assert.deepEqual((await r.reload()).changed, []);
  });
});

describe('subscribe', () => {
  test('fires only when the selected slice changes, with next, prev and the result', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    const calls: Array<[number, number, string]> = [];
    const off = r.subscribe(
      (c) => c.server.port,
      (next, prev, result) => calls.push([next, prev, result.status]),
    );
    src.set({ ...base, log_level: 'warn' });
    await r.reload();
    src.set({ ...base, log_level: 'warn', server: { port: 9 } });
    await r.reload();
    off();
    src.set({ ...base, server: { port: 10 } });
    await r.reload();
    assert.deepEqual(calls, [[9, 8080, 'full_success']]);
  });

  test('a throwing subscriber does not break the pass', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    t.after(() => r.close());
    await r.start();
    r.subscribe(
      (c) => c.log_level,
      () => {
        throw new Error('subscriber bug');
      },
    );
    src.set({ ...base, log_level: 'warn' });
    assert.equal((await r.reload()).status, 'full_success');
  });
});

describe('results', () => {
  test('result carries every documented field and history is a bounded ring', async (t) => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema, historySize: 3, name: 'svc' });
    t.after(() => r.close());
    await r.start();
    for (let i = 0; i < 5; i += 1) await r.reload();
    const h = r.history();
    assert.equal(h.length, 3);
    assert.deepEqual(
      h.map((x) => x.generation),
      [3, 4, 5],
    );
    const last = r.lastResult()!;
    for (const key of [
      'unit',
      'generation',
      'status',
      'trigger',
      'outcomes',
      'requires_restart',
      'config_hash',
      'changed',
      'started_at',
      'ended_at',
      'duration_ms',
      'coalesced',
    ]) {
      assert.ok(key in last, `missing ${key}`);
    }
    assert.equal(last.unit, 'svc');
    assert.equal(last.trigger, 'api');
    assert.ok(!Number.isNaN(Date.parse(last.started_at)));
  });

  test('secret values never appear in result errors', async (t) => {
    const src = new MemorySource({ ...base, password: 'hunter2-secret' });
    const r = createReloader({
      source: src,
      schema,
      hooks: [
        {
          name: 'leaky',
          check: (_old, next) => {
            throw new Error(`cannot log in with ${next.password ?? ''}`);
          },
          apply: () => {},
        },
      ],
    });
    t.after(() => r.close());
    await r.start();
    src.set({ ...base, password: 'new-secret-value' });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.ok(!JSON.stringify(res).includes('new-secret-value'));
    assert.match(res.error!, /\[REDACTED\]/);
  });

  test('reload before start is refused with a clear error', async (t) => {
    const r = createReloader({ source: new MemorySource(base), schema });
    t.after(() => r.close());
    await assert.rejects(r.reload(), /has not started/);
  });
});
