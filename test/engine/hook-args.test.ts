// Every hook phase takes (next, prev, ctx) when the hook says args:
// 'next-prev'; hooks without it keep the 0.1 order (check(old, next, ctx),
// apply(ctx, old, next), rollback(ctx, old, next)) with one
// DeprecationWarning per process. The tests run in order: the warning is
// emitted once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { createReloader, type Hook, type HookContext } from '../../src/index.js';
import { MemorySource } from '../helpers/memory-source.js';

type Cfg = { v: number };
const isCtx = (x: unknown): boolean => typeof x === 'object' && x !== null && 'signal' in x && 'logger' in x;
/** What a hook saw: `next`/`prev` as the config's v, `ctx` for the context. */
const show = (x: unknown): string | number => (isCtx(x) ? 'ctx' : (x as Cfg).v);

const warnings: Error[] = [];
process.on('warning', (w) => {
  if ((w as Error & { code?: string }).code === 'RELOADKIT_HOOK_ARGS') warnings.push(w);
});

/** Runs start (v 1) and one reload (v 2) with the hooks; `failing` adds a hook whose apply fails, under policy rollback. */
async function pass(hooks: Hook<Cfg>[], failing = false): Promise<string> {
  const source = new MemorySource({ v: 1 });
  const all: Hook<Cfg>[] = failing ? [...hooks, { name: 'fails', args: 'next-prev', apply: () => 'failed' }] : hooks;
  const r = createReloader({ source, hooks: all, logger: false, ...(failing ? { onApplyFailure: 'rollback' as const } : {}) });
  let res;
  try {
    await r.start();
    source.set({ v: 2 });
    res = await r.reload();
  } finally {
    await r.close();
  }
  await tick();
  return res.status;
}

describe('hook arguments', () => {
  test("args: 'next-prev': check, apply, rollback and afterCommit all get (next, prev, ctx), and nothing is deprecated", async () => {
    const seen: string[] = [];
    const record = (phase: string) => (a: unknown, b: unknown, c: unknown) => void seen.push(`${phase}(${[a, b, c].map(show).join(', ')})`);
    const hook: Hook<Cfg> = { name: 'new', args: 'next-prev', check: record('check'), apply: record('apply'), rollback: record('rollback') };
    assert.equal(await pass([hook], true), 'rolled_back');
    assert.equal(await pass([{ name: 'after', args: 'next-prev', afterCommit: record('afterCommit') }]), 'full_success');
    assert.deepEqual(seen, ['check(2, 1, ctx)', 'apply(2, 1, ctx)', 'rollback(2, 1, ctx)', 'afterCommit(2, 1, ctx)']);
    assert.deepEqual(warnings, []);
  });

  test('a hook without args keeps the 0.1 order, with one DeprecationWarning (code RELOADKIT_HOOK_ARGS) per process', async () => {
    const seen: string[] = [];
    const legacy: Hook<Cfg> = {
      name: 'legacy',
      check: (old, next, ctx) => void seen.push(`check(${[old, next, ctx].map(show).join(', ')})`),
      apply: (ctx: HookContext, old, next) => void seen.push(`apply(${[ctx, old, next].map(show).join(', ')})`),
      rollback: (ctx: HookContext, old, next) => void seen.push(`rollback(${[ctx, old, next].map(show).join(', ')})`),
    };
    assert.equal(await pass([legacy], true), 'rolled_back');
    assert.deepEqual(seen, ['check(1, 2, ctx)', 'apply(ctx, 1, 2)', 'rollback(ctx, 1, 2)']);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]!.name, 'DeprecationWarning');
    assert.match(warnings[0]!.message, /hook "legacy" takes its arguments in the 0\.1 order .* Add args: 'next-prev' and take \(next, prev, ctx\)/);
    // Once per process: another reloader with an old-order hook says nothing more.
    assert.equal(await pass([{ name: 'legacy-2', apply: () => undefined }]), 'full_success');
    assert.equal(warnings.length, 1);
  });

  test('both orders in one reloader: each hook is called in its own', async () => {
    const seen: string[] = [];
    const hooks: Hook<Cfg>[] = [
      { name: 'old', apply: (ctx, old, next) => void seen.push(`old: ${[ctx, old, next].map(show).join(', ')}`) },
      { name: 'new', args: 'next-prev', apply: (next, prev, ctx) => void seen.push(`new: ${[next, prev, ctx].map(show).join(', ')}`) },
    ];
    assert.equal(await pass(hooks), 'full_success');
    assert.deepEqual(seen, ['old: ctx, 1, 2', 'new: 2, 1, ctx']);
  });
});
