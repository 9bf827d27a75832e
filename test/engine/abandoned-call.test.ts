// A hook never runs twice at once. An apply that outlives its timeout is
// reported failed, but JavaScript cannot stop it: a hook that ignores its
// AbortSignal keeps working in the background and may still land its
// effect. Until that abandoned call settles, a later pass does not call the
// hook again: it waits for it up to the hook's timeout, then reports the
// hook failed "still running from generation N" without calling it. Once
// the call has settled, the next pass calls the hook again. Real timers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { createReloader, type Hook } from '../../src/index.js';
import { deferred, MemorySource } from '../helpers/memory-source.js';

type Cfg = { v: number };

test('a hook whose apply outlived its timeout is not called again until that call settles, then it is', async (t) => {
  const source = new MemorySource({ v: 0 });
  let calls = 0;
  let running = 0;
  let mostAtOnce = 0;
  const firstCallSettled = deferred();
  const hook: Hook<Cfg> = {
    name: 'stubborn',
    args: 'next-prev',
    applyTimeoutMs: 100,
    // Ignores ctx.signal. Its first call does 500 ms of work (five times its
    // timeout); later calls are quick, so the pass after the settle succeeds.
    async apply() {
      calls += 1;
      const call = calls;
      running += 1;
      mostAtOnce = Math.max(mostAtOnce, running);
      try {
        await delay(call === 1 ? 500 : 5);
      } finally {
        running -= 1;
        if (call === 1) firstCallSettled.resolve();
      }
    },
  };
  const r = createReloader({ source, hooks: [hook], logger: false });
  t.after(() => r.close());
  await r.start();

  source.set({ v: 1 });
  const first = await r.reload();
  assert.equal(first.status, 'apply_failed');
  assert.match(first.outcomes[0]?.error ?? '', /apply of hook "stubborn" timed out after 100 ms/);
  assert.equal(calls, 1);
  assert.equal(running, 1, 'the abandoned call is still working when the first pass ends');

  // The abandoned call is still running: this pass waits up to the timeout, then gives up without calling the hook.
  source.set({ v: 2 });
  const second = await r.reload();
  assert.equal(second.status, 'apply_failed');
  assert.equal(second.outcomes[0]?.status, 'failed');
  assert.match(second.outcomes[0]?.error ?? '', /^still running from generation 1; not called again until it ends$/);
  assert.equal(calls, 1, 'the hook was not called while its abandoned call ran');
  assert.equal(r.generation, 0);

  await firstCallSettled.promise;
  const third = await r.reload();
  assert.equal(third.status, 'full_success');
  assert.deepEqual(
    third.outcomes.map((o) => [o.name, o.status]),
    [['stubborn', 'applied']],
  );
  assert.equal(calls, 2, 'once the abandoned call settled, the next pass called the hook again');
  assert.equal(r.generation, 1);
  assert.deepEqual(r.current(), { v: 2 });
  assert.equal(mostAtOnce, 1, 'never two calls of the hook at once');
});
