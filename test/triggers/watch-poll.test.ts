// The polling fallback: inotify limit errors injected at the fs.watch
// boundary (the only fake), everything else real: real files, real polling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { PollingDir, type DirEvent } from '../../src/triggers/watch-poll.js';
import type { WatchFunction } from '../../src/triggers/watch.js';
import { waitFor } from '../helpers/wait.js';
import { atomicSave, expectChanges, quiesce, realWatch, sleep, startRecorder, tempDir } from './watch-helpers.js';

function limitError(code: 'ENOSPC' | 'EMFILE', dir: string): NodeJS.ErrnoException {
  const text = code === 'ENOSPC' ? 'System limit for number of file watchers reached' : 'too many open files';
  return Object.assign(new Error(`${code}: ${text}, watch '${dir}'`), { code, errno: code === 'ENOSPC' ? -28 : -24, syscall: 'watch' });
}

/** fs.watch that throws `code` synchronously (as Node does for inotify_add_watch failures) while `failing()`. */
function throwingWatch(code: 'ENOSPC' | 'EMFILE', failing: () => boolean): WatchFunction & { calls: number } {
  const fn = ((dir, listener) => {
    fn.calls += 1;
    if (failing()) throw limitError(code, dir);
    return realWatch(dir, listener);
  }) as WatchFunction & { calls: number };
  fn.calls = 0;
  return fn;
}

test('ENOSPC from fs.watch: polling instead, counted, reported by health(), changes still seen', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }], { watchFunction: throwingWatch('ENOSPC', () => true), pollMs: 50, rescanMs: 0 });
  assert.equal(rec.errors.length, 1);
  assert.equal((rec.errors[0] as NodeJS.ErrnoException).code, 'ENOSPC');
  const h = rec.watcher.health();
  assert.equal(h.ok, false);
  assert.match(h.reason!, /polling 1 directory every 50 ms \(ENOSPC; raise fs\.inotify\.max_user_watches\)/);
  const warn = rec.logger.lines.find((l) => l.level === 'warn');
  assert.equal(warn?.obj.code, 'ENOSPC');
  assert.match(warn!.msg!, /inotify limit reached; polling/);

  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 1);
  await atomicSave(file, 'v: 3\n');
  await expectChanges(rec, 2);
  // The poller looks only at the names it was given, so an unrelated file gives no event to
  // wait for: this stays a real-time check, six poll intervals long.
  await writeFile(join(dir, 'unrelated.yaml'), 'x: 1\n');
  await sleep(300);
  await quiesce(rec);
  assert.equal(rec.changes.length, 2);
  assert.ok(rec.events >= 2, 'polled differences count as events');
});

test('EMFILE reported later by a live watch (an error event): polling takes over for that directory', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const emitters: EventEmitter[] = [];
  const erroring: WatchFunction = (d, listener) => {
    const real = realWatch(d, listener);
    const e = new EventEmitter();
    emitters.push(e);
    return {
      close: () => real.close(),
      on: (ev: 'error', fn: (err: Error) => void) => e.on(ev, fn),
    };
  };
  const rec = await startRecorder(t, [{ path: file }], { watchFunction: erroring, pollMs: 50, rescanMs: 0 });
  assert.deepEqual(rec.watcher.health(), { ok: true, mode: 'watching' });
  emitters[0]!.emit('error', limitError('EMFILE', dir));
  await waitFor(() => !rec.watcher.health().ok, 'health to show polling');
  assert.match(rec.watcher.health().reason!, /EMFILE/);
  assert.equal(rec.errors.length, 1);
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0]!.paths, [file]);
});

test('at a rescan, a polled directory is watched again once fs.watch works', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  let limit = true;
  const fn = throwingWatch('ENOSPC', () => limit);
  const rec = await startRecorder(t, [{ path: file }], { watchFunction: fn, pollMs: 50, rescanMs: 150 });
  assert.equal(rec.watcher.health().ok, false);
  limit = false; // e.g. the operator raised fs.inotify.max_user_watches
  await waitFor(() => rec.watcher.health().ok, 'health to recover after a rescan');
  const calls = fn.calls;
  const events = rec.events;
  await writeFile(file, 'v: 2\n');
  // Raw events again, and the poller is gone (a rescan may report the change first).
  await waitFor(() => rec.events > events, 'an fs.watch event after recovery');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0]!.paths, [file]);
  assert.equal(fn.calls, calls, 'no further fs.watch attempts once it works');
  assert.deepEqual(rec.watcher.health(), { ok: true, mode: 'watching' });
});

test('polling a recursive tree: new subdirectory, file in it, deletion', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.conf'), 'a');
  const rec = await startRecorder(t, [{ path: dir, recursive: true }], { watchFunction: throwingWatch('ENOSPC', () => true), pollMs: 50, rescanMs: 0 });
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'sub', 'b.conf'), 'b');
  await waitFor(() => rec.changes.some((c) => c.paths.includes(join(dir, 'sub', 'b.conf'))), 'the new file in the new subdirectory');
  const n = rec.changes.length;
  await writeFile(join(dir, 'sub', 'b.conf'), 'b2');
  await expectChanges(rec, n + 1);
  await unlink(join(dir, 'a.conf'));
  await expectChanges(rec, n + 2);
  assert.deepEqual(rec.changes.at(-1)!.paths, [join(dir, 'a.conf')]);
  // The tree's parent (for the tree itself), the tree, its new subdirectory.
  assert.match(rec.watcher.health().reason!, /polling 3 directories/);
});

test('PollingDir by itself: appear, in-place change, replacement, disappearance, the directory itself', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'd');
  await mkdir(dir);
  const seen: [DirEvent, string | null][] = [];
  const p = new PollingDir(
    dir,
    () => ['x.yaml'],
    (ev, name) => void seen.push([ev, name]),
    20,
  );
  t.after(() => p.close());
  await p.start();
  // The events one action caused: marked before it (a tick may run while it is awaited),
  // collected until two more looks were taken after the first event (a look may see a write half done).
  const eventsOf = async (what: string, action: () => Promise<void>): Promise<[DirEvent, string | null][]> => {
    const mark = seen.length;
    await action();
    await waitFor(() => seen.length > mark, what);
    const ticks = p.ticks;
    await waitFor(() => p.ticks >= ticks + 2, `two more looks after ${what}`);
    return seen.slice(mark);
  };
  await writeFile(join(dir, 'other.yaml'), 'not looked at');
  const appeared = await eventsOf('appearance', () => writeFile(join(dir, 'x.yaml'), '1'));
  assert.deepEqual(appeared[0], ['rename', 'x.yaml']);
  const changed = await eventsOf('in-place change', () => writeFile(join(dir, 'x.yaml'), '22'));
  assert.deepEqual(new Set(changed.map(String)), new Set(['change,x.yaml']));
  await writeFile(join(dir, 'x.tmp'), '333');
  const replaced = await eventsOf('replacement', () => rename(join(dir, 'x.tmp'), join(dir, 'x.yaml')));
  assert.deepEqual(replaced, [['rename', 'x.yaml']]);
  const removed = await eventsOf('disappearance', () => unlink(join(dir, 'x.yaml')));
  assert.deepEqual(removed, [['rename', 'x.yaml']]);
  const gone = await eventsOf('the directory deleted', () => rm(dir, { recursive: true }));
  assert.deepEqual(gone, [['rename', basename(dir)]]);
  assert.ok(!seen.some(([, n]) => n === 'other.yaml'), 'entries not asked for are not reported');
});
