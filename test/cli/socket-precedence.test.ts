// Where `reloadkit reload` and `reloadkit status` look for the admin socket
// (flag > environment > file > default), with real config files;
// and that the flag and the environment never make them load yaml or zod.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { findSocket } from '../../src/cli/common.js';
import { defaultSocketPath } from '../../src/shared/defaults.js';
import { cliEntry, ROOT } from '../helpers/cli-entry.js';
import { ClientConfigError, UsageError } from '../../src/shared/errors.js';

// Written by the build: which chunk of dist/ holds which module.
const CLI_META = join(ROOT, 'node_modules', '.cache', 'reloadkit', 'cli-meta.json');

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'rk-prec-')));
after(() => rmSync(tmp, { recursive: true, force: true }));

let seq = 0;
function config(body: string, name = 'reloadkit.yaml'): string {
  const dir = join(tmp, `c${++seq}`);
  mkdirSync(dir);
  const file = join(dir, name);
  writeFileSync(file, body);
  return file;
}

const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ XDG_RUNTIME_DIR: join(tmp, 'xdg'), ...extra });
const missingDefault = join(tmp, 'no-such-dir', 'reloadkit.yaml');

describe('client socket precedence: flag > RELOADKIT_SOCKET > admin.socket of the file > default', () => {
  it('each level wins over the ones below it', async () => {
    const file = config('admin:\n  socket: /run/from-file.sock\ntargets: {}\n');
    const all = env({ RELOADKIT_SOCKET: '/run/from-env.sock', RELOADKIT_CONFIG: file });
    assert.deepEqual(await findSocket({ socket: '/run/from-flag.sock', config: file }, all, file), { path: '/run/from-flag.sock', from: 'flag' });
    assert.deepEqual(await findSocket({ config: file }, all, file), { path: '/run/from-env.sock', from: 'env' });
    assert.deepEqual(await findSocket({ config: file }, env(), missingDefault), { path: '/run/from-file.sock', from: 'file', file });
    // RELOADKIT_CONFIG names the file when -c does not; the default file is used when it exists.
    assert.deepEqual(await findSocket({}, env({ RELOADKIT_CONFIG: file }), missingDefault), { path: '/run/from-file.sock', from: 'file', file });
    assert.deepEqual(await findSocket({}, env(), file), { path: '/run/from-file.sock', from: 'file', file });
    // -c beats RELOADKIT_CONFIG.
    const other = config('admin:\n  socket: /run/other.sock\ntargets: {}\n');
    assert.equal((await findSocket({ config: other }, env({ RELOADKIT_CONFIG: file }), missingDefault)).path, '/run/other.sock');
    // No flag, no environment, no file: the built-in default.
    assert.deepEqual(await findSocket({}, env(), missingDefault), { path: defaultSocketPath(env()), from: 'default' });
    // An empty environment variable counts as unset.
    assert.deepEqual(await findSocket({}, env({ RELOADKIT_SOCKET: '', RELOADKIT_CONFIG: '' }), missingDefault), {
      path: defaultSocketPath(env()),
      from: 'default',
    });
  });

  it("a relative admin.socket resolves against the config file's directory (as the daemon does), not the working directory", async () => {
    const file = config('admin:\n  socket: ./run/admin.sock\ntargets: {}\n');
    const r = await findSocket({ config: file }, env(), missingDefault);
    assert.equal(r.path, join(file, '..', 'run', 'admin.sock'));
    assert.notEqual(r.path, join(process.cwd(), 'run', 'admin.sock'));
  });

  it('a file without admin.socket gives the default; a file the daemon would reject elsewhere still gives its admin.socket', async () => {
    const plain = config('targets:\n  a:\n    kind: command\n    reload: ["true"]\n');
    assert.deepEqual(await findSocket({ config: plain }, env(), missingDefault), { path: defaultSocketPath(env()), from: 'file', file: plain });
    const typo = config('admin:\n  socket: /run/typo.sock\ntargets:\n  a:\n    kind: comand\n');
    assert.equal((await findSocket({ config: typo }, env(), missingDefault)).path, '/run/typo.sock');
    const empty = config('');
    assert.equal((await findSocket({ config: empty }, env(), missingDefault)).path, defaultSocketPath(env()));
  });

  it('a named file that is missing, unparsable, or disables the socket is an error naming the file; --socket "" is a usage error', async () => {
    const missing = join(tmp, 'absent.yaml');
    await assert.rejects(findSocket({ config: missing }, env(), missingDefault), (e: unknown) => {
      assert.ok(e instanceof ClientConfigError);
      assert.match(
        e.message,
        new RegExp(`cannot read the config file ${missing} for admin\\.socket: no such file \\(pass --socket PATH or set RELOADKIT_SOCKET\\)`),
      );
      return true;
    });
    await assert.rejects(findSocket({}, env({ RELOADKIT_CONFIG: missing }), missingDefault), ClientConfigError);
    const broken = config('admin:\n  socket: [\n');
    await assert.rejects(findSocket({ config: broken }, env(), missingDefault), (e: unknown) => {
      assert.ok(e instanceof ClientConfigError);
      assert.match(e.message, new RegExp(`^${broken}:\\d+:\\d+: invalid YAML: `));
      return true;
    });
    const disabled = config('admin:\n  socket: ""\ntargets: {}\n');
    await assert.rejects(findSocket({ config: disabled }, env(), missingDefault), /disables the admin socket \(admin\.socket: ""\)/);
    const notPath = config('admin:\n  socket: 42\ntargets: {}\n');
    await assert.rejects(findSocket({ config: notPath }, env(), missingDefault), /admin\.socket must be a path/);
    await assert.rejects(findSocket({ socket: '' }, env(), missingDefault), UsageError);
    // The flag is not checked against a file it does not need.
    assert.equal((await findSocket({ socket: '/run/x.sock', config: missing }, env(), missingDefault)).path, '/run/x.sock');
  });
});

describe('the client stays light', () => {
  // A resolve hook that reports every module the process loads. The built CLI
  // loads chunks, so the build's metafile says which packages each holds.
  // module.registerHooks (Node >= 22.15) runs it in the process's own thread
  // and writes synchronously; module.register, deprecated since Node 26, is
  // the fallback on Node 20.
  const hookDir = join(tmp, 'hook');
  mkdirSync(hookDir);
  writeFileSync(
    join(hookDir, 'hook.mjs'),
    'export async function resolve(s, c, next) {\n  const r = await next(s, c);\n  console.error(`LOADED ${r.url}`);\n  return r;\n}\n',
  );
  writeFileSync(
    join(hookDir, 'register.mjs'),
    [
      "import * as mod from 'node:module';",
      "import { writeSync } from 'node:fs';",
      "if (typeof mod.registerHooks === 'function') {",
      '  mod.registerHooks({ resolve(s, c, next) { const r = next(s, c); writeSync(2, `LOADED ${r.url}\\n`); return r; } });',
      '} else {',
      `  mod.register(${JSON.stringify(pathToFileURL(join(hookDir, 'hook.mjs')).href)});`,
      '}',
      '',
    ].join('\n'),
  );

  /** npm packages whose code the loaded modules hold (directly, or bundled into a dist/ chunk). */
  function loadedPackages(stderr: string): Set<string> {
    const meta = existsSync(CLI_META)
      ? (JSON.parse(readFileSync(CLI_META, 'utf8')) as { outputs: Record<string, { inputs: Record<string, unknown> }> })
      : { outputs: {} };
    const pkgOf = (p: string) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(p)?.[1];
    const out = new Set<string>();
    for (const [, url] of stderr.matchAll(/^LOADED (file:\S+)$/gm)) {
      const file = fileURLToPath(url!);
      const direct = pkgOf(file);
      if (direct) out.add(direct);
      const chunk = meta.outputs[relative(ROOT, file)];
      for (const input of Object.keys(chunk?.inputs ?? {})) {
        const p = pkgOf(input);
        if (p) out.add(p);
      }
    }
    return out;
  }

  function traced(args: string[], extraEnv: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string; packages: Set<string> }> {
    return new Promise((resolve, reject) => {
      const childEnv: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RELOADKIT_')) childEnv[k] = v;
      const p = spawn(process.execPath, ['--import', join(hookDir, 'register.mjs'), ...cliEntry(), ...args], {
        cwd: ROOT,
        env: { ...childEnv, ...extraEnv },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      p.on('error', reject);
      p.on('close', (code) => resolve({ code: code ?? -1, stderr, packages: loadedPackages(stderr) }));
    });
  }

  it('status/reload with --socket or RELOADKIT_SOCKET load neither yaml nor zod; with a config file they do (lazily)', async () => {
    const sock = join(tmp, 'nobody-here.sock');
    const file = config(`admin:\n  socket: ${sock}\ntargets: {}\n`);
    for (const [args, e] of [
      [['status', '--socket', sock, '-c', file], {}],
      [['status'], { RELOADKIT_SOCKET: sock, RELOADKIT_CONFIG: file }],
      [['reload', 'x', '--socket', sock], {}],
    ] as [string[], NodeJS.ProcessEnv][]) {
      const r = await traced(args, e);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(!r.packages.has('yaml') && !r.packages.has('zod'), `${args.join(' ')} loaded ${[...r.packages].join(', ')}`);
      assert.match(r.stderr, /cannot reach the daemon: no admin socket at/);
    }
    // The control: reading the file does load them, so the hook does see loads.
    const r = await traced(['status', '-c', file], {});
    assert.equal(r.code, 2);
    assert.ok(r.packages.has('yaml'), `loaded: ${[...r.packages].join(', ')}`);
    assert.match(r.stderr, new RegExp(`cannot reach the daemon: no admin socket at ${sock} .*; the path is admin\\.socket of ${file}`));
  });
});
