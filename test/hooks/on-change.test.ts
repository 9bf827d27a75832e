import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { createReloader, onChange, type ConfigOf, type Hook } from '../../src/index.js';
import { MemorySource } from '../helpers/memory-source.js';

const schema = z.object({
  server: z.object({ host: z.string(), port: z.number() }),
  rate_limit: z.number(),
  tags: z.array(z.string()).default([]),
});
type Config = ConfigOf<typeof schema>;
const base = { server: { host: 'nbu.example', port: 1556 }, rate_limit: 10, tags: ['a'] };

async function reloaderWith(hooks: readonly Hook<Config>[]) {
  const source = new MemorySource(base);
  const r = createReloader({ source, schema, hooks });
  await r.start();
  return { r, source };
}

describe('onChange', () => {
  test('flushes the cache only when the server address changes', async () => {
    const cache = new Map([['k', 'v']]);
    const calls: [unknown, unknown][] = [];
    const { r, source } = await reloaderWith([
      onChange('server', (next, prev) => {
        calls.push([next, prev]);
        cache.clear();
      }),
    ]);
    source.set({ ...base, rate_limit: 20 });
    const same = await r.reload();
    assert.deepEqual(
      same.outcomes.map((o) => [o.name, o.status]),
      [['on-change:server', 'skipped']],
    );
    assert.equal(cache.size, 1);

    source.set({ ...base, rate_limit: 20, server: { host: 'nbu.example', port: 1557 } });
    const moved = await r.reload();
    assert.equal(moved.outcomes[0]!.status, 'applied');
    assert.equal(cache.size, 0);
    assert.deepEqual(calls, [
      [
        { host: 'nbu.example', port: 1557 },
        { host: 'nbu.example', port: 1556 },
      ],
    ]);
    await r.close();
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
    assert.equal((await r.reload()).outcomes[0]!.status, 'skipped');
    source.set({ ...base, tags: ['a', 'b'] });
    assert.equal((await r.reload()).outcomes[0]!.status, 'applied');
    assert.equal(runs, 1);
    await r.close();
  });

  test('fn receives the hook context and may return skipped or failed', async () => {
    const seen: string[] = [];
    const { r, source } = await reloaderWith([
      onChange('rate_limit', (next: number, _prev: number, ctx) => {
        seen.push(`${ctx.unit}/${ctx.trigger}/${String(ctx.signal.aborted)}`);
        return next > 100 ? 'failed' : 'skipped';
      }),
    ]);
    source.set({ ...base, rate_limit: 50 });
    assert.equal((await r.reload()).outcomes[0]!.status, 'skipped');
    source.set({ ...base, rate_limit: 500 });
    const res = await r.reload();
    assert.equal(res.status, 'apply_failed');
    assert.equal(res.outcomes[0]!.status, 'failed');
    assert.deepEqual(seen, ['app/api/false', 'app/api/false']);
    await r.close();
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
    await r.close();
  });

  test('a throwing fn is a failed outcome with its message; other hooks still run', async () => {
    const { r, source } = await reloaderWith([
      onChange('rate_limit', () => {
        throw new Error('cache flush failed');
      }),
      onChange('rate_limit', () => {}, { name: 'second' }),
    ]);
    source.set({ ...base, rate_limit: 11 });
    const res = await r.reload();
    assert.equal(res.status, 'partial_applied');
    assert.deepEqual(
      res.outcomes.map((o) => [o.name, o.status, o.error]),
      [
        ['on-change:rate_limit', 'failed', 'cache flush failed'],
        ['second', 'applied', undefined],
      ],
    );
    await r.close();
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
