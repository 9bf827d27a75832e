// The watcher against real files and real fs.watch (inotify): every edit
// sequence it must handle, each in its own test. "Nothing more happened" is
// checked once the watcher has handled every event (quiesce: settled() after
// the queued events are read), not after a sleep.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFile, chmod, mkdir, rename, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createWatcher } from '../../src/triggers/watch.js';
import type { WatchFunction } from '../../src/triggers/watch.js';
import { waitFor } from '../helpers/wait.js';
import {
  atomicSave,
  ConfigMapVolume,
  expectChanges,
  FakeClock,
  quiesce,
  readNow,
  realWatch,
  sleep,
  startRecorder,
  tempDir,
  timeToChange,
  vimSaveBackupcopyNo,
  vimSaveBackupcopyYes,
} from './watch-helpers.js';

test('in-place write: one change', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 1);
  assert.equal(rec.changes.length, 1);
  assert.deepEqual(rec.changes[0], { trigger: 'watch', paths: [file], seen: 'v: 2\n' });
});

test('atomic save (temp file + rename over): one change', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
  await atomicSave(file, 'v: 2\n');
  await expectChanges(rec, 1);
  assert.equal(rec.changes.length, 1);
  assert.equal(rec.changes[0]!.seen, 'v: 2\n');
  // A second save is seen too: the directory, not the replaced inode, is watched.
  await atomicSave(file, 'v: 3\n');
  await expectChanges(rec, 2);
  assert.equal(rec.changes.length, 2);
  assert.equal(rec.changes[1]!.seen, 'v: 3\n');
});

/** A quiet period long enough to tell from the fast path (~10 ms), short enough to wait for. */
const QUIET_MS = 300;
/** Node's timers may run up to a millisecond before performance.now() says they are due. */
const TIMER_SLACK_MS = 2;

test('fast path: a replaced file is reported without waiting for the quiet period; an in-place write is not', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  // A quiet period of a minute: only the fast path can report within the test's time.
  const rec = await startRecorder(t, [{ path: file }], { debounceMs: 60_000, maxWaitMs: 120_000 }, readNow(file));
  await atomicSave(file, 'v: 2\n');
  await waitFor(() => rec.changes.length === 1, 'the fast path to report the atomic save');
  assert.equal(rec.changes[0]!.seen, 'v: 2\n');
  await rec.watcher.close();
  // The in-place write is reported only when the quiet period is over.
  const quiet = await startRecorder(t, [{ path: file }], { debounceMs: QUIET_MS }, readNow(file));
  const elapsed = await timeToChange(quiet, () => writeFile(file, 'v: 3\n'));
  assert.equal(quiet.changes[0]!.seen, 'v: 3\n');
  assert.ok(elapsed >= QUIET_MS - TIMER_SLACK_MS, `an in-place write waits for the quiet period (${QUIET_MS} ms): reported after ${elapsed} ms`);
});

test('fast path in a watched directory: the temp file of an atomic save, renamed away, does not hold it back', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.conf');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: dir }], { debounceMs: 60_000, maxWaitMs: 120_000 }, readNow(file));
  // The temp file is created and written inside the watched directory, then renamed over.
  await atomicSave(file, 'v: 2\n');
  await waitFor(() => rec.changes.length === 1, 'the fast path to report the atomic save');
  assert.equal(rec.changes[0]!.seen, 'v: 2\n');
  assert.deepEqual(rec.changes[0]!.paths, [join(dir, 'app.conf')]);
});

test('no fast path in a watched directory for a file created and written in place (it may be half-written)', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'app.conf'), 'v: 1\n');
  const rec = await startRecorder(t, [{ path: dir }], { debounceMs: QUIET_MS });
  const elapsed = await timeToChange(rec, () => writeFile(join(dir, 'new.conf'), 'n: 1\n'));
  assert.deepEqual(rec.changes[0]!.paths, [join(dir, 'new.conf')]);
  assert.ok(
    elapsed >= QUIET_MS - TIMER_SLACK_MS,
    `a file created and written in place waits for the quiet period (${QUIET_MS} ms): reported after ${elapsed} ms`,
  );
});

const vimSequences = [
  ['no (rename to file~, write a new file)', vimSaveBackupcopyNo],
  ['yes (copy to file~, truncate and write in place)', vimSaveBackupcopyYes],
] as const;
for (const [how, save] of vimSequences) {
  test(`vim backupcopy=${how}: exactly one change per save, never the state in between`, async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'app.yaml');
    await writeFile(file, 'v: 1\n');
    const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
    for (let i = 2; i <= 4; i++) {
      await save(file, `v: ${i}\n`);
      await expectChanges(rec, i - 1);
    }
    assert.deepEqual(
      rec.changes.map((c) => c.seen),
      ['v: 2\n', 'v: 3\n', 'v: 4\n'],
    );
  });
}

test('delete, then recreate 2 s later: both are reported, the last with the new content', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
  await unlink(file);
  await expectChanges(rec, 1);
  assert.equal(rec.changes[0]!.seen, null, 'the deletion is a change (a reload then reports the missing file)');
  await sleep(2000);
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 2);
  assert.equal(rec.changes.length, 2);
  assert.equal(rec.changes[1]!.seen, 'v: 2\n');
  // Still watched after coming back.
  await writeFile(file, 'v: 3\n');
  await expectChanges(rec, 3);
  assert.equal(rec.changes[2]!.seen, 'v: 3\n');
});

test('the directory deleted and recreated keeps being watched', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'conf');
  const file = join(dir, 'app.yaml');
  await mkdir(dir);
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
  await rm(dir, { recursive: true });
  await expectChanges(rec, 1);
  assert.equal(rec.changes[0]!.seen, null);
  await mkdir(dir);
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 2);
  assert.equal(rec.changes[1]!.seen, 'v: 2\n');
  // The new directory (another inode) is watched: an in-place write there is seen.
  await writeFile(file, 'v: 3\n');
  await expectChanges(rec, 3);
  assert.equal(rec.changes.length, 3);
  assert.equal(rec.changes[2]!.seen, 'v: 3\n');
});

test('a watched directory tree deleted and recreated keeps being watched', async (t) => {
  const root = await tempDir(t);
  const dir = join(root, 'conf.d');
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'sub', 'a.conf'), 'a1');
  const rec = await startRecorder(t, [{ path: dir, recursive: true }]);
  await rm(dir, { recursive: true });
  await expectChanges(rec, 1);
  await mkdir(join(dir, 'sub'), { recursive: true });
  await writeFile(join(dir, 'sub', 'a.conf'), 'a2');
  await expectChanges(rec, 2);
  await writeFile(join(dir, 'sub', 'a.conf'), 'a3');
  await expectChanges(rec, 3);
  assert.equal(rec.changes.length, 3);
  assert.ok(rec.changes[2]!.paths.includes(join(dir, 'sub', 'a.conf')), JSON.stringify(rec.changes[2]));
});

test('Kubernetes ConfigMap atomic writer: exactly one change per update, over several updates', async (t) => {
  const dir = await tempDir(t);
  const vol = new ConfigMapVolume(dir);
  await vol.create({ 'config.yaml': 'v: 1\n', 'other.yaml': 'o: 1\n' });
  const file = join(dir, 'config.yaml');
  const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
  for (let i = 2; i <= 5; i++) {
    await vol.update({ 'config.yaml': `v: ${i}\n`, 'other.yaml': 'o: 1\n' });
    await expectChanges(rec, i - 1);
    assert.equal(rec.changes.length, i - 1, `update ${i}: ${JSON.stringify(rec.changes)}`);
  }
  assert.deepEqual(
    rec.changes.map((c) => c.seen),
    ['v: 2\n', 'v: 3\n', 'v: 4\n', 'v: 5\n'],
  );
  // An update that changes only another key of the ConfigMap is not a change of config.yaml.
  const events = rec.events;
  await vol.update({ 'config.yaml': 'v: 5\n', 'other.yaml': 'o: 2\n' });
  await waitFor(() => rec.events > events, 'the events of the update');
  await quiesce(rec);
  assert.equal(rec.changes.length, 4);
});

test('ConfigMap mounted as a directory (dirSource-style filter): one change per update', async (t) => {
  const dir = await tempDir(t);
  const vol = new ConfigMapVolume(dir);
  await vol.create({ 'a.yaml': 'a: 1\n', 'b.yaml': 'b: 1\n' });
  const filter = (rel: string) => rel === '..data' || /^[^.][^/]*\.yaml$/.test(rel);
  const rec = await startRecorder(t, [{ path: dir, filter }]);
  for (let i = 2; i <= 4; i++) {
    await vol.update({ 'a.yaml': `a: ${i}\n`, 'b.yaml': 'b: 1\n' });
    await expectChanges(rec, i - 1);
    assert.equal(rec.changes.length, i - 1, JSON.stringify(rec.changes));
    assert.deepEqual(rec.changes[i - 2]!.paths, [join(dir, 'a.yaml')]);
  }
});

test('a symlinked file: writes to its target in another directory are seen', async (t) => {
  const root = await tempDir(t);
  await mkdir(join(root, 'real'));
  await mkdir(join(root, 'etc'));
  const target = join(root, 'real', 'app.yaml');
  const link = join(root, 'etc', 'app.yaml');
  await writeFile(target, 'v: 1\n');
  await symlink(target, link);
  const rec = await startRecorder(t, [{ path: link }], {}, readNow(link));
  await writeFile(target, 'v: 2\n');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0], { trigger: 'watch', paths: [link], seen: 'v: 2\n' });
  // Repointing the link is a change too.
  const other = join(root, 'real', 'next.yaml');
  await writeFile(other, 'v: 3\n');
  await symlink(other, `${link}.new`);
  await rename(`${link}.new`, link);
  await expectChanges(rec, 2);
  assert.equal(rec.changes[1]!.seen, 'v: 3\n');
});

test('a file missing at start: warned, then reported when created (without waiting for the rescan)', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'later', 'deeper', 'app.yaml');
  const rec = await startRecorder(t, [{ path: file }], { rescanMs: 0 }, readNow(file));
  const warn = rec.logger.lines.find((l) => l.level === 'warn');
  assert.ok(warn, 'a warning for the missing path');
  assert.equal(warn.obj.path, file);
  assert.equal(warn.obj.watching, dir, 'the nearest existing ancestor is watched');
  assert.deepEqual(rec.watcher.health(), { ok: true, mode: 'watching' });
  await mkdir(join(dir, 'later', 'deeper'), { recursive: true });
  await writeFile(file, 'v: 1\n');
  await expectChanges(rec, 1);
  assert.equal(rec.changes.length, 1);
  assert.equal(rec.changes[0]!.seen, 'v: 1\n');
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 2);
  assert.equal(rec.changes[1]!.seen, 'v: 2\n');
});

test('a path that appears, disappears and reappears is noticed each time', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  const rec = await startRecorder(t, [{ path: file }], { rescanMs: 0 }, readNow(file));
  await writeFile(file, 'v: 1\n');
  await expectChanges(rec, 1);
  await unlink(file);
  await expectChanges(rec, 2);
  await atomicSave(file, 'v: 2\n');
  await expectChanges(rec, 3);
  assert.deepEqual(
    rec.changes.map((c) => c.seen),
    ['v: 1\n', null, 'v: 2\n'],
  );
});

/** A child process writing `chunks` pieces with `pauseMs` between them. */
function slowWriter(path: string, chunks: string[], pauseMs: number, mode: 'truncate' | 'create'): Promise<void> {
  const script = `
    const fs = require('node:fs');
    const [path, chunksJson, pause, mode] = process.argv.slice(1);
    const chunks = JSON.parse(chunksJson);
    if (mode === 'create') { try { fs.unlinkSync(path); } catch {} }
    const fd = fs.openSync(path, mode === 'create' ? 'wx' : 'r+');
    if (mode === 'truncate') fs.ftruncateSync(fd, 0);
    let i = 0;
    const next = () => {
      if (i === chunks.length) { fs.closeSync(fd); return; }
      fs.writeSync(fd, chunks[i++]);
      setTimeout(next, Number(pause));
    };
    ${'setTimeout(next, Number(pause));'}
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, path, JSON.stringify(chunks), String(pauseMs), mode], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}`))));
  });
}

function configChunks(version: number): string[] {
  const lines = Array.from({ length: 12 }, (_, i) => `key${i}: value-${version}-${i}\n`);
  return [...lines, 'complete: true\n'];
}

for (const mode of ['truncate', 'create'] as const) {
  test(`${mode} + chunked slow write from another process: no change sees a partial file`, async (t) => {
    const dir = await tempDir(t);
    const file = join(dir, 'app.yaml');
    await writeFile(file, configChunks(0).join(''));
    // Pauses (25 ms) well below the quiet period (400 ms, slack for a loaded machine),
    // above the fast path's settle time (10 ms); max wait above the whole write.
    const rec = await startRecorder(t, [{ path: file }], { debounceMs: 400, maxWaitMs: 20_000 }, readNow(file));
    for (let v = 1; v <= 3; v++) {
      await slowWriter(file, configChunks(v), 25, mode);
      await expectChanges(rec, v);
    }
    const full = (v: number) => configChunks(v).join('');
    for (const c of rec.changes) assert.ok(c.seen === full(1) || c.seen === full(2) || c.seen === full(3), `partial: ${String(c.seen)}`);
    assert.equal(rec.changes.length, 3);
    assert.equal(rec.changes.at(-1)!.seen, full(3));
  });
}

test('a file created empty and written later is not taken while empty', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  const rec = await startRecorder(t, [{ path: file }], { debounceMs: 400, maxWaitMs: 20_000 }, readNow(file));
  await writeFile(file, '');
  await sleep(60); // longer than the settle check, shorter than the quiet period
  await appendFile(file, 'v: 1\n');
  await expectChanges(rec, 1);
  assert.deepEqual(
    rec.changes.map((c) => c.seen),
    ['v: 1\n'],
  );
});

test('1,000 writes in 2 s: a bounded number of changes, the last content reported', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 0\n');
  const rec = await startRecorder(t, [{ path: file }], {}, readNow(file));
  const t0 = Date.now();
  // Pauses between writes longer than the quiet period (100 ms) let a burst end there; on a
  // loaded machine a write can stall that long, and each such pause may add one change.
  let quietGaps = 0;
  let last = t0;
  for (let i = 1; i <= 1000; i++) {
    if (i % 2 === 0) await writeFile(file, `v: ${i}\n`);
    else await atomicSave(file, `v: ${i}\n`);
    // Spread over about 2 s.
    const due = t0 + i * 2;
    if (Date.now() < due) await sleep(due - Date.now());
    if (Date.now() - last >= 100) quietGaps += 1;
    last = Date.now();
  }
  const elapsed = Date.now() - t0;
  await waitFor(() => rec.changes.at(-1)?.seen === 'v: 1000\n', 'the last content');
  await quiesce(rec);
  // One per max wait (1 s) while writing, one per quiet gap, plus the fast path at the start and the final quiet period.
  const bound = Math.ceil(elapsed / 1000) + quietGaps + 3;
  assert.ok(rec.changes.length <= bound, `${rec.changes.length} changes for 1000 writes in ${elapsed} ms, ${quietGaps} pauses over 100 ms (bound ${bound})`);
  assert.equal(rec.changes.at(-1)!.seen, 'v: 1000\n');
});

test('constant writes: the maximum wait still fires while they go on', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 0\n');
  const rec = await startRecorder(t, [{ path: file }], { debounceMs: 300, maxWaitMs: 600 }, readNow(file));
  let i = 0;
  let writing = true;
  const writer = (async () => {
    while (writing) {
      await writeFile(file, `v: ${++i}\n`);
      await sleep(20); // never 300 ms of quiet
    }
  })();
  try {
    await waitFor(() => rec.changes.length >= 2, 'two changes during constant writes');
  } finally {
    writing = false;
    await writer;
  }
  const during = rec.changes.length;
  assert.ok(during >= 2);
  await waitFor(() => rec.changes.at(-1)?.seen === `v: ${i}\n`, 'the last write after the writes stop');
});

test('an unrelated file in the same directory: no change', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }]);
  const other = join(dir, 'other.yaml');
  await writeFile(other, 'x: 1\n');
  await writeFile(other, 'x: 2\n');
  await atomicSave(other, 'x: 3\n');
  await writeFile(join(dir, '.app.yaml.swp'), 'swap');
  await unlink(other);
  await waitFor(() => rec.events >= 5, 'the raw events of the unrelated files');
  await quiesce(rec);
  assert.equal(rec.changes.length, 0, JSON.stringify(rec.changes));
  // The watcher is alive: a real change after them is seen.
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0]!.paths, [file]);
});

test('an event without a content change (touch, same bytes rewritten, chmod): no change', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const rec = await startRecorder(t, [{ path: file }]);
  const now = new Date();
  await utimes(file, now, now);
  await writeFile(file, 'v: 1\n');
  await atomicSave(file, 'v: 1\n');
  await chmod(file, 0o600);
  await waitFor(() => rec.events >= 4, 'the raw events');
  await quiesce(rec);
  assert.equal(rec.changes.length, 0, JSON.stringify(rec.changes));
});

test('a change to an included file in a watched subdirectory (recursive): a change', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'conf.d', 'sites'), { recursive: true });
  await writeFile(join(dir, 'nginx.conf'), 'include conf.d/sites/*.conf;');
  const site = join(dir, 'conf.d', 'sites', 'a.conf');
  await writeFile(site, 'server {}');
  const rec = await startRecorder(t, [{ path: dir, recursive: true }]);
  await writeFile(site, 'server { listen 81; }');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0]!.paths, [site]);
  // A new subdirectory and a file in it (created right after the directory).
  const deep = join(dir, 'conf.d', 'new', 'b.conf');
  await mkdir(join(dir, 'conf.d', 'new'));
  await writeFile(deep, 'server { listen 82; }');
  await expectChanges(rec, 2);
  assert.ok(
    rec.changes.slice(1).some((c) => c.paths.includes(deep)),
    JSON.stringify(rec.changes),
  );
  const n = rec.changes.length;
  // And a later in-place write in that new subdirectory.
  await writeFile(deep, 'server { listen 83; }');
  await expectChanges(rec, n + 1);
  assert.deepEqual(rec.changes[n]!.paths, [deep]);
});

test('a tree filter: files it rejects never produce a change', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), 'a: 1\n');
  const rec = await startRecorder(t, [{ path: dir, filter: (rel) => rel.endsWith('.yaml') }]);
  await writeFile(join(dir, 'notes.txt'), 'hello');
  await writeFile(join(dir, 'a.yaml.swp'), 'swap');
  await waitFor(() => rec.events >= 2, 'the raw events of the rejected files');
  await quiesce(rec);
  assert.equal(rec.changes.length, 0);
  await atomicSave(join(dir, 'b.yaml'), 'b: 1\n');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0]!.paths, [join(dir, 'b.yaml')]);
});

test('no change after close(): no timer left, every fs.watch handle closed; close() twice is safe', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  const clock = new FakeClock();
  let open = 0;
  const counted: WatchFunction = (d, listener) => {
    const w = realWatch(d, listener);
    open += 1;
    return {
      close: () => {
        w.close();
        open -= 1;
      },
      on: (ev, fn) => w.on(ev, fn),
    };
  };
  const rec = await startRecorder(t, [{ path: file }], { debounceMs: 50, rescanMs: 100, clock, watchFunction: counted });
  // A burst in flight when close() is called must not report either.
  await writeFile(file, 'v: 2\n');
  await waitFor(() => rec.events > 0, 'the write to start a burst');
  assert.ok(clock.pendingTimers >= 3, 'quiet period, max wait and rescan timers are set');
  assert.equal(open, 1);
  await rec.watcher.close();
  await rec.watcher.close();
  assert.equal(clock.pendingTimers, 0, 'close() leaves no timer');
  assert.equal(open, 0, 'close() closes every fs.watch handle');
  await writeFile(file, 'v: 3\n');
  await atomicSave(file, 'v: 4\n');
  await clock.advance(10 * 60_000);
  assert.equal(rec.changes.length, 0);
  assert.equal(rec.watcher.health().ok, false);
  await rec.watcher.settled(); // at once when closed
  await assert.rejects(rec.watcher.setSpecs([{ path: file }]), /closed/);
});

test('setSpecs: a new path is watched (silently recorded), a dropped one is not', async (t) => {
  const dir = await tempDir(t);
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'sub', 'b.yaml');
  await writeFile(a, 'a: 1\n');
  await mkdir(join(dir, 'sub'));
  await writeFile(b, 'b: 1\n');
  const rec = await startRecorder(t, [{ path: a }]);
  await rec.watcher.setSpecs([{ path: b }]);
  assert.equal(rec.changes.length, 0, 'adding a path reports nothing');
  await writeFile(a, 'a: 2\n');
  await writeFile(b, 'b: 2\n');
  await expectChanges(rec, 1);
  assert.equal(rec.changes.length, 1);
  assert.deepEqual(rec.changes[0]!.paths, [b]);
});

test('the rescan catches what the kernel did not report', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'app.yaml');
  await writeFile(file, 'v: 1\n');
  // A watch that never reports anything (as if events were lost).
  const deaf = () => ({ close() {}, on() {} });
  const rec = await startRecorder(t, [{ path: file }], { rescanMs: 200, watchFunction: deaf }, readNow(file));
  await writeFile(file, 'v: 2\n');
  await expectChanges(rec, 1);
  assert.deepEqual(rec.changes[0], { trigger: 'rescan', paths: [file], seen: 'v: 2\n' });
});

test('bad options and specs are refused with clear errors', async () => {
  const onChange = () => {};
  await assert.rejects(createWatcher([], { onChange, debounceMs: -1 }), /debounceMs must be a number of milliseconds/);
  await assert.rejects(createWatcher([], { onChange, maxWaitMs: Number.NaN }), /maxWaitMs/);
  await assert.rejects(createWatcher([], { onChange, rescanMs: 2 ** 40 }), /rescanMs/);
  await assert.rejects(createWatcher([{ path: '' }], { onChange }), /non-empty path/);
  await assert.rejects(createWatcher([{ path: '/tmp/x', filter: 'yaml' as never }], { onChange }), /filter must be a function/);
  await assert.rejects(createWatcher([], {} as never), /onChange/);
  const w = await createWatcher([], { onChange });
  assert.deepEqual(w.health(), { ok: true, mode: 'watching' });
  await w.close();
});
