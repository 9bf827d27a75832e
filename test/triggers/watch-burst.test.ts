// The burst state machine on its own, on a fake clock and fake file looks:
// quiet period, max wait, fast path and its refusals. No file system, no
// real time: every test runs in milliseconds and checks exact times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BurstMachine, type SettledBurst } from '../../src/triggers/watch-burst.js';
import type { StatKey } from '../../src/triggers/watch-paths.js';
import { FakeClock } from './watch-helpers.js';

const DEBOUNCE = 100;
const MAX_WAIT = 1000;
const SETTLE = 10;

/** A stat key as watch-paths' statKey builds it (device 1). */
function sk(ino: number, size: number, mtime: number): StatKey {
  const id = `1:${ino}`;
  return { id, key: `${id}:${size}:${mtime}:${mtime}`, isFile: true, size: BigInt(size) };
}

interface Harness {
  clock: FakeClock;
  machine: BurstMachine;
  /** What a look at each path sees now (absent: the look fails). */
  files: Map<string, StatKey>;
  /** Stat keys at the last check. */
  committed: Map<string, string>;
  /** Each settled burst, with the fake time it settled at. */
  settled: (SettledBurst & { at: number })[];
}

function harness(): Harness {
  const clock = new FakeClock();
  const files = new Map<string, StatKey>();
  const committed = new Map<string, string>();
  const settled: Harness['settled'] = [];
  const machine = new BurstMachine({
    debounceMs: DEBOUNCE,
    maxWaitMs: MAX_WAIT,
    settleMs: SETTLE,
    clock,
    look: async (path) => files.get(path) ?? null,
    committedKey: (path) => committed.get(path),
    onSettled: (b) => void settled.push({ ...b, at: clock.now() }),
  });
  return { clock, machine, files, committed, settled };
}

const times = (h: Harness) => h.settled.map((s) => s.at);

test('quiet period: events closer together than it are one burst, checked once after the last', async () => {
  const h = harness();
  for (const [at, name] of [
    [0, 'a'],
    [30, 'b'],
    [60, 'a'],
    [90, 'c'],
  ] as const) {
    await h.clock.advanceTo(at);
    h.machine.record('change', [`/d/${name}`], '/d', `/d/${name}`);
  }
  await h.clock.advanceTo(189);
  assert.equal(h.settled.length, 0, 'not before the quiet period after the last event');
  assert.equal(h.machine.pending, true);
  await h.clock.advanceTo(190);
  assert.deepEqual(times(h), [190]);
  assert.deepEqual([...h.settled[0]!.dirty].sort(), ['/d/a', '/d/b', '/d/c']);
  assert.equal(h.machine.pending, false);
  assert.equal(h.clock.pendingTimers, 0);
});

test('an event without a usable name marks its whole directory', async () => {
  const h = harness();
  h.machine.record('change', ['/d/a'], '/d', null);
  await h.clock.advance(DEBOUNCE);
  assert.deepEqual(h.settled, [{ dirty: new Set(), dirtyDirs: new Set(['/d']), at: DEBOUNCE }]);
});

test('max wait: under constant events a burst is checked every maxWaitMs, and no path is dropped', async () => {
  const h = harness();
  const named = new Set<string>();
  for (let at = 0; at <= 3000; at += 50) {
    await h.clock.advanceTo(at);
    h.machine.record('change', [`/d/f${at}`], '/d', `/d/f${at}`);
    named.add(`/d/f${at}`);
  }
  await h.clock.advance(DEBOUNCE);
  // The timer due at 1000 runs before the event at 1000, which starts the next burst.
  assert.deepEqual(times(h), [1000, 2000, 3000, 3100]);
  const checked = h.settled.flatMap((s) => [...s.dirty]);
  assert.equal(checked.length, named.size, 'each path in exactly one burst');
  assert.deepEqual(new Set(checked), named);
});

test('fast path: a path replaced by a settled, non-empty new file is checked after the settle time', async () => {
  const h = harness();
  h.committed.set('/d/app.yaml', sk(1, 10, 1).key);
  h.files.set('/d/app.yaml', sk(2, 12, 2)); // another inode: renamed over
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(SETTLE - 1);
  assert.equal(h.settled.length, 0);
  await h.clock.advance(1);
  assert.deepEqual(times(h), [SETTLE]);
  assert.deepEqual([...h.settled[0]!.dirty], ['/d/app.yaml']);
  assert.equal(h.clock.pendingTimers, 0, 'the quiet period and max wait timers are gone');
});

test('fast path: a path that did not exist before (committed missing) counts as replaced', async () => {
  const h = harness();
  h.committed.set('/d/app.yaml', 'missing');
  h.files.set('/d/app.yaml', sk(2, 12, 2));
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(SETTLE);
  assert.deepEqual(times(h), [SETTLE]);
});

test('fast path: each refusal waits for the quiet period instead', async (t) => {
  const cases: [string, (h: Harness) => void][] = [
    [
      'an in-place write (a change event) in the burst',
      (h) => {
        h.files.set('/d/app.yaml', sk(2, 12, 2));
        h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
        h.machine.record('change', ['/d/other'], '/d', null);
      },
    ],
    [
      'the file is still being written (the two looks differ)',
      (h) => {
        h.files.set('/d/app.yaml', sk(2, 12, 2));
        h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
        h.files.set('/d/app.yaml', sk(2, 40, 3));
      },
    ],
    [
      'the new file is empty (created, not written yet)',
      (h) => {
        h.files.set('/d/app.yaml', sk(2, 0, 2));
        h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
      },
    ],
    [
      'the same inode as at the last check (written in place)',
      (h) => {
        h.files.set('/d/app.yaml', sk(1, 12, 2));
        h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
      },
    ],
    [
      'the path is gone and was not written (a deletion)',
      (h) => {
        h.files.delete('/d/app.yaml');
        h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
      },
    ],
    [
      'a file written in place is still there (not a temp file renamed away)',
      (h) => {
        h.files.set('/d/app.yaml', sk(2, 12, 2));
        h.files.set('/d/new.conf', sk(3, 5, 2));
        h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
        h.machine.record('change', ['/d/new.conf'], '/d', '/d/new.conf');
      },
    ],
  ];
  for (const [what, events] of cases) {
    await t.test(what, async () => {
      const h = harness();
      h.committed.set('/d/app.yaml', sk(1, 10, 1).key);
      events(h);
      await h.clock.advance(DEBOUNCE - 1);
      assert.equal(h.settled.length, 0, 'no fast path');
      await h.clock.advance(1);
      assert.deepEqual(times(h), [DEBOUNCE]);
    });
  }
});

test('fast path: the temp file of an atomic save, written and renamed away, does not hold it back', async () => {
  const h = harness();
  h.committed.set('/d/app.conf', sk(1, 10, 1).key);
  // Created and written in the watched directory, then renamed over app.conf.
  h.machine.record('rename', ['/d/app.conf.tmp'], '/d', '/d/app.conf.tmp');
  h.machine.record('change', ['/d/app.conf.tmp'], '/d', '/d/app.conf.tmp');
  h.files.set('/d/app.conf', sk(2, 12, 2));
  h.machine.record('rename', ['/d/app.conf.tmp'], '/d', '/d/app.conf.tmp');
  h.machine.record('rename', ['/d/app.conf'], '/d', '/d/app.conf');
  await h.clock.advance(SETTLE);
  assert.deepEqual(times(h), [SETTLE]);
  assert.deepEqual([...h.settled[0]!.dirty].sort(), ['/d/app.conf', '/d/app.conf.tmp']);
});

test('fast path: a path named but untouched (e.g. an old ..data directory removed) does not hold it back', async () => {
  const h = harness();
  h.committed.set('/d/config.yaml', sk(1, 10, 1).key);
  h.committed.set('/d/other.yaml', sk(5, 10, 1).key);
  h.files.set('/d/config.yaml', sk(2, 12, 2));
  h.files.set('/d/other.yaml', sk(5, 10, 1));
  h.machine.record('rename', ['/d/config.yaml', '/d/other.yaml'], '/d', '/d/..data');
  await h.clock.advance(SETTLE);
  assert.deepEqual(times(h), [SETTLE]);
});

test('fast path: nothing replaced (every named path untouched) waits for the quiet period', async () => {
  const h = harness();
  h.committed.set('/d/other.yaml', sk(5, 10, 1).key);
  h.files.set('/d/other.yaml', sk(5, 10, 1));
  h.machine.record('rename', ['/d/other.yaml'], '/d', '/d/other.yaml');
  await h.clock.advance(DEBOUNCE);
  assert.deepEqual(times(h), [DEBOUNCE]);
});

test('fast path: a later rename restarts the settle time; the newer look decides', async () => {
  const h = harness();
  h.committed.set('/d/app.yaml', sk(1, 10, 1).key);
  h.files.set('/d/app.yaml', sk(2, 12, 2));
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(SETTLE - 2);
  h.files.set('/d/app.yaml', sk(3, 14, 3));
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(SETTLE - 1);
  assert.equal(h.settled.length, 0);
  await h.clock.advance(1);
  assert.deepEqual(times(h), [2 * SETTLE - 2]);
});

test('fast path under a storm of renames: a burst within the quiet period after a fast one waits for the quiet period', async () => {
  const h = harness();
  h.committed.set('/d/app.yaml', sk(1, 10, 1).key);
  h.files.set('/d/app.yaml', sk(2, 12, 2));
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(SETTLE);
  assert.deepEqual(times(h), [SETTLE]);
  h.committed.set('/d/app.yaml', sk(2, 12, 2).key); // what the check recorded
  h.files.set('/d/app.yaml', sk(3, 14, 3));
  await h.clock.advanceTo(50);
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(DEBOUNCE);
  assert.deepEqual(times(h), [SETTLE, 50 + DEBOUNCE], 'the second burst took the quiet period');
  // Once a quiet period passed since the last fast check, the fast path is open again.
  h.committed.set('/d/app.yaml', sk(3, 14, 3).key);
  h.files.set('/d/app.yaml', sk(4, 16, 4));
  await h.clock.advanceTo(400);
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(SETTLE);
  assert.deepEqual(times(h), [SETTLE, 50 + DEBOUNCE, 400 + SETTLE]);
});

test('close(): the burst in progress is dropped, no timer is left, later events are ignored', async () => {
  const h = harness();
  h.files.set('/d/app.yaml', sk(2, 12, 2));
  h.machine.record('rename', ['/d/app.yaml'], '/d', '/d/app.yaml');
  assert.equal(h.clock.pendingTimers, 3, 'quiet period, max wait, fast-path look');
  h.machine.close();
  assert.equal(h.clock.pendingTimers, 0);
  assert.equal(h.machine.pending, false);
  h.machine.record('change', ['/d/app.yaml'], '/d', '/d/app.yaml');
  await h.clock.advance(10 * MAX_WAIT);
  assert.equal(h.settled.length, 0);
  assert.equal(h.clock.pendingTimers, 0);
});
