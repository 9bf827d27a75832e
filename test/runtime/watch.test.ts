// `triggers.watch` through createReloader with the real fileSource and
// dirSource: file changes become passes, unchanged content runs no hook,
// readiness shows the watcher's health, close() stops it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { createReloader, dirSource, fileSource, type ConfigSource, type Hook } from '../../src/index.js';
import { createReloadMetrics } from '../../src/admin/metrics.js';
import { DeferredWatchCounters, startWatchTrigger } from '../../src/runtime/watch.js';
import type { WatchFunction } from '../../src/triggers/watch.js';
import { atomicSave, ConfigMapVolume, recordingLogger, tempDir } from '../triggers/watch-helpers.js';
import { waitFor } from '../helpers/wait.js';

const schema = z.object({ port: z.number(), name: z.string().default('app') });

function countingHook(): Hook<{ port: number }> & { seen: number[] } {
  const seen: number[] = [];
  return { name: 'count', seen, apply: (_ctx, _old, next) => void seen.push(next.port) };
}

// "No second pass follows" is checked at an observable end point instead of after a
// sleep: the test makes one more, known change and waits for its pass. A request
// made before that change (a second pass for the earlier one) is a pass of its own
// that history() shows before the known one, so the count is exact.

test('watch: true with fileSource: an atomic save is one pass (trigger watch) with the new config', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const hook = countingHook();
  const r = createReloader({ source: fileSource(file), schema, hooks: [hook], triggers: { watch: true } });
  t.after(() => r.close());
  await r.start();
  await atomicSave(file, 'port: 2\n');
  await waitFor(() => r.current().port === 2, 'the new port');
  const res = r.lastResult()!;
  assert.equal(res.trigger, 'watch');
  assert.equal(res.status, 'full_success');
  assert.deepEqual(res.changed, ['port']);
  assert.deepEqual(r.ready(), { ok: true, reasons: [], degraded: [] });
  // The end point: one more save is the next pass.
  await atomicSave(file, 'port: 3\n');
  await waitFor(() => r.current().port === 3, 'the next save');
  assert.deepEqual(
    r.history().map((h) => [h.trigger, h.status, h.generation]),
    [
      ['watch', 'full_success', 1],
      ['watch', 'full_success', 2],
    ],
  );
  assert.deepEqual(hook.seen, [2, 3]);
});

test('bytes changed but the same config (a comment): status unchanged, no hook runs, generation stays', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const hook = countingHook();
  const r = createReloader({ source: fileSource(file), schema, hooks: [hook], triggers: { watch: { debounceMs: 50 } } });
  t.after(() => r.close());
  await r.start();
  await writeFile(file, '# a comment the parser drops\nport: 1\n');
  await waitFor(() => r.history().length === 1, 'a pass after the edit');
  const res = r.lastResult()!;
  assert.equal(res.status, 'unchanged');
  assert.equal(res.trigger, 'watch');
  assert.equal(r.generation, 0);
  assert.deepEqual(hook.seen, []);
});

test('a broken save keeps the old config (load_failed, ready but degraded; not ready strictly); the fix applies', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const r = createReloader({ source: fileSource(file), schema, triggers: { watch: true } });
  t.after(() => r.close());
  await r.start();
  await writeFile(file, 'port: [unclosed\n');
  await waitFor(() => r.lastResult()?.status === 'load_failed', 'load_failed');
  assert.equal(r.current().port, 1);
  assert.equal(r.ready().ok, true);
  assert.match(r.ready().degraded.join(' '), /last reload load_failed/);
  assert.equal(r.ready({ strict: true }).ok, false);
  await writeFile(file, 'port: 3\n');
  await waitFor(() => r.current().port === 3, 'the fixed config');
  assert.equal(r.lastResult()!.status, 'full_success');
  assert.deepEqual(r.ready({ strict: true }), { ok: true, reasons: [], degraded: [] });
});

test('dirSource: a new fragment, and a ConfigMap ..data swap, each start one pass', async (t) => {
  const dir = await tempDir(t);
  const vol = new ConfigMapVolume(dir);
  await vol.create({ '10-base.yaml': 'port: 1\n' });
  const hook = countingHook();
  const r = createReloader({ source: dirSource(dir), schema, hooks: [hook], triggers: { watch: true } });
  t.after(() => r.close());
  await r.start();
  await vol.update({ '10-base.yaml': 'port: 2\n' });
  await waitFor(() => r.current().port === 2, 'the swapped config');
  // The new fragment is the end point for the swap, and the next swap the one for the fragment.
  await atomicSave(join(dir, '20-override.yaml'), 'name: other\n');
  await waitFor(() => r.current().name === 'other', 'the new fragment');
  assert.equal(r.history().length, 2, JSON.stringify(r.history()));
  await vol.update({ '10-base.yaml': 'port: 4\n' });
  await waitFor(() => r.current().port === 4, 'the next swap');
  assert.equal(r.history().length, 3, JSON.stringify(r.history()));
  assert.ok(r.history().every((h) => h.trigger === 'watch' && h.status === 'full_success'));
  assert.deepEqual(hook.seen, [2, 2, 4]);
});

test('a change between the initial load and the watcher start still starts a pass', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const inner = fileSource(file);
  let loads = 0;
  // The file changes right after the first load read it, before the watcher looks.
  const racing: ConfigSource = {
    description: inner.description,
    watchSpecs: () => inner.watchSpecs(),
    async load(ctx) {
      const loaded = await inner.load(ctx);
      if (++loads === 1) await writeFile(file, 'port: 2\n');
      return loaded;
    },
  };
  const r = createReloader({ source: racing, schema, triggers: { watch: true } });
  t.after(() => r.close());
  await r.start();
  await waitFor(() => r.current().port === 2, 'the change made during start');
  assert.equal(r.lastResult()!.trigger, 'watch');
});

test('no pass after close(); the watcher is stopped with the reloader', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const r = createReloader({ source: fileSource(file), schema, triggers: { watch: { debounceMs: 20, rescanMs: 50 } } });
  t.after(() => r.close());
  await r.start();
  await writeFile(file, 'port: 2\n'); // a burst in flight while closing
  await r.close();
  await atomicSave(file, 'port: 3\n');
  // A bounded real-time wait stays here: after close() nothing runs that could signal
  // "done", so the check is that nothing happens within 25 debounce periods and 10
  // rescan periods.
  await sleep(500);
  assert.equal(r.history().length, 0);
  assert.equal(r.current().port, 1);
});

test('bad watch options and sources that cannot be watched are refused by createReloader', () => {
  const source = fileSource('/tmp/reloadkit-never.yaml');
  assert.throws(() => createReloader({ source, triggers: { watch: { debounceMs: -5 } } }), /debounceMs must be a number of milliseconds/);
  assert.throws(
    () => createReloader({ source, triggers: { watch: { debounce: 100 } as never } }),
    /: triggers\.watch: unknown option "debounce" \(known: debounceMs, maxWaitMs, rescanMs\)/,
  );
  assert.throws(() => createReloader({ source, triggers: { watch: 'yes' as never } }), /triggers\.watch must be/);
  const bare: ConfigSource = { description: 'vault:app', load: async () => ({ value: {}, files: [] }) };
  assert.throws(() => createReloader({ source: bare, triggers: { watch: true } }), /needs a source with watchSpecs\(\).*vault:app/);
  assert.doesNotThrow(() => createReloader({ source: bare, triggers: { watch: false } }));
});

test('the watch trigger reports polling (ENOSPC) through health() (what readiness lists) and counts the error', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const enospc: WatchFunction = (d) => {
    throw Object.assign(new Error(`ENOSPC: System limit for number of file watchers reached, watch '${d}'`), { code: 'ENOSPC' });
  };
  const requests: string[] = [];
  let errors = 0;
  const handle = await startWatchTrigger({
    unit: 'app',
    specs: fileSource(file).watchSpecs(),
    timings: { debounceMs: 20 },
    logger: recordingLogger(),
    enqueue: (trigger) => void requests.push(trigger),
    counters: { watchEvent() {}, watchError: () => void (errors += 1) },
    watcher: { watchFunction: enospc, pollMs: 30 },
  });
  t.after(() => handle.close());
  assert.equal(handle.name, 'watch');
  assert.match(handle.health!().reason!, /polling 1 directory .*ENOSPC/);
  assert.equal(errors, 1);
  await writeFile(file, 'port: 2\n');
  await waitFor(() => requests.length === 1, 'a request from the polled directory');
  assert.deepEqual(requests, ['watch']);
});

test('an ENOSPC while the watcher starts is counted in reloadkit_watch_errors_total once the metrics attach (they start after the watcher)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'port: 1\n');
  const enospc: WatchFunction = (d) => {
    throw Object.assign(new Error(`ENOSPC: System limit for number of file watchers reached, watch '${d}'`), { code: 'ENOSPC' });
  };
  // As createReloader wires it: the counters exist before the metrics do.
  const counters = new DeferredWatchCounters();
  const handle = await startWatchTrigger({
    unit: 'app',
    specs: fileSource(file).watchSpecs(),
    timings: { debounceMs: 20 },
    logger: recordingLogger(),
    enqueue: () => {},
    counters,
    watcher: { watchFunction: enospc, pollMs: 30 },
  });
  t.after(() => handle.close());
  const metrics = await createReloadMetrics({ defaultMetrics: false });
  assert.match(await metrics.text(), /^reloadkit_watch_errors_total 0$/m);
  counters.attach(metrics);
  assert.match(await metrics.text(), /^reloadkit_watch_errors_total 1$/m);
  // After attaching, counts go straight through.
  counters.watchError();
  assert.match(await metrics.text(), /^reloadkit_watch_errors_total 2$/m);
});

// Appended: an import here is hoisted like the ones at the top.
import { unlink } from 'node:fs/promises';

test('dirSource: a fragment deleted while watched is exactly one watch pass; changed names its keys and they are gone', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, '10-base.yaml'), 'port: 1\ndb:\n  host: db1\n');
  await writeFile(join(dir, '20-extra.yaml'), 'extra: on\ndb:\n  pool: 5\n');
  const fragSchema = z.object({
    port: z.number(),
    extra: z.string().optional(),
    db: z.object({ host: z.string(), pool: z.number().optional() }),
  });
  const seen: Array<Record<string, unknown>> = [];
  const r = createReloader({
    source: dirSource(dir),
    schema: fragSchema,
    hooks: [{ name: 'record', apply: (_ctx, _old, next) => void seen.push(structuredClone(next) as Record<string, unknown>) }],
    triggers: { watch: true },
  });
  t.after(() => r.close());
  await r.start();
  assert.deepEqual(r.current(), { port: 1, extra: 'on', db: { host: 'db1', pool: 5 } });
  await unlink(join(dir, '20-extra.yaml'));
  await waitFor(() => r.history().length >= 1, 'a pass after the fragment was deleted');
  const res = r.history()[0]!;
  assert.equal(res.trigger, 'watch');
  assert.equal(res.status, 'full_success', res.error);
  assert.equal(res.generation, 1);
  assert.deepEqual([...res.changed].sort(), ['db.pool', 'extra']);
  const now = r.current();
  assert.deepEqual(now, { port: 1, db: { host: 'db1' } });
  assert.ok(!Object.hasOwn(now, 'extra') && !Object.hasOwn(now.db, 'pool'), 'the removed keys are gone, not left as undefined');
  assert.deepEqual(seen, [{ port: 1, db: { host: 'db1' } }]);
  // Recreating the fragment is a change again, and the end point: the deletion was exactly one pass.
  await writeFile(join(dir, '20-extra.yaml'), 'extra: back\n');
  await waitFor(() => r.current().extra === 'back', 'the recreated fragment');
  assert.equal(r.history().length, 2, JSON.stringify(r.history()));
});
