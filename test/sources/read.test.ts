import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, readFile, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSource } from '../../src/index.js';
import { failure, loadCtx, loadMany, put, startChurner, tempDir } from './tmp.js';

const MiB = 1024 * 1024;
const rewriter = fileURLToPath(new URL('../fixtures/sources/rewriter.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

describe('size limit', () => {
  test('a file of 16 MiB + 1 byte is refused, naming its size and the limit', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'big.yaml', '');
    await truncate(path, 16 * MiB + 1); // sparse: instant to create
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: file is 16.0 MiB (16777217 bytes), over the limit of 16 MiB (16777216 bytes)`);
  });

  test('exactly 16 MiB passes the size check (and fails later, as NUL bytes)', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'edge.yaml', '');
    await truncate(path, 16 * MiB);
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}:1:1: contains a NUL byte (binary file?)`);
  });

  test('a 1 GiB file is refused from its size alone, without reading it', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'huge.json', '');
    await truncate(path, 1024 * MiB);
    // Reading 1 GiB would need a 1 GiB buffer; the size message proves fstat decided.
    assert.match(await failure(fileSource(path).load(loadCtx())), /huge\.json: file is 1 GiB \(1073741824 bytes\), over the limit/);
  });

  test('maxBytes lowers the limit', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: 1\nb: 2\n');
    assert.equal(await failure(fileSource(path, { maxBytes: 5 }).load(loadCtx())), `${path}: file is 10 bytes, over the limit of 5 bytes`);
    assert.deepEqual((await fileSource(path, { maxBytes: 10 }).load(loadCtx())).value, { a: 1, b: 2 });
  });
});

describe('a file rewritten while it is read', () => {
  test('200 loads against a real process rewriting in place: always one complete version', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'race.yaml');
    const a = `version: A\n${Array.from({ length: 50 }, (_, i) => `a${i}: value-${i}`).join('\n')}\n`;
    const b = `version: B\n${Array.from({ length: 150 }, (_, i) => `b${i}: other-value-${i}`).join('\n')}\n`;
    const expectA = { version: 'A', ...Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`a${i}`, `value-${i}`])) };
    const expectB = { version: 'B', ...Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`b${i}`, `other-value-${i}`])) };
    await writeFile(path, a);
    const rewriting = await startChurner(t, [rewriter, path, a, b]);

    const src = fileSource(path);
    let seen: Record<string, number>;
    let out: string;
    try {
      seen = await loadMany(
        200,
        () => src.load(loadCtx()),
        ({ value }) => {
          const version = (value as { version?: string }).version;
          assert.deepEqual(value, version === 'A' ? expectA : expectB);
          return version!;
        },
        `${path}: config file kept changing during read`,
      );
    } finally {
      out = await rewriting.stop();
    }
    const writes = Number(/writes (\d+)/.exec(out)?.[1]);
    t.diagnostic(`loads: ${JSON.stringify(seen)}, rewrites during the loads: ${writes}`);
    // The writer really raced the reader, and complete versions did get through.
    assert.ok(writes > 200, `only ${writes} rewrites`);
    assert.ok((seen.A ?? 0) + (seen.B ?? 0) > 0, 'no load succeeded');
  });

  test('a writer that never settles: a complete version or "kept changing", never a torn read', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'busy.json');
    // Two contents of the same size, rewritten back to back: only content tells them apart.
    const one = JSON.stringify({ v: 'one', pad: 'x'.repeat(3000) });
    const two = JSON.stringify({ v: 'two', pad: 'y'.repeat(3000) });
    await writeFile(path, one);
    const rewriting = await startChurner(t, [rewriter, path, one, two, '--no-naps']);
    let seen: Record<string, number>;
    try {
      seen = await loadMany(
        3,
        () => fileSource(path).load(loadCtx()),
        ({ value }) => {
          assert.ok([one, two].includes(JSON.stringify(value)), 'a torn read');
          return 'complete';
        },
        `${path}: config file kept changing during read`,
      );
    } finally {
      await rewriting.stop();
    }
    t.diagnostic(`loads: ${JSON.stringify(seen)}`);
  });

  test('a just-truncated empty file is waited for, and its new content loaded', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'slow.yaml', '');
    const loading = fileSource(path).load(loadCtx());
    await new Promise((r) => setTimeout(r, 50)); // a writer slow between truncate and write
    await writeFile(path, 'a: 1\n');
    assert.deepEqual((await loading).value, { a: 1 });
  });

  test('an atomically replaced file (rename) loads the new version', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'v: 1\n');
    const src = fileSource(path);
    assert.deepEqual((await src.load(loadCtx())).value, { v: 1 });
    await put(dir, '.c.yaml.tmp', 'v: 2\n');
    await rename(join(dir, '.c.yaml.tmp'), path);
    assert.deepEqual((await src.load(loadCtx())).value, { v: 2 });
  });

  test('a symlink is followed (Kubernetes ConfigMap layout)', async (t) => {
    const dir = await tempDir(t);
    await put(dir, 'real.yaml', 'v: 1\n');
    const link = join(dir, 'config.yaml');
    await symlink(join(dir, 'real.yaml'), link);
    const loaded = await fileSource(link).load(loadCtx());
    assert.deepEqual(loaded.value, { v: 1 });
    assert.equal(loaded.files[0]!.path, link);
  });
});

describe('files that are not regular or not readable', () => {
  test('a FIFO is refused without hanging', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'pipe.yaml');
    execFileSync('mkfifo', [path]);
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: not a regular file`);
  });

  test('a file without read permission (EACCES)', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'secret.yaml', 'a: 1\n');
    await chmod(path, 0o000);
    if (process.getuid?.() !== 0) {
      assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: permission denied`);
      return;
    }
    // root reads anything: load it as `nobody` in a real child process.
    await chmod(dir, 0o755);
    const code = `import('./src/index.ts').then((m) => m.fileSource(${JSON.stringify(path)}).load({ signal: new AbortController().signal })).then(() => console.log('LOADED'), (e) => console.log(e.message));`;
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], {
      cwd: repoRoot,
      uid: 65534,
      gid: 65534,
      // `nobody` cannot write the coverage files of a c8 run.
      env: { ...process.env, NODE_V8_COVERAGE: undefined },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    await once(child, 'exit');
    assert.equal(out.trim(), `${path}: permission denied`);
  });
});

describe('signature verification hook', () => {
  test('verify gets the absolute path and the exact bytes parsed, BOM included', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.json', '\ufeff{"a": 1}\n');
    const calls: { path: string; bytes: Buffer }[] = [];
    const loaded = await fileSource(path).load(loadCtx({ verify: (p, bytes) => void calls.push({ path: p, bytes: Buffer.from(bytes) }) }));
    assert.deepEqual(loaded.value, { a: 1 });
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.path, path);
    assert.deepEqual(calls[0]!.bytes, await readFile(path));
  });

  test('a throwing verify fails the load before anything is parsed', async (t) => {
    const dir = await tempDir(t);
    // This file would fail to parse: a parse error would mean the parser ran first.
    const path = await put(dir, 'c.yaml', 'a: [unclosed\n');
    const message = await failure(
      fileSource(path).load(
        loadCtx({
          verify: () => {
            throw new Error('signature verification failed');
          },
        }),
      ),
    );
    assert.equal(message, 'signature verification failed');
  });

  test('an async verify that rejects fails the load too', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.toml', 'a = 1\n');
    const verify = async () => {
      await new Promise((r) => setTimeout(r, 1));
      throw new Error('signature verification failed');
    };
    assert.equal(await failure(fileSource(path).load(loadCtx({ verify }))), 'signature verification failed');
  });
});

describe('abort', () => {
  test('an aborted signal stops the load with a clear error', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: 1\n');
    const ac = new AbortController();
    ac.abort();
    assert.equal(await failure(fileSource(path).load({ signal: ac.signal })), `${path}: load aborted`);
  });

  test('aborting while waiting for an empty file to fill ends the wait', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', '');
    const ac = new AbortController();
    const loading = fileSource(path).load({ signal: ac.signal });
    setTimeout(() => ac.abort(), 20);
    assert.equal(await failure(loading), `${path}: load aborted`);
  });
});
