// Last known good config: real files, real crashes (SIGKILL of a writer
// child), real full and read-only filesystems (tmpfs, when we may mount).
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { build, stop } from 'esbuild';
import { z } from 'zod';
import { createReloader, type Hook } from '../../src/index.js';
import { fileSource } from '../../src/sources/index.js';
import { noopLogger } from '../../src/shared/logger.js';
import { parsePersisted, PersistStore, readPersisted, serializePersisted } from '../../src/integrity/persist.js';
import { capturedLogger, freePort, tempDir } from './support.js';
import { waitFor } from '../helpers/wait.js';
import { configHash } from '../../src/shared/hash.js';

const schema = z.object({
  port: z.number().int(),
  name: z.string(),
  db: z.object({ password: z.string() }).optional(),
  blob: z.string().optional(),
});

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

async function persistedGeneration(path: string): Promise<number | null> {
  try {
    const res = parsePersisted(await readFile(path, 'utf8'));
    return res.ok ? res.persisted.generation : null;
  } catch {
    return null;
  }
}

type Cfg = z.infer<typeof schema>;

/** A reloader on `dir/config.yaml` (written with `yaml`) persisting to `dir/lkg.json`; not started. */
async function persistingApp(t: TestContext, yaml: string, extra: { hooks?: Hook<Cfg>[] } = {}) {
  const dir = await tempDir(t);
  const config = join(dir, 'config.yaml');
  const path = join(dir, 'lkg.json');
  await writeFile(config, yaml);
  const r = createReloader({ source: fileSource(config), schema, persist: { path }, ...extra });
  t.after(() => r.close());
  return { dir, config, path, r };
}

async function otherEntries(dir: string, keep: string[]): Promise<string[]> {
  return (await readdir(dir)).filter((n) => !keep.includes(n));
}

describe('persist: what is written', () => {
  test('after start() and after each committed pass: the committed config, mode 0600, no temp files', async (t) => {
    const dir = await tempDir(t);
    const config = join(dir, 'config.yaml');
    const state = join(dir, 'state');
    await mkdir(state);
    const path = join(state, 'app.json');
    await writeFile(config, 'port: 8080\nname: a\ndb:\n  password: s3cret-value\n');
    const r = createReloader({ source: fileSource(config), schema, persist: { path } });
    t.after(() => r.close());
    await r.start();
    await waitFor(async () => (await persistedGeneration(path)) === 0, 'the start snapshot to be persisted');
    const doc = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ['generation', 'config_hash', 'saved_at', 'config']);
    assert.equal(doc.generation, 0);
    assert.deepEqual(doc.config, r.current());
    assert.equal(doc.config_hash, configHash(r.current()));
    assert.match(String(doc.saved_at), RFC3339);
    // The file holds the real config (it must, to be usable); 0600 protects it.
    assert.equal((doc.config as { db: { password: string } }).db.password, 's3cret-value');
    assert.equal((await stat(path)).mode & 0o777, 0o600);

    await writeFile(config, 'port: 9090\nname: b\n');
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    await waitFor(async () => (await persistedGeneration(path)) === 1, 'generation 1 to be persisted');
    const doc1 = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(doc1.config, { port: 9090, name: 'b' });
    assert.equal(doc1.config_hash, res.config_hash);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    await r.close();
    assert.deepEqual(await otherEntries(state, ['app.json']), []);
  });

  test('never before validation: failed loads, checks and applies leave the file as it was', async (t) => {
    let applyFails = false;
    const hooks: Hook<Cfg>[] = [
      {
        name: 'guard',
        check: (_old, next) => {
          if (next.name === 'refused') throw new Error('name refused');
        },
        apply: () => (applyFails ? 'failed' : 'applied'),
      },
    ];
    const { config, path, r } = await persistingApp(t, 'port: 1\nname: a\n', { hooks });
    await r.start();
    await waitFor(async () => (await persistedGeneration(path)) === 0, 'generation 0 persisted');
    const before = await readFile(path, 'utf8');
    await writeFile(config, 'port: [\n');
    assert.equal((await r.reload()).status, 'load_failed');
    await writeFile(config, 'port: "x"\nname: a\n');
    assert.equal((await r.reload()).status, 'load_failed');
    await writeFile(config, 'port: 2\nname: refused\n');
    assert.equal((await r.reload()).status, 'validation_failed');
    applyFails = true;
    await writeFile(config, 'port: 3\nname: c\n');
    assert.equal((await r.reload()).status, 'apply_failed');
    await r.close();
    assert.equal(await readFile(path, 'utf8'), before);
  });

  test('a burst of commits ends with the newest generation on disk', async (t) => {
    const { dir, config, path, r } = await persistingApp(t, 'port: 0\nname: a\n');
    await r.start();
    for (let i = 1; i <= 10; i++) {
      await writeFile(config, `port: ${i}\nname: a\n`);
      await r.reload();
    }
    await r.close();
    const res = parsePersisted(await readFile(path, 'utf8'));
    assert.ok(res.ok);
    assert.equal(res.persisted.generation, 10);
    assert.deepEqual(res.persisted.config, { port: 10, name: 'a' });
    assert.deepEqual(await otherEntries(dir, ['config.yaml', 'lkg.json']), []);
  });
});

describe('persist: crash safety', () => {
  test('SIGKILL of a writer at random points, 50 times: the file is absent or complete and valid, never torn', async (t) => {
    const dir = await tempDir(t);
    // Bundled once so each of the 50 children starts in milliseconds.
    const bundle = join(dir, 'persist-writer.mjs');
    await build({
      entryPoints: [fileURLToPath(new URL('./fixtures/persist-writer.ts', import.meta.url))],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    // esbuild's service process would keep this test file alive.
    await stop();
    const state = join(dir, 'state');
    await mkdir(state);
    const path = join(state, 'lkg.json');
    let complete = 0;
    const seen = new Set<string>();
    let leftovers = 0;
    for (let run = 0; run < 50; run++) {
      const child = spawn(process.execPath, [bundle, path, String(run)], { stdio: ['ignore', 'pipe', 'pipe'] });
      t.after(() => void child.kill('SIGKILL')); // a failed assertion below must not leave the writer running
      let stderr = '';
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const [first] = (await once(child.stdout, 'data')) as [Buffer];
      assert.equal(first.toString(), 'ready\n', stderr);
      await sleep(Math.random() * 40);
      child.kill('SIGKILL');
      const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
      assert.equal(signal, 'SIGKILL', `writer died by itself: ${stderr}`);

      const entries = await readdir(state);
      leftovers = Math.max(leftovers, entries.filter((n) => n !== 'lkg.json').length);
      if (!entries.includes('lkg.json')) continue;
      const text = await readFile(path, 'utf8');
      const parsed = parsePersisted(text);
      assert.ok(parsed.ok, `run ${run}: torn or invalid file (${parsed.ok ? '' : parsed.reason}), ${text.length} chars`);
      const cfg = parsed.persisted.config as { run: number; generation: number; fill: string };
      assert.equal(cfg.generation, parsed.persisted.generation);
      assert.ok(cfg.run <= run);
      assert.equal(cfg.fill, String(cfg.generation % 10).repeat(cfg.fill.length));
      complete += 1;
      seen.add(`${cfg.run}/${cfg.generation}`);
    }
    assert.ok(complete > 0, 'at least one write completed');
    assert.ok(seen.size > 5, `the file changed between kills (${seen.size} distinct versions)`);
    // Kills landed inside the write window (temp written, not yet renamed) — the case that matters.
    assert.ok(leftovers > 0, 'some kill hit a write in progress');

    // The next writer removes temp files of dead writers and leaves none of its own.
    const store = new PersistStore({ path, unit: 't', logger: noopLogger });
    const config = { port: 1, name: 'after' };
    store.save({ generation: 7, hash: configHash(config), config });
    await store.flush();
    assert.deepEqual(await readdir(state), ['lkg.json']);
    const final = await readPersisted(path);
    assert.ok(final.ok);
    assert.deepEqual(final.persisted.config, config);
  });
});

describe('persist: fallback start', () => {
  async function persistedApp(t: TestContext) {
    const { dir, config, path, r } = await persistingApp(t, 'port: 8080\nname: good\n');
    await r.start();
    await r.close();
    const saved = parsePersisted(await readFile(path, 'utf8'));
    assert.ok(saved.ok);
    return { dir, config, path, savedAt: saved.persisted.saved_at };
  }

  test('a broken source at start runs on the persisted config: ready (it serves a valid config), degraded in ready() and /ready until a pass succeeds', async (t) => {
    const { config, path, savedAt } = await persistedApp(t);
    const before = await readFile(path, 'utf8');
    await writeFile(config, 'port: [oops\n');
    const log = capturedLogger();
    const port = await freePort();
    const r = createReloader({
      source: fileSource(config),
      schema,
      persist: { path, fallback: true },
      logger: log.logger,
      triggers: { http: `127.0.0.1:${port}` },
    });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.current(), { port: 8080, name: 'good' });
    assert.equal(r.generation, 0);
    const ready = r.ready();
    assert.equal(ready.ok, true);
    assert.equal(ready.degraded.length, 1);
    assert.ok(ready.degraded[0]!.startsWith(`app: running on last known good config from ${savedAt}`), ready.degraded[0]);
    assert.match(ready.degraded[0]!, /config\.yaml:\d+:\d+:/, 'the load error says where');
    assert.equal(r.ready({ strict: true }).ok, false);
    const warn = log.lines().find((l) => l.level === 40 && String(l.msg).includes('starting from last known good config'));
    assert.ok(warn, 'a warning is logged');
    assert.match(String(warn.load_error), /config\.yaml:\d+:\d+:/);

    const httpReady = await fetch(`http://127.0.0.1:${port}/ready`);
    assert.equal(httpReady.status, 200);
    const body = (await httpReady.json()) as { degraded: string[] };
    assert.ok(body.degraded.some((x) => x.includes('running on last known good config')));
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready?strict=1`)).status, 503);

    // The persisted file keeps its content (and its saved_at) during a fallback start.
    assert.equal(await readFile(path, 'utf8'), before);

    // Still broken: still degraded.
    assert.equal((await r.reload()).status, 'load_failed');
    assert.equal(r.ready({ strict: true }).ok, false);

    await writeFile(config, 'port: 9090\nname: fixed\n');
    assert.equal((await r.reload()).status, 'full_success');
    assert.deepEqual(r.ready({ strict: true }), { ok: true, reasons: [], degraded: [] });
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready?strict=1`)).status, 200);
    await waitFor(async () => (await persistedGeneration(path)) === 1, 'the fixed config to be persisted');
    await r.close();
  });

  test('without fallback, a broken source fails start with the load error', async (t) => {
    const { config, path } = await persistedApp(t);
    await writeFile(config, 'port: [oops\n');
    const r = createReloader({ source: fileSource(config), schema, persist: { path } });
    t.after(() => r.close());
    await assert.rejects(r.start(), /app: cannot load .*config\.yaml: .*config\.yaml:\d+:\d+:/);
  });

  test('fallback is refused for a missing, edited, foreign-writable or no longer valid file: start fails with the load error', async (t) => {
    const { dir, config, path } = await persistedApp(t);
    await writeFile(config, 'port: [oops\n');
    const good = await readFile(path, 'utf8');
    const cases: { name: string; prepare: () => Promise<void>; reason: RegExp; schemaMessage?: RegExp }[] = [
      { name: 'missing', prepare: () => writeFile(path, '').then(() => import('node:fs/promises').then((f) => f.rm(path))), reason: /file not found/ },
      { name: 'edited', prepare: () => writeFile(path, good.replace('"good"', '"evil"'), { mode: 0o600 }), reason: /does not match its config_hash/ },
      { name: 'truncated', prepare: () => writeFile(path, good.slice(0, 40), { mode: 0o600 }), reason: /not valid JSON/ },
      {
        name: 'group-writable',
        prepare: async () => {
          await writeFile(path, good);
          await chmod(path, 0o664);
        },
        reason: /writable by group or others \(mode 0664\)/,
      },
      {
        name: 'invalid for the schema',
        prepare: async () => {
          const cfg = { port: 'not a number', name: 'x' };
          await writeFile(path, serializePersisted({ generation: 3, hash: configHash(cfg), config: cfg }), { mode: 0o600 });
          await chmod(path, 0o600);
        },
        reason: /./,
        schemaMessage: /last known good config from .* is not usable either: schema validation failed: port:/,
      },
    ];
    for (const c of cases) {
      await c.prepare();
      const log = capturedLogger();
      const r = createReloader({ source: fileSource(config), schema, persist: { path, fallback: true }, logger: log.logger });
      t.after(() => r.close());
      await assert.rejects(r.start(), (err: Error) => {
        assert.match(err.message, /cannot load .*config\.yaml: .*config\.yaml:\d+:\d+:/, c.name);
        if (c.schemaMessage) assert.match(err.message, c.schemaMessage, c.name);
        return true;
      });
      if (!c.schemaMessage) {
        const warn = log.lines().find((l) => l.msg === 'no usable last known good config');
        assert.ok(warn, `${c.name}: warning logged`);
        assert.match(String(warn.reason), c.reason, c.name);
      }
      await r.close();
    }
    assert.ok((await readdir(dir)).length > 0);
  });
});

// ---- full and read-only filesystems ----------------------------------------

/**
 * Mounts a small tmpfs at a fresh directory (needs root), unmounted and
 * removed when the test ends; null when this machine cannot mount.
 */
async function mountTmpfs(t: TestContext, sizeKiB: number): Promise<string | null> {
  if (process.getuid?.() !== 0) return null;
  const dir = await mkdtemp(join(tmpdir(), 'rk-mnt-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch {
    await rm(dir, { recursive: true, force: true });
    return null;
  }
  t.after(async () => {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    }
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

describe('persist: write failures', () => {
  test('disk full: a clear error is logged and counted, the old file stays, the reload is reported as it was', async (t) => {
    const dir = await tempDir(t);
    const mnt = await mountTmpfs(t, 64);
    if (mnt === null) {
      if (process.env.CI === 'true' && process.getuid?.() === 0) assert.fail('cannot mount a tmpfs as root under CI');
      t.skip('SKIPPED LOUDLY: a full filesystem needs a small tmpfs mount (root); not available here');
      return;
    }
    const config = join(dir, 'config.yaml');
    const path = join(mnt, 'lkg.json');
    await writeFile(config, 'port: 1\nname: small\n');
    const log = capturedLogger();
    const persistErrors: string[] = [];
    const r = createReloader({ source: fileSource(config), schema, persist: { path }, logger: log.logger });
    t.after(() => r.close());
    await r.start();
    await waitFor(async () => (await persistedGeneration(path)) === 0, 'generation 0 persisted');
    const before = await readFile(path, 'utf8');

    // 100 KB does not fit in a 64 KiB filesystem.
    await writeFile(config, `port: 2\nname: big\nblob: "${'x'.repeat(100_000)}"\n`);
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.equal(r.generation, 1);
    await waitFor(() => log.lines().some((l) => l.msg === 'cannot save the last known good config; the reload itself is not affected'), 'the error log');
    const line = log.lines().find((l) => String(l.msg).startsWith('cannot save the last known good config'))!;
    assert.equal(line.level, 50);
    assert.equal(line.path, path);
    assert.equal(line.generation, 1);
    assert.match(String(line.err), /no space left on device \(ENOSPC\)/);
    assert.equal(await readFile(path, 'utf8'), before);
    assert.deepEqual(await readdir(mnt), ['lkg.json'], 'no temp file left behind');
    persistErrors.push(String(line.err));

    // Space again: the next commit is saved and the recovery is logged.
    await writeFile(config, 'port: 3\nname: small-again\n');
    assert.equal((await r.reload()).status, 'full_success');
    await waitFor(async () => (await persistedGeneration(path)) === 2, 'generation 2 persisted');
    assert.ok(log.lines().some((l) => l.msg === 'last known good config saved again'));
    await r.close();
    assert.equal(persistErrors.length, 1);
  });

  test('read-only directory: a clear error, the old file intact, the reload unaffected', async (t) => {
    const dir = await tempDir(t);
    const root = process.getuid?.() === 0;
    let mnt = join(dir, 'ro');
    let makeReadOnly: () => Promise<void>;
    let expected: RegExp;
    if (root) {
      const m = await mountTmpfs(t, 1024);
      if (m === null) {
        t.skip('SKIPPED LOUDLY: cannot mount a tmpfs to remount read-only');
        return;
      }
      mnt = m;
      makeReadOnly = async () => void execFileSync('mount', ['-o', 'remount,ro', mnt], { stdio: 'pipe' });
      expected = /read-only file system \(EROFS\)/;
    } else {
      // Not root: a directory without write permission refuses the temp file.
      await mkdir(mnt);
      makeReadOnly = () => chmod(mnt, 0o500);
      t.after(() => chmod(mnt, 0o700));
      expected = /permission denied \(EACCES\)/;
    }
    const config = join(dir, 'config.yaml');
    const path = join(mnt, 'lkg.json');
    await writeFile(config, 'port: 1\nname: a\n');
    const log = capturedLogger();
    const r = createReloader({ source: fileSource(config), schema, persist: { path }, logger: log.logger });
    t.after(() => r.close());
    await r.start();
    await waitFor(async () => (await persistedGeneration(path)) === 0, 'generation 0 persisted');
    const before = await readFile(path, 'utf8');
    await makeReadOnly();
    await writeFile(config, 'port: 2\nname: b\n');
    assert.equal((await r.reload()).status, 'full_success');
    await r.close();
    const line = log.lines().find((l) => String(l.msg).startsWith('cannot save the last known good config'));
    assert.ok(line, 'error logged');
    assert.match(String(line.err), expected);
    assert.match(String(line.err), new RegExp(`cannot write ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(await readFile(path, 'utf8'), before);
    assert.deepEqual(await readdir(mnt), ['lkg.json']);
  });

  test('PersistStore counts failures and reports recovery in status()', async (t) => {
    const dir = await tempDir(t);
    const failures: string[] = [];
    const path = join(dir, 'missing-dir', 'lkg.json');
    const store = new PersistStore({ path, unit: 'u', logger: noopLogger, onFailure: (e) => failures.push(e) });
    const cfg = { a: 1 };
    store.save({ generation: 1, hash: configHash(cfg), config: cfg });
    await store.flush();
    assert.deepEqual(store.status(), {
      path,
      saves: 0,
      failures: 1,
      lastError: `cannot write ${path}: no such file or directory (ENOENT)`,
      lastSavedGeneration: null,
    });
    assert.deepEqual(failures, [`cannot write ${path}: no such file or directory (ENOENT)`]);
    await mkdir(join(dir, 'missing-dir'));
    store.save({ generation: 2, hash: configHash(cfg), config: cfg });
    await store.flush();
    assert.deepEqual(store.status(), { path, saves: 1, failures: 1, lastError: null, lastSavedGeneration: 2 });
  });
});
