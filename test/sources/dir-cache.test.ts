// dirSource reads again only the fragments whose stat changed since they
// were read (device, inode, size, mtime, ctime), and any fragment changed
// shortly before it was read (the stat of a write in the same clock tick
// can equal the old one). Real files throughout; which files a load opens
// is observed by a spy on fs.promises.open (what the careful reader calls).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, mock, test } from 'node:test';
import { dirSource } from '../../src/index.js';
import { loadConfigFile, memoizedFile, type ParseMemo } from '../../src/sources/load-file.js';
import { RACY_WINDOW_MS } from '../../src/sources/read.js';
import type { LoadContext } from '../../src/shared/types.js';
import { failure, loadCtx, put, tempDir } from './tmp.js';

/** Runs `fn` and returns the paths the careful reader opened meanwhile (in order, repeats kept). */
async function opened(fn: () => Promise<unknown>): Promise<string[]> {
  const paths: string[] = [];
  const original = fs.promises.open;
  mock.method(fs.promises, 'open', (path: fs.PathLike, ...rest: [flags?: string | number, mode?: fs.Mode]) => {
    paths.push(String(path));
    return original(path, ...rest);
  });
  syncBuiltinESMExports();
  try {
    await fn();
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
  return paths;
}

const unique = (paths: string[]) => [...new Set(paths)];

/** A whole second, so that utimes (microseconds at best) can put a file's times back exactly. */
const WHOLE_SECOND = new Date('2026-01-01T00:00:00Z');

/** Writes a fragment whose atime and mtime are WHOLE_SECOND. */
async function putDated(dir: string, name: string, content: string): Promise<string> {
  const path = await put(dir, name, content);
  await utimes(path, WHOLE_SECOND, WHOLE_SECOND);
  return path;
}

/** Rewrites a file with content of the same length and puts its times back (`touch -d`): only ctime tells. */
async function sameSizeSameMtime(path: string, content: string): Promise<void> {
  const before = await stat(path);
  assert.equal(before.mtimeMs, WHOLE_SECOND.getTime());
  assert.equal(Buffer.byteLength(content), before.size);
  await writeFile(path, content);
  await utimes(path, WHOLE_SECOND, WHOLE_SECOND);
  const after = await stat(path);
  assert.equal(after.size, before.size);
  assert.equal(after.mtimeMs, before.mtimeMs);
}

describe('a directory whose fragments were read long after they were written', () => {
  let root = '';
  const names = ['10-a.yaml', '20-b.yaml', '30-c.yaml', '40-d.yaml'];
  const content = (name: string, v: string) => `${name.slice(3, 4)}: {v: ${v}}\n`;
  // One directory per test, written now and loaded once the racy window has passed.
  const cases = ['unchanged', 'touch', 'touchedLongAgo', 'replaced', 'older', 'added', 'verify', 'coarse'] as const;
  const dirs = {} as Record<(typeof cases)[number], string>;
  const sources = {} as Record<(typeof cases)[number], ReturnType<typeof dirSource>>;
  let spare = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'reloadkit-dir-cache-'));
    for (const c of cases) {
      dirs[c] = join(root, c);
      await mkdir(dirs[c]);
      for (const n of names) await putDated(dirs[c], n, content(n, 'old'));
      sources[c] = dirSource(dirs[c]);
    }
    spare = await put(root, 'spare.yaml', content('20-b.yaml', 'new'));
    // Not synchronisation: a file counts as settled only once its ctime is older than the window.
    const settle = () => new Promise((res) => setTimeout(res, RACY_WINDOW_MS + 200));
    await settle();
    for (const c of cases) await sources[c].load(loadCtx());
    // An edit that is itself settled by the time of the next load: only its ctime differs.
    await sameSizeSameMtime(join(dirs.touchedLongAgo, '20-b.yaml'), content('20-b.yaml', 'new'));
    await settle();
  });
  after(() => rm(root, { recursive: true, force: true }));

  test('a load with nothing changed opens no fragment, and gives the same values', async () => {
    let loaded: Awaited<ReturnType<typeof sources.unchanged.load>> | undefined;
    const paths = await opened(async () => (loaded = await sources.unchanged.load(loadCtx())));
    assert.deepEqual(paths, []);
    assert.deepEqual(loaded!.value, { a: { v: 'old' }, b: { v: 'old' }, c: { v: 'old' }, d: { v: 'old' } });
    assert.equal(loaded!.files.length, 4);
  });

  test('an edit that keeps size and mtime (touch -d back) is seen by its ctime, and only that fragment is read', async () => {
    const path = join(dirs.touch, '20-b.yaml');
    await sameSizeSameMtime(path, content('20-b.yaml', 'new'));
    let loaded: Awaited<ReturnType<typeof sources.touch.load>> | undefined;
    const paths = await opened(async () => (loaded = await sources.touch.load(loadCtx())));
    assert.deepEqual(unique(paths), [path]);
    assert.deepEqual((loaded!.value as Record<string, unknown>).b, { v: 'new' });
  });

  test('the same kind of edit, made seconds before the load: the ctime differs from the one read', async () => {
    const loaded = await sources.touchedLongAgo.load(loadCtx());
    assert.deepEqual((loaded.value as Record<string, unknown>).b, { v: 'new' });
  });

  test('a fragment replaced by another inode (atomic save) with the same size and mtime is seen', async () => {
    const path = join(dirs.replaced, '30-c.yaml');
    const old = await stat(path);
    const tmp = join(root, 'c.tmp');
    await writeFile(tmp, content('30-c.yaml', 'new'));
    await utimes(tmp, WHOLE_SECOND, WHOLE_SECOND);
    assert.equal((await stat(tmp)).mtimeMs, old.mtimeMs);
    await rename(tmp, path);
    assert.notEqual((await stat(path)).ino, old.ino);
    const loaded = await sources.replaced.load(loadCtx());
    assert.deepEqual((loaded.value as Record<string, unknown>).c, { v: 'new' });
  });

  test('a file written before the last load and renamed over a fragment (an old ctime, a new inode) is seen', async () => {
    const path = join(dirs.older, '20-b.yaml');
    await rename(spare, path);
    const loaded = await sources.older.load(loadCtx());
    assert.deepEqual((loaded.value as Record<string, unknown>).b, { v: 'new' });
  });

  test('deleted and added fragments: their settings go and come; only the new one is read', async () => {
    await rm(join(dirs.added, '10-a.yaml'));
    const added = await put(dirs.added, '50-e.yaml', 'e: {v: new}\n');
    let loaded: Awaited<ReturnType<typeof sources.added.load>> | undefined;
    const paths = await opened(async () => (loaded = await sources.added.load(loadCtx())));
    assert.deepEqual(unique(paths), [added]);
    assert.deepEqual(loaded!.value, { b: { v: 'old' }, c: { v: 'old' }, d: { v: 'old' }, e: { v: 'new' } });
    assert.deepEqual(
      loaded!.files.map((f) => f.path),
      ['20-b.yaml', '30-c.yaml', '40-d.yaml', '50-e.yaml'].map((n) => join(dirs.added, n)),
    );
  });

  test('with signatures, a fragment not read again is still verified, with the bytes it was parsed from', async () => {
    const src = sources.verify;
    const seen: string[] = [];
    const verify: LoadContext['verify'] = (p, bytes) => void seen.push(`${p}=${Buffer.from(bytes).toString()}`);
    await src.load(loadCtx({ verify })); // reads each fragment once more, keeping its bytes
    seen.length = 0;
    const paths = await opened(() => src.load(loadCtx({ verify })));
    assert.deepEqual(paths, []);
    assert.deepEqual(
      seen,
      names.map((n) => `${join(dirs.verify, n)}=${content(n, 'old')}`),
    );
    // A signature that stopped verifying fails the load, whether or not the fragment was read.
    const refuse: LoadContext['verify'] = (p) => {
      if (p.endsWith('30-c.yaml')) throw new Error('signature verification failed');
    };
    assert.equal(await failure(src.load(loadCtx({ verify: refuse }))), 'signature verification failed');
  });

  test('the stat decides alone only for a file read well after its last change: a coarse clock cannot hide an edit', async (t) => {
    // Simulates a file system whose clock tick is coarse: the stat after an edit is handed
    // over as the old one. A settled entry trusts it; a racy one (read just after a write) does not.
    const settled = join(dirs.coarse, '40-d.yaml');
    const memo: ParseMemo = new Map();
    const ctx = loadCtx();
    const settledStat = await stat(settled, { bigint: true });
    await loadConfigFile(settled, 'yaml', { memo }, ctx, settledStat);
    assert.deepEqual(memoizedFile(settled, 'yaml', { memo }, settledStat)?.value, { d: { v: 'old' } });
    // Were the clock to leave the stat as it was, a settled entry would be trusted…
    await writeFile(settled, content('40-d.yaml', 'new'));
    assert.deepEqual(memoizedFile(settled, 'yaml', { memo }, settledStat)?.value, { d: { v: 'old' } });
    // …which a real clock does not: the ctime moved.
    assert.equal(memoizedFile(settled, 'yaml', { memo }, await stat(settled, { bigint: true })), null);

    const dir = await tempDir(t);
    const racy = await put(dir, 'racy.yaml', 'x: 1\n');
    const racyStat = await stat(racy, { bigint: true });
    await loadConfigFile(racy, 'yaml', { memo }, ctx, racyStat);
    await writeFile(racy, 'x: 2\n');
    assert.equal(memoizedFile(racy, 'yaml', { memo }, racyStat), null);
    assert.deepEqual((await loadConfigFile(racy, 'yaml', { memo }, ctx, racyStat)).value, { x: 2 });
  });
});

describe('fragments changed shortly before they were read', () => {
  test('an edit in the same second as the previous read, keeping size and mtime, is seen', async (t) => {
    const dir = await tempDir(t);
    const path = await putDated(dir, '10-a.yaml', 'a: 1\n');
    await putDated(dir, '20-b.yaml', 'b: 1\n');
    const src = dirSource(dir);
    assert.deepEqual((await src.load(loadCtx())).value, { a: 1, b: 1 });
    await sameSizeSameMtime(path, 'a: 2\n');
    assert.deepEqual((await src.load(loadCtx())).value, { a: 2, b: 1 });
    await sameSizeSameMtime(path, 'a: 3\n');
    assert.deepEqual((await src.load(loadCtx())).value, { a: 3, b: 1 });
  });

  test('${VAR} in an unchanged fragment is expanded again on every load', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-a.yaml', 'url: "http://${RELOADKIT_TEST_DIR_CACHE_HOST}/"\nplain: {x: 1}\n');
    const name = 'RELOADKIT_TEST_DIR_CACHE_HOST';
    t.after(() => delete process.env[name]);
    process.env[name] = 'one';
    const src = dirSource(dir, { env: true });
    assert.deepEqual((await src.load(loadCtx())).value, { url: 'http://one/', plain: { x: 1 } });
    process.env[name] = 'two';
    assert.deepEqual((await src.load(loadCtx())).value, { url: 'http://two/', plain: { x: 1 } });
  });

  test('values shared between loads are frozen, and a merge copies what it changes', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-a.yaml', 'server: {port: 80, tls: {cert: a}}\nlist: [1, 2]\n');
    const b = await put(dir, '20-b.yaml', 'server: {tls: {key: b}}\n');
    const src = dirSource(dir);
    const first = (await src.load(loadCtx())).value as { server: { tls: object }; list: number[] };
    assert.deepEqual(first, { server: { port: 80, tls: { cert: 'a', key: 'b' } }, list: [1, 2] });
    assert.equal(Object.isFrozen(first.list), true);
    assert.equal(Object.isFrozen(first.server), false); // the merge's own copy
    await rm(b);
    assert.deepEqual((await src.load(loadCtx())).value, { server: { port: 80, tls: { cert: 'a' } }, list: [1, 2] });
  });
});
