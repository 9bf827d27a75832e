// The install without npm that docs/daemon.md and deploy/reloadkit.service
// describe: bin/, dist/ and package.json copied to a directory of their own
// (no node_modules anywhere above it), a `reloadkit` link on the PATH. The
// daemon starts, answers `status`, serves its status page and stops with 0.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, httpGet, waitFor } from '../integration/helpers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('bin/, dist/ and package.json copied elsewhere are a complete install (the CLI bundle needs no node_modules)', { timeout: 60_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'rk-install-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  const lib = join(tmp, 'usr', 'lib', 'reloadkit');
  for (const part of ['bin', 'dist', 'package.json']) cpSync(join(root, part), join(lib, part), { recursive: true });
  const bin = join(tmp, 'usr', 'local', 'bin');
  mkdirSync(bin, { recursive: true });
  const reloadkit = join(bin, 'reloadkit');
  symlinkSync(join(lib, 'bin', 'reloadkit.js'), reloadkit);
  const env = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: tmp };
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };

  const version = spawnSync(reloadkit, ['--version'], { env, encoding: 'utf8', cwd: tmp });
  assert.equal(version.stdout, `reloadkit ${pkg.version}\n`, version.stderr);

  const port = await freePort();
  writeFileSync(
    join(tmp, 'reloadkit.yaml'),
    `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: 127.0.0.1:${port}\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n`,
  );
  const daemon = spawn(reloadkit, ['run', '-c', 'reloadkit.yaml'], { env, cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  daemon.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  daemon.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | null>((resolve) => daemon.once('exit', resolve));
  t.after(() => daemon.kill('SIGKILL'));
  await waitFor(() => out.includes('"msg":"reloadkit started"'), `the daemon to start; stderr: ${err}`);
  const status = spawnSync(reloadkit, ['status', '--socket', 'admin.sock'], { env, encoding: 'utf8', cwd: tmp });
  assert.equal(status.status, 0, status.stderr);
  assert.match(status.stdout, /^reloadkit: up \d+s, 1 target\n/);
  const page = await httpGet(port, '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>/);
  daemon.kill('SIGTERM');
  assert.equal(await exited, 0, err);
});
