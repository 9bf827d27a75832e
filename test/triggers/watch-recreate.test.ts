// A watched directory deleted and recreated faster than the quiet period
// (`rm -rf conf && mkdir conf && write conf/config.yaml`). On ext4 the new
// directory usually gets the old inode number, so "same dev:ino" does not
// mean "same directory": the old fs.watch handle is dead (the kernel dropped
// its watch with the old directory) and must be reopened, or every later
// edit waits for the periodic rescan. Real files and real inotify; the rescan
// is set to a minute so only a live watch can see an edit in time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { WatchFunction } from '../../src/triggers/watch.js';
import type { WatchSpec } from '../../src/shared/types.js';
import { waitFor } from '../helpers/wait.js';
import { readNow, realWatch, startRecorder, tempDir, type Recorder } from './watch-helpers.js';

const ROUNDS = 25;
/** Only the rescan (a minute) could report an edit to a dead watch. */
const RESCAN_MS = 60_000;
/** An edit through a live watch takes the quiet period (100 ms); this is slack for a loaded machine, far below the rescan. */
const SEEN_WITHIN_MS = 3000;

async function inode(path: string): Promise<bigint> {
  return (await stat(path, { bigint: true })).ino;
}

/** Waits until the last change reported `content` for the watched file; fails after SEEN_WITHIN_MS. */
async function seen(rec: Recorder, content: string, what: string): Promise<void> {
  await waitFor(() => rec.changes.at(-1)?.seen === content, `${what} (last change: ${JSON.stringify(rec.changes.at(-1))})`, SEEN_WITHIN_MS);
}

interface Layout {
  /** The directory deleted and recreated. */
  dir: string;
  /** The file edited (inside `dir`, maybe deeper). */
  file: string;
  spec: WatchSpec;
}

const layouts: Record<string, (root: string) => Layout> = {
  "a watched file's directory": (root) => ({
    dir: join(root, 'conf'),
    file: join(root, 'conf', 'config.yaml'),
    spec: { path: join(root, 'conf', 'config.yaml') },
  }),
  'a watched directory': (root) => ({
    dir: join(root, 'conf.d'),
    file: join(root, 'conf.d', 'site.conf'),
    spec: { path: join(root, 'conf.d') },
  }),
  'a recursive tree (edits in its subdirectory)': (root) => ({
    dir: join(root, 'conf.d'),
    file: join(root, 'conf.d', 'sites', 'a.conf'),
    spec: { path: join(root, 'conf.d'), recursive: true },
  }),
};

for (const [name, layoutOf] of Object.entries(layouts)) {
  test(`${name} deleted and recreated within the quiet period, ${ROUNDS} times: every later edit is seen at once`, async (t) => {
    const { dir, file, spec } = layoutOf(await tempDir(t));
    const fileDir = dirname(file);
    await mkdir(fileDir, { recursive: true });
    await writeFile(file, 'v: 0\n');
    const rec = await startRecorder(t, [spec], { rescanMs: RESCAN_MS }, readNow(file));
    let reused = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const before = await inode(fileDir);
      // `rm -rf dir && mkdir -p … && write`: well within the 100 ms quiet period.
      await rm(dir, { recursive: true });
      await mkdir(fileDir, { recursive: true });
      await writeFile(file, `v: ${round}\n`);
      if ((await inode(fileDir)) === before) reused += 1;
      await seen(rec, `v: ${round}\n`, `round ${round}: the recreated directory's file`);
      await writeFile(file, `v: ${round} edited\n`);
      await seen(rec, `v: ${round} edited\n`, `round ${round}: an in-place edit after the recreate`);
      assert.deepEqual(rec.watcher.health(), { ok: true, mode: 'watching' }, `round ${round}: every watch reopened`);
    }
    t.diagnostic(`the edited file's new directory had the old inode number in ${reused} of ${ROUNDS} rounds`);
  });
}

/**
 * The real fs.watch, except that `kill(dir)` makes the handle on `dir`
 * report what the kernel reports when a watched directory goes away (a
 * 'rename' naming the directory itself: IN_DELETE_SELF, IN_IGNORED) and then
 * nothing more, while the directory stays where it is with the same inode:
 * a dead handle the watcher cannot tell apart by looking at the directory.
 */
function killableWatch(): WatchFunction & { kill(dir: string): void; opened: string[] } {
  const live = new Map<string, () => void>();
  const fn = ((dir, listener) => {
    fn.opened.push(dir);
    let dead = false;
    const real = realWatch(dir, (event, name) => {
      if (!dead) listener(event, name);
    });
    live.set(dir, () => {
      listener('rename', basename(dir));
      dead = true;
    });
    return real;
  }) as WatchFunction & { kill(dir: string): void; opened: string[] };
  fn.opened = [];
  fn.kill = (dir) => live.get(dir)!();
  return fn;
}

test('a handle that reported its own directory gone is distrusted (health) until reopened, and edits are seen after', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'conf');
  const file = join(dir, 'config.yaml');
  await mkdir(dir);
  await writeFile(file, 'v: 1\n');
  const watchFunction = killableWatch();
  const rec = await startRecorder(t, [{ path: file }], { rescanMs: RESCAN_MS, watchFunction }, readNow(file));
  assert.deepEqual(watchFunction.opened, [dir]);
  assert.deepEqual(rec.watcher.health(), { ok: true, mode: 'watching' });
  watchFunction.kill(dir);
  const h = rec.watcher.health();
  assert.equal(h.ok, false, 'a handle that saw its directory go is not trusted');
  assert.match(h.reason ?? '', /1 directory watch lost .*reopening/);
  assert.ok(h.reason?.includes(dir), h.reason);
  // The check the event scheduled reopens the handle, although the directory is the same.
  await waitFor(() => rec.watcher.health().ok, 'health to recover once the watch is reopened', SEEN_WITHIN_MS);
  assert.deepEqual(watchFunction.opened, [dir, dir]);
  assert.equal(rec.changes.length, 0, 'nothing changed');
  await writeFile(file, 'v: 2\n');
  await seen(rec, 'v: 2\n', 'an in-place edit through the reopened watch');
});

test('a recreated directory is told apart by its birth time even when the event naming it was lost', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'conf');
  const file = join(dir, 'config.yaml');
  await mkdir(dir);
  await writeFile(file, 'v: 0\n');
  // The real fs.watch without the events that name the watched directory itself
  // (as if they were dropped): only the events for the file schedule the check.
  const withoutSelfEvents: WatchFunction = (d, listener) =>
    realWatch(d, (event, name) => {
      if (name !== basename(d)) listener(event, name);
    });
  const rec = await startRecorder(t, [{ path: file }], { rescanMs: RESCAN_MS, watchFunction: withoutSelfEvents }, readNow(file));
  for (let round = 1; round <= 5; round++) {
    await rm(dir, { recursive: true });
    await mkdir(dir);
    await writeFile(file, `v: ${round}\n`);
    await seen(rec, `v: ${round}\n`, `round ${round}: the recreated directory's file`);
    await writeFile(file, `v: ${round} edited\n`);
    await seen(rec, `v: ${round} edited\n`, `round ${round}: an in-place edit after the recreate`);
  }
});
