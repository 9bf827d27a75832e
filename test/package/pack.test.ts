// The published package, as a user gets it: build the current sources with
// the real build script in a staging copy (the repo's own dist/ is left
// alone, other tests may be using it), `npm pack`, install the tarball into
// a fresh project, run an ESM script and a CommonJS script against it, run
// the installed daemon, and type-check consumer .ts files (ESM, and CommonJS
// compiled and run) against the installed types with this project's tsc.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startDaemon } from '../integration/daemon-process.js';
import { etcdOrSkip, startEtcd } from '../helpers/etcd.js';
import { installFootprint } from '../helpers/install-size.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const tsc = join(root, 'node_modules/typescript/bin/tsc');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { name: string; version: string };

let work = '';
let tarball = '';
let packedFiles: string[] = [];
let project = '';

async function sh(cmd: string, args: string[], cwd: string, timeout = 180_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(cmd, args, { cwd, timeout, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, npm_config_update_notifier: 'false' } });
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
  }
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'rk-pack-'));
  const stage = join(work, 'stage');
  await mkdir(stage);
  for (const entry of ['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'tsconfig.json', 'tsconfig.build.json', 'src', 'bin', 'scripts']) {
    await cp(join(root, entry), join(stage, entry), { recursive: true });
  }
  // The build tools come from this checkout, one symlink per package: not one
  // symlink for node_modules/ itself, or the staging build would write its
  // metafile (node_modules/.cache/reloadkit/cli-meta.json, other chunk names)
  // over the one that describes the repo's dist/, which other tests read.
  await mkdir(join(stage, 'node_modules'));
  for (const entry of await readdir(join(root, 'node_modules'))) {
    if (entry !== '.cache') await symlink(join(root, 'node_modules', entry), join(stage, 'node_modules', entry), 'dir');
  }
  await sh(process.execPath, ['scripts/build.mjs'], stage);

  const packed = await sh(npm, ['pack', '--json', '--pack-destination', work], stage);
  const info = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  tarball = join(work, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);

  project = join(work, 'consumer');
  await mkdir(project);
  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  const install = ['install', tarball, '--no-audit', '--no-fund', '--ignore-scripts'];
  // Dependencies normally come from the npm cache; the registry is the fallback.
  await sh(npm, [...install, '--offline'], project).catch(() => sh(npm, [...install, '--prefer-offline'], project));
});

after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the packed package', () => {
  test('contains only dist/, bin/, README, LICENSE, CHANGELOG and package.json', () => {
    const allowed = (p: string) => p.startsWith('dist/') || p.startsWith('bin/') || ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'].includes(p);
    assert.deepEqual(
      packedFiles.filter((p) => !allowed(p)),
      [],
    );
    const page = ['index.html', 'page.css', 'page.js', 'favicon.svg'].map((f) => `dist/admin/page/${f}`);
    for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'bin/reloadkit.js', 'README.md', 'LICENSE', 'CHANGELOG.md', ...page]) {
      assert.ok(packedFiles.includes(needed), `${needed} is in the tarball`);
    }
    assert.equal(packedFiles.filter((p) => /(^|\/)(test|src|bench|examples)\//.test(p)).length, 0);
    // Source maps point at src/, which is not shipped: they would only add weight.
    assert.deepEqual(
      packedFiles.filter((p) => p.endsWith('.map')),
      [],
    );
  });

  test('ships only the public types: one self-contained dist/index.d.ts whose values are exactly what the module exports', async () => {
    assert.deepEqual(
      packedFiles.filter((p) => p.endsWith('.d.ts')),
      ['dist/index.d.ts'],
    );
    const dts = await readFile(join(project, 'node_modules/reloadkit/dist/index.d.ts'), 'utf8');
    // Only Node's own modules are imported: nothing relative, no other package (prom-client, @standard-schema/spec).
    const imports = [...dts.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
    assert.deepEqual(
      imports.filter((i) => !i!.startsWith('node:')),
      [],
    );
    // No engine, runtime, daemon or CLI internals.
    assert.doesNotMatch(dts, /\b(class|interface) (Unit|Runtime|Daemon|PassQueue|PersistStore)\b/);
    const values = [...dts.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]!);
    const script = "import('reloadkit').then((m) => console.log(JSON.stringify(Object.keys(m))))";
    const { stdout } = await sh(process.execPath, ['--input-type=module', '-e', script], project, 30_000);
    assert.deepEqual([...new Set(values)].sort(), (JSON.parse(stdout) as string[]).sort());
  });

  test("the README's links work on npm (docs/ is not shipped): absolute URLs, and package.json names repository, homepage and bugs", async () => {
    const readme = await readFile(join(project, 'node_modules/reloadkit/README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(([^)\s]+)\)|\bsrc="([^"]+)"/g)].map((m) => m[1] ?? m[2]!);
    assert.ok(targets.length > 10, `found ${targets.length} links`);
    assert.deepEqual(
      targets.filter((t) => !t.startsWith('https://') && !t.startsWith('#')),
      [],
    );
    const meta = JSON.parse(await readFile(join(project, 'node_modules/reloadkit/package.json'), 'utf8')) as Record<string, unknown>;
    assert.match(JSON.stringify(meta.repository), /github\.com\/reloadkit\/reloadkit/);
    assert.match(String(meta.homepage), /^https:\/\//);
    assert.match(JSON.stringify(meta.bugs), /https:\/\/.*\/issues/);
  });

  test('publint and arethetypeswrong find nothing to report in the tarball', async () => {
    const publint = await sh(process.execPath, [join(root, 'node_modules/publint/src/cli.js'), 'run', tarball, '--strict'], work, 120_000);
    assert.match(publint.stdout, /All good!/, publint.stdout);
    // The esm-only profile: an ES module package that CommonJS loads with require() on every Node it
    // supports (tested above). It exits non-zero on any problem; the one it sets aside is that finding,
    // for TypeScript's `module: node16` (no require of ES modules; NodeNext has it since TypeScript 5.8).
    const attw = await sh(
      process.execPath,
      [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--profile', 'esm-only', '--format', 'json'],
      work,
      120_000,
    );
    const problems = (JSON.parse(attw.stdout) as { problems?: Record<string, { resolutionKind?: string }[]> }).problems ?? {};
    assert.deepEqual(
      Object.entries(problems).flatMap(([kind, list]) => list.map((p) => `${kind} ${p.resolutionKind ?? ''}`)),
      ['CJSResolvesToESM node16-cjs'],
    );
  });

  test('an ESM script imports reloadkit, reloads a YAML file and gets a typed result', async () => {
    const configPath = join(project, 'config.yaml');
    await writeFile(configPath, 'server:\n  port: 8080\nlog_level: info\n');
    const script = `
import { writeFile } from 'node:fs/promises';
import { createReloader, fileSource, onChange, RELOAD_STATUSES } from 'reloadkit';
const path = process.argv[2];
const seen = [];
const r = createReloader({
  source: fileSource(path),
  hooks: [onChange('log_level', (next, prev) => { seen.push([prev, next]); })],
});
await r.start();
await writeFile(path, 'server:\\n  port: 8080\\nlog_level: debug\\n');
const result = await r.reload();
console.log(JSON.stringify({ status: result.status, generation: r.generation, changed: result.changed, current: r.current(), seen, frozen: Object.isFrozen(r.current()), statuses: RELOAD_STATUSES.length }));
await r.close();
`;
    await writeFile(join(project, 'consumer.mjs'), script);
    const { stdout } = await sh(process.execPath, ['consumer.mjs', configPath], project, 30_000);
    assert.deepEqual(JSON.parse(stdout), {
      status: 'full_success',
      generation: 1,
      changed: ['log_level'],
      current: { server: { port: 8080 }, log_level: 'debug' },
      seen: [['info', 'debug']],
      frozen: true,
      statuses: 7,
    });
  });

  test('a CommonJS script require()s reloadkit: the same build as import (one ReloadkitError class), and it reloads', async () => {
    const configPath = join(project, 'cjs.yaml');
    await writeFile(configPath, 'log_level: info\n');
    const script = `
const { writeFile } = require('node:fs/promises');
const reloadkit = require('reloadkit');
const { createReloader, fileSource, onChange, ReloadkitError } = reloadkit;
(async () => {
  const path = process.argv[2];
  const seen = [];
  const r = createReloader({ source: fileSource(path), hooks: [onChange('log_level', (next, prev) => { seen.push([prev, next]); })] });
  await r.start();
  await writeFile(path, 'log_level: debug\\n');
  const result = await r.reload();
  await r.close();
  const esm = await import('reloadkit');
  console.log(JSON.stringify({ status: result.status, current: r.current(), seen, sameBuild: esm.ReloadkitError === ReloadkitError, exports: Object.keys(reloadkit).length === Object.keys(esm).length }));
})().catch((err) => { console.error(err); process.exit(1); });
`;
    await writeFile(join(project, 'consumer.cjs'), script);
    const { stdout, stderr } = await sh(process.execPath, ['consumer.cjs', configPath], project, 30_000);
    assert.deepEqual(JSON.parse(stdout), {
      status: 'full_success',
      current: { log_level: 'debug' },
      seen: [['info', 'debug']],
      sameBuild: true,
      exports: true,
    });
    // No ExperimentalWarning (or anything else) on a supported Node.
    assert.equal(stderr, '');
  });

  test('a TypeScript CommonJS project (module NodeNext, no "type": "module") type-checks against the installed types and its emitted require() runs', async () => {
    const dir = join(project, 'cjs-ts');
    await mkdir(dir, { recursive: true });
    // No "type": "module": TypeScript emits CommonJS and Node runs it as CommonJS.
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'cjs-consumer', private: true }));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ server: { port: 8080 } }));
    const consumer = `
import { createReloader, fileSource, type ConfigOf, type ReloadResult } from 'reloadkit';
import { join } from 'node:path';

interface Config { server: { port: number } }
const r = createReloader<Config>({ source: fileSource(join(__dirname, '..', 'config.json')) });
async function main(): Promise<void> {
  await r.start();
  const port: number = r.current().server.port;
  const cfg: ConfigOf<typeof r> = r.current();
  let frozen = false;
  try {
    // @ts-expect-error snapshots are read-only
    cfg.server.port = 1;
  } catch {
    frozen = true;
  }
  const result: ReloadResult = await r.reload();
  await r.close();
  console.log(JSON.stringify({ port, frozen, status: result.status, cjs: typeof module === 'object' && typeof require === 'function' }));
}
main().catch((err: unknown) => { console.error(err); process.exit(1); });
`;
    await writeFile(join(dir, 'consumer.ts'), consumer);
    const tsconfig = {
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        outDir: 'out',
        // Our .d.ts files are checked too.
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
      },
      files: ['consumer.ts'],
    };
    await writeFile(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig));
    await sh(process.execPath, [tsc, '-p', 'tsconfig.json'], dir, 120_000);
    const emitted = await readFile(join(dir, 'out/consumer.js'), 'utf8');
    assert.match(emitted, /require\("reloadkit"\)/, 'TypeScript emitted CommonJS');
    const { stdout } = await sh(process.execPath, [join(dir, 'out/consumer.js')], dir, 30_000);
    assert.deepEqual(JSON.parse(stdout), { port: 8080, frozen: true, status: 'full_success', cjs: true });
  });

  test('npm i installs only what the library imports: reloadkit, yaml and smol-toml, at most 3 MB', () => {
    const { bytes, packages } = installFootprint(join(project, 'node_modules'));
    assert.deepEqual(packages, ['reloadkit', 'smol-toml', 'yaml']);
    assert.ok(bytes <= 3 * 1024 * 1024, `node_modules holds ${(bytes / 1024 / 1024).toFixed(2)} MB`);
  });

  test('without prom-client (an optional peer), asking for metrics fails start() with the install command; the rest needs none', async () => {
    const configPath = join(project, 'metrics.yaml');
    await writeFile(configPath, 'a: 1\n');
    const script = `
import { createReloader, fileSource, OptionsError } from 'reloadkit';
const r = createReloader({ source: fileSource(process.argv[2]), triggers: { http: '127.0.0.1:0' }, logger: false });
const started = await r.start().then(() => 'started', (err) => ({ options: err instanceof OptionsError, code: err.code, message: err.message }));
await r.close();
console.log(JSON.stringify(started));
`;
    await writeFile(join(project, 'metrics.mjs'), script);
    const { stdout } = await sh(process.execPath, ['metrics.mjs', configPath], project, 30_000);
    const started = JSON.parse(stdout) as { options: boolean; code: string; message: string };
    assert.equal(started.options, true, stdout);
    assert.equal(started.code, 'ERR_OPTIONS');
    assert.match(started.message, /need the prom-client package, which is not installed: run `npm i prom-client`/);
  });

  test('the installed bin runs with no zod, pino or prom-client installed (the bundle carries them): --version, and every command that reads a config file', async () => {
    for (const dep of ['zod', 'pino', 'prom-client']) assert.equal(existsSync(join(project, 'node_modules', dep)), false, `${dep} is not installed`);
    const bin = join(project, 'node_modules/.bin/reloadkit');
    const { stdout } = await sh(bin, ['--version'], project, 30_000);
    assert.match(stdout, new RegExp(pkg.version.replaceAll('.', '\\.')));
    const sock = join(project, 'nobody.sock');
    const file = join(project, 'reloadkit.yaml');
    await writeFile(file, `admin:\n  socket: ${sock}\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n    watch: [${project}]\n`);
    const { stdout: valid } = await sh(bin, ['validate', '-c', file], project, 30_000);
    assert.match(valid, /ok/i);
    // No daemon runs: the clear "cannot reach" (exit 2), never a crash while reading the file.
    for (const [args, env] of [
      [['status', '-c', file], {}],
      [['reload', '-c', file], {}],
      [['status'], { RELOADKIT_CONFIG: file }],
    ] as [string[], NodeJS.ProcessEnv][]) {
      const r = await run(bin, args, { cwd: project, env: { ...process.env, ...env } }).then(
        () => ({ code: 0, stderr: '' }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
      );
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`cannot reach the daemon: no admin socket at ${sock}`), args.join(' '));
    }
    // `run` too: pino logs, prom-client serves /metrics, zod checks the config, all from the bundle.
    const dir = join(project, 'bare-daemon');
    await mkdir(dir);
    await writeFile(
      join(dir, 'reloadkit.yaml'),
      'admin:\n  socket: ./admin.sock\n  http: 127.0.0.1:0\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n',
    );
    const d = await startDaemon({
      args: ['-c', join(dir, 'reloadkit.yaml')],
      socket: join(dir, 'admin.sock'),
      entry: [join(project, 'node_modules/reloadkit/bin/reloadkit.js')],
    });
    try {
      const base = `http://${String(d.lines.find((l) => l.msg === 'reloadkit started')!.http)}`;
      assert.equal((JSON.parse(await d.send('reload')) as { status: string }).status, 'ok');
      assert.match(await (await fetch(`${base}/metrics`)).text(), /^reloadkit_reloads_total\{unit="app",status="full_success"\} 1$/m);
    } finally {
      assert.equal(await d.stop('SIGTERM'), 0);
    }
  });

  test('without etcd3 (an optional peer), fleet commands fail with the install command, exit 2', async () => {
    assert.equal(existsSync(join(project, 'node_modules', 'etcd3')), false, 'etcd3 is not installed');
    const bin = join(project, 'node_modules/.bin/reloadkit');
    const r = await run(bin, ['fleet', 'status', '--etcd', 'http://127.0.0.1:9', '--fleet', 'web'], { cwd: project }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }),
    );
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /need the etcd3 package, which is not installed: run `npm i etcd3`/);
  });

  test(
    'a global install (npm i -g reloadkit etcd3: each package keeps its own dependencies) runs fleet commands against a real etcd',
    { skip: etcdOrSkip() },
    async () => {
      const prefix = join(work, 'global');
      const install = ['install', '-g', '--prefix', prefix, tarball, 'etcd3', '--no-audit', '--no-fund', '--ignore-scripts'];
      await sh(npm, [...install, '--offline'], work).catch(() => sh(npm, [...install, '--prefer-offline'], work));
      // etcd3's own dependencies (cockatiel among them) stay inside its folder, out of reloadkit's reach.
      assert.ok(existsSync(join(prefix, 'lib/node_modules/etcd3/node_modules/cockatiel/package.json')));
      assert.equal(existsSync(join(prefix, 'lib/node_modules/cockatiel')), false);
      const etcd = await startEtcd(1);
      try {
        const { stdout } = await sh(join(prefix, 'bin/reloadkit'), ['fleet', 'status', '--etcd', etcd.endpoints[0]!, '--fleet', 'web'], work, 60_000);
        assert.match(stdout, /^fleet web: 0 hosts alive$/m);
      } finally {
        await etcd.close();
      }
    },
  );

  test("the app's own dependencies go beside it: npm i prom-client zod (what the pages below use)", async () => {
    const install = ['install', 'prom-client', 'zod', '--no-audit', '--no-fund', '--ignore-scripts'];
    await sh(npm, [...install, '--offline'], project).catch(() => sh(npm, [...install, '--prefer-offline'], project));
    assert.ok(existsSync(join(project, 'node_modules/prom-client/package.json')));
  });

  test('the installed library serves the status page from the package', async () => {
    const configPath = join(project, 'page.yaml');
    await writeFile(configPath, 'a: 1\n');
    const script = `
import { createReloader, fileSource } from 'reloadkit';
const r = createReloader({ source: fileSource(process.argv[2]), triggers: { http: { address: '127.0.0.1:0' } }, logger: { debug() {}, warn() {}, error() {}, info(o) { if (o.http) globalThis.addr = o.http; } } });
await r.start();
const out = {};
for (const path of ['/', '/page.js', '/page.css', '/favicon.svg']) out[path] = (await fetch('http://' + globalThis.addr + path)).status;
console.log(JSON.stringify(out));
await r.close();
`;
    await writeFile(join(project, 'page.mjs'), script);
    const { stdout } = await sh(process.execPath, ['page.mjs', configPath], project, 30_000);
    assert.deepEqual(JSON.parse(stdout), { '/': 200, '/page.js': 200, '/page.css': 200, '/favicon.svg': 200 });
  });

  test("the installed package reports its version: daemon status over the socket, HTTP and `status --json`, reloadkit_build_info, and the library's status", async () => {
    const dir = join(project, 'daemon');
    await mkdir(dir);
    const sock = join(dir, 'admin.sock');
    const file = join(dir, 'reloadkit.yaml');
    await writeFile(
      file,
      'state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: 127.0.0.1:0\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n',
    );
    // The bundled CLI (package.json inlined at build time).
    const d = await startDaemon({ args: ['-c', file], socket: sock, entry: [join(project, 'node_modules/reloadkit/bin/reloadkit.js')] });
    try {
      const base = `http://${String(d.lines.find((l) => l.msg === 'reloadkit started')!.http)}`;
      assert.equal((JSON.parse(await d.send('status')) as { version?: string }).version, pkg.version);
      assert.equal(((await (await fetch(`${base}/status`)).json()) as { version?: string }).version, pkg.version);
      const { stdout } = await sh(join(project, 'node_modules/.bin/reloadkit'), ['status', '--socket', sock, '--json'], project, 30_000);
      assert.equal((JSON.parse(stdout) as { version?: string }).version, pkg.version);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.deepEqual(
        metrics.split('\n').filter((l) => l.startsWith('reloadkit_build_info')),
        [`reloadkit_build_info{version="${pkg.version}",node="${process.versions.node}"} 1`],
      );
    } finally {
      assert.equal(await d.stop('SIGTERM'), 0);
    }

    // The library (dist/, which reads the package's package.json at run time).
    const libSock = join(dir, 'lib.sock');
    const script = `
import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { createReloader } from 'reloadkit';
const registry = new Registry();
const r = createReloader({ name: 'lib', source: { description: 'memory', load: async () => ({ value: { a: 1 }, files: [] }) }, triggers: { socket: process.argv[2] }, registry });
await r.start();
const status = await new Promise((resolve, reject) => {
  let text = '';
  const c = connect(process.argv[2], () => c.write('status\\n'));
  c.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => resolve(JSON.parse(text))).on('error', reject);
});
const build = (await registry.metrics()).split('\\n').filter((l) => l.startsWith('reloadkit_build_info'));
await r.close();
console.log(JSON.stringify({ version: status.version, build }));
`;
    await writeFile(join(project, 'version.mjs'), script);
    const lib = await sh(process.execPath, ['version.mjs', libSock], project, 30_000);
    assert.deepEqual(JSON.parse(lib.stdout), {
      version: pkg.version,
      build: [`reloadkit_build_info{version="${pkg.version}",node="${process.versions.node}"} 1`],
    });
  });

  test('types resolve for an ESM TypeScript consumer (NodeNext and bundler resolution)', async () => {
    const consumer = `
import { createReloader, fileSource, logLevelHook, type ConfigOf, type ReloadResult } from 'reloadkit';
import { z } from 'zod';

const schema = z.object({ server: z.object({ port: z.number() }), log: z.object({ level: z.string() }) });
type Config = ConfigOf<typeof schema>;
declare const logger: { level: string; levels: { values: Record<string, number> } };

const r = createReloader({ source: fileSource('config.yaml'), schema, hooks: [logLevelHook(logger, 'log.level')] });
const port: number = r.current().server.port;
const cfg: Config = r.current();
// @ts-expect-error snapshots are read-only
cfg.server.port = 1;
// @ts-expect-error the path must exist in the config
createReloader({ source: fileSource('config.yaml'), schema, hooks: [logLevelHook(logger, 'log.nope')] });
export async function go(): Promise<ReloadResult> {
  void port;
  return r.reload();
}
`;
    await writeFile(join(project, 'consumer.ts'), consumer);
    for (const resolution of ['NodeNext', 'Bundler'] as const) {
      const tsconfig = {
        compilerOptions: {
          target: 'ES2022',
          module: resolution === 'NodeNext' ? 'NodeNext' : 'ESNext',
          moduleResolution: resolution,
          strict: true,
          noEmit: true,
          // Once thoroughly (our .d.ts files too, which skipLibCheck would hide), once fast.
          skipLibCheck: resolution === 'Bundler',
          types: ['node'],
          typeRoots: [join(root, 'node_modules/@types')],
        },
        files: ['consumer.ts'],
      };
      const file = `tsconfig.${resolution}.json`;
      await writeFile(join(project, file), JSON.stringify(tsconfig));
      await sh(process.execPath, [tsc, '-p', file], project, 120_000);
    }
  });
});
