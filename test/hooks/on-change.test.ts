import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { createReloader, onChange, type ConfigOf, type Hook } from '../../src/index.js';
import { Registry } from 'prom-client';
import { deferred, MemorySource } from '../helpers/memory-source.js';

const schema = z.object({
  server: z.object({ host: z.string(), port: z.number() }),
  rate_limit: z.number(),
  tags: z.array(z.string()).default([]),
});
type Config = ConfigOf<typeof schema>;
const base = { server: { host: 'nbu.example', port: 1556 }, rate_limit: 10, tags: ['a'] };

/** Every reloader a test started, closed after it whether it passed or failed. */
const open: { close(): Promise<void> }[] = [];
afterEach(() => Promise.all(open.splice(0).map((r) => r.close())));

async function reloaderWith(hooks: readonly Hook<Config>[]) {
  const source = new MemorySource(base);
  const r = createReloader({ source, schema, hooks });
  open.push(r);
  await r.start();
  return { r, source };
}

describe('onChange', () => {
  test("onChange.of<Config>() is onChange, typed: it fires with the path's next and previous values", async () => {
    const seen: [number, number][] = [];
    const on = onChange.of<Config>();
    const { r, source } = await reloaderWith([on('server.port', (next, prev) => void seen.push([next, prev]))]);
    source.set({ ...base, server: { ...base.server, port: 1557 } });
    assert.equal((await r.reload()).status, 'full_success');
    assert.deepEqual(seen, [[1557, 1556]]);
  });

  test('flushes the cache only when the server address changes, after the new config is in effect', async () => {
    const cache = new Map([['k', 'v']]);
    const calls: [unknown, unknown][] = [];
    let hostSeen = '';
    const { r, source } = await reloaderWith([
      onChange('server', (next, prev) => {
        calls.push([next, prev]);
        hostSeen = `${r.current().server.host}:${r.current().server.port}`;
        cache.clear();
      }),
    ]);
    source.set({ ...base, rate_limit: 20 });
    const same = await r.reload();
    assert.equal(same.status, 'full_success');
    // After-commit work is not a hook outcome: it cannot fail the pass.
    assert.deepEqual(same.outcomes, []);
    assert.equal(cache.size, 1);

    source.set({ ...base, rate_limit: 20, server: { host: 'nbu.example', port: 1557 } });
    const moved = await r.reload();
    assert.equal(moved.status, 'full_success');
    assert.equal(cache.size, 0);
    // It ran once current() returned the new config.
    assert.equal(hostSeen, 'nbu.example:1557');
    assert.deepEqual(calls, [
      [
        { host: 'nbu.example', port: 1557 },
        { host: 'nbu.example', port: 1556 },
      ],
    ]);
  });

  test('a cache refilled while a slower hook applies holds no stale entry once the reload resolves', async () => {
    // The documented cache-flush pattern: requests keep being served (and refill
    // the cache from current()) while the pass is in its apply phase.
    const schemaU = z.object({ upstream: z.object({ url: z.string() }), pool: z.number() });
    const source = new MemorySource({ upstream: { url: 'http://old' }, pool: 1 });
    const cache = new Map<string, string>();
    const slow = deferred();
    const applying = deferred();
    const r = createReloader({
      source,
      schema: schemaU,
      hooks: [
        onChange('upstream.url', () => cache.clear()),
        {
          name: 'pool',
          apply: async () => {
            applying.resolve();
            open.push(r);
            await slow.promise;
          },
        },
      ],
    });
    await r.start();
    const serve = (key: string) => {
      if (!cache.has(key)) cache.set(key, r.current().upstream.url);
      return cache.get(key);
    };
    for (let i = 0; i < 50; i += 1) serve(`k${i}`);
    source.set({ upstream: { url: 'http://new' }, pool: 2 });
    const reloading = r.reload();
    await applying.promise;
    // Requests served while the slow hook applies read the old config and refill the cache.
    cache.clear();
    for (let i = 0; i < 50; i += 1) serve(`k${i}`);
    slow.resolve();
    assert.equal((await reloading).status, 'full_success');
    for (let i = 0; i < 50; i += 1) assert.equal(serve(`k${i}`), 'http://new', `k${i}`);
  });

  test('equal slices in new objects are skipped (deep comparison)', async () => {
    let runs = 0;
    const { r, source } = await reloaderWith([
      onChange(
        (c: Config) => c.tags,
        () => void (runs += 1),
      ),
    ]);
    source.set({ ...base, tags: ['a'] });
    await r.reload();
    assert.equal(runs, 0);
    source.set({ ...base, tags: ['a', 'b'] });
    await r.reload();
    assert.equal(runs, 1);
  });

  test('fn receives the hook context; a returned failed is logged and the pass stays committed', async () => {
    const seen: string[] = [];
    const logged: Record<string, unknown>[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (o: Record<string, unknown>) => void logged.push(o) };
    const source = new MemorySource(base);
    const r = createReloader({
      source,
      schema,
      logger,
      hooks: [
        onChange('rate_limit', (next: number, _prev: number, ctx) => {
          seen.push(`${ctx.unit}/${ctx.trigger}/${String(ctx.signal.aborted)}`);
          open.push(r);
          return next > 100 ? 'failed' : 'skipped';
        }),
      ],
    });
    await r.start();
    source.set({ ...base, rate_limit: 50 });
    assert.equal((await r.reload()).status, 'full_success');
    source.set({ ...base, rate_limit: 500 });
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.equal(r.current().rate_limit, 500);
    assert.deepEqual(seen, ['app/api/false', 'app/api/false']);
    assert.deepEqual(
      logged.map((l) => [l.hook, l.err]),
      [['on-change:rate_limit', 'hook reported failed']],
    );
  });

  test('a check refuses a changed slice before anything applies; unchanged slices are not checked', async () => {
    let applied = 0;
    let checked = 0;
    const { r, source } = await reloaderWith([
      onChange('server.host', () => void (applied += 1), {
        check: (next: unknown) => {
          checked += 1;
          if (typeof next === 'string' && next.endsWith('.invalid')) throw new Error(`cannot resolve ${next}`);
        },
      }),
    ]);
    source.set({ ...base, rate_limit: 1 });
    assert.equal((await r.reload()).status, 'full_success');
    assert.equal(checked, 0);
    source.set({ ...base, server: { host: 'nbu.invalid', port: 1556 } });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.match(res.error!, /on-change:server\.host: cannot resolve nbu\.invalid/);
    assert.equal(applied, 0);
    assert.equal(r.current().server.host, 'nbu.example');
  });

  test('a throwing fn is logged and counted, never lost; later after-commit work still runs', async () => {
    const registry = new Registry();
    const logged: Record<string, unknown>[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (o: Record<string, unknown>) => void logged.push(o) };
    let second = 0;
    const source = new MemorySource(base);
    const r = createReloader({
      source,
      schema,
      logger,
      registry,
      hooks: [
        onChange('rate_limit', () => {
          throw new Error('cache flush failed');
          open.push(r);
        }),
        onChange('rate_limit', () => void (second += 1), { name: 'second' }),
      ],
    });
    await r.start();
    source.set({ ...base, rate_limit: 11 });
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.equal(second, 1);
    assert.ok(logged.some((l) => l.hook === 'on-change:rate_limit' && l.err === 'cache flush failed'));
    assert.match(await registry.metrics(), /^reloadkit_after_commit_failures_total\{unit="app"\} 1$/m);
  });

  test('selector hooks get distinct default names; bad arguments are refused at creation', () => {
    const one = onChange(
      (c: Config) => c.rate_limit,
      () => {},
    );
    const two = onChange(
      (c: Config) => c.rate_limit,
      () => {},
    );
    assert.notEqual(one.name, two.name);
    assert.match(one.name, /^on-change-\d+$/);
    assert.throws(() => onChange('tags[*]', () => {}), /bad path "tags\[\*\]"/);
    assert.throws(() => onChange('rate_limit', 'nope' as never), /fn must be a function/);
  });
});
