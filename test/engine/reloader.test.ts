import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { createReloader, ShutdownError, type Hook } from '../../src/index.js';
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
  test('initial load becomes generation 0 without running hooks; lastResult is null', async () => {
    const log: string[] = [];
    const r = createReloader({ source: new MemorySource(base), schema, hooks: [recordingHook('h', log)] });
    await r.start();
    assert.equal(r.generation, 0);
    assert.equal(r.current().server.port, 8080);
    assert.equal(r.lastResult(), null);
    assert.deepEqual(log, []);
    await r.close();
  });

  test('invalid initial config rejects with every issue and its path', async () => {
    const r = createReloader({ source: new MemorySource({ server: { port: 'x' }, log_level: 'loud' }), schema });
    await assert.rejects(r.start(), (err: Error) => {
      assert.match(err.message, /server\.port/);
      assert.match(err.message, /log_level/);
      return true;
    });
    await r.close();
  });
});

describe('statuses', () => {
  test('full success moves generation 1 then 2; skipped counts as success', async () => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const r = createReloader({ source: src, schema, hooks: [recordingHook('a', log), recordingHook('b', log, 'skip')] });
    await r.start();
    src.set({ ...base, log_level: 'debug' });
    const r1 = await r.reload();
    assert.equal(r1.status, 'full_success');
    assert.equal(r1.generation, 1);
    assert.deepEqual(r1.changed, ['log_level']);
    assert.deepEqual(r1.outcomes.map((o) => [o.name, o.status]), [['a', 'applied'], ['b', 'skipped']]);
    const r2 = await r.reload();
    assert.equal(r2.status, 'full_success');
    assert.equal(r2.generation, 2);
    assert.deepEqual(r2.changed, []);
    await r.close();
  });

  test('partial apply: every apply runs once, swapped, generation 1, one failed outcome', async () => {
    const src = new MemorySource(base);
    const log: string[] = [];
    const r = createReloader({
      source: src,
      schema,
      hooks: [recordingHook('a', log), recordingHook('b', log, 'throw'), recordingHook('c', log)],
    });
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'partial_applied');
    assert.equal(res.generation, 1);
    assert.deepEqual(log, ['a', 'b', 'c']);
    assert.equal(res.outcomes.filter((o) => o.status === 'failed').length, 1);
    assert.match(res.outcomes[1]!.error!, /b exploded/);
    assert.equal(r.current().log_level, 'warn');
    await r.close();
  });

  test('a hook returning failed without an error is a failure, not a success', async () => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema, hooks: [recordingHook('only', [], 'fail')] });
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'apply_failed');
    assert.equal(res.generation, 0);
    assert.equal(r.current().log_level, 'info');
    assert.ok(res.outcomes[0]!.error);
    await r.close();
  });

  test('validation failure collects every check error and runs no apply', async () => {
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
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.equal(res.generation, 0);
    assert.deepEqual(res.outcomes.map((o) => o.name), ['x', 'y']);
    assert.match(res.error!, /x says no.*y says no/);
    assert.deepEqual(log, []);
    await r.close();
  });

  test('load failure keeps the old snapshot and generation', async () => {
    const src = new MemorySource(base);
    const r = createReloader({ source: src, schema });
    await r.start();
    src.fail('file vanished');
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.match(res.load_error!, /file vanished/);
    assert.equal(r.generation, 0);
    assert.equal(r.current().server.port, 8080);
    await r.close();
  });

  test('a hung apply is failed at its timeout and its signal is aborted', async () => {
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
    await r.start();
    src.set({ ...base, log_level: 'warn' });
    const res = await r.reload();
    assert.equal(res.status, 'partial_applied');
    assert.match(res.outcomes[0]!.error!, /timed out after 50 ms/);
    assert.equal(aborted, true);
    await r.close();
  });
});

describe('close', () => {
  test('close before start and close twice are safe; requests after close are refused', async () => {
    const r = createReloader({ source: new MemorySource(base), schema });
    await r.close();
    await r.close();
    await assert.rejects(r.reload(), ShutdownError);
  });

  test('a pending pass at close answers its waiters with a shutdown error', async () => {
    const src = new MemorySource(base);
    const gate = deferred();
    const r = createReloader({
      source: src,
      schema,
      hooks: [{ name: 'slow', apply: () => gate.promise }],
    });
    await r.start();
    const running = r.reload();
    const pending = r.reload();
    await new Promise((res) => setImmediate(res));
    const closing = r.close();
    gate.resolve();
    await assert.rejects(pending, ShutdownError);
    await assert.rejects(running, ShutdownError);
    await closing;
  });
});
