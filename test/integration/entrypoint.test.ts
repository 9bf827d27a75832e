// The container's supervisor (deploy/docker/entrypoint.sh) without a Docker
// engine: the script as the image runs it, with a real nginx (in a temp
// prefix, through an `nginx` wrapper on PATH) and reloadkit run from the
// files the Dockerfile's build stage keeps (its `cp` step, run here against
// the built dist/: no node_modules). What the image promises: a change is
// reloaded; the HEALTHCHECK command passes against /ready; a stop stops
// reloadkit, then nginx with SIGQUIT (graceful); nginx's master dying ends
// the container (exit 1) with reloadkit stopped; reloadkit ending stops
// nginx gracefully.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { childrenOf, isRunning } from '../../src/daemon/targets/proc.js';
import { healthcheckArgv, readDockerfile } from '../helpers/dockerfile.js';
import { ROOT } from './daemon-process.js';
import { freePort, httpGet, nginxOrSkip, waitFor } from './helpers.js';

const skip = nginxOrSkip();
const tmp = mkdtempSync(join(tmpdir(), 'rk-entry-'));
const instructions = readDockerfile(ROOT);
const isRoot = process.getuid?.() === 0;
const strays = new Set<number>();
let runtimeFiles = '';

after(() => {
  for (const pid of strays) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  rmSync(tmp, { recursive: true, force: true });
});

before(() => {
  if (skip) return;
  // The build stage's copy step, with /out here: what the image has in /opt/reloadkit.
  runtimeFiles = join(tmp, 'opt');
  const copy = instructions.find((i) => i.keyword === 'RUN' && i.stage === 0 && i.args.includes('/out'))!.args.replaceAll('/out', runtimeFiles);
  const r = spawnSync('sh', ['-c', copy], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

interface Supervisor {
  proc: ChildProcess;
  dir: string;
  port: number;
  httpPort: number;
  stderr(): string;
  stdout(): string;
  exited: Promise<number | string>;
  master(): number;
  reloadkitPid(): number;
  writeSite(body: string): void;
}

async function start(): Promise<Supervisor> {
  const dir = mkdtempSync(join(tmp, 'case-'));
  const prefix = join(dir, 'nginx');
  const bin = join(dir, 'bin');
  mkdirSync(join(prefix, 'conf.d'), { recursive: true });
  mkdirSync(join(prefix, 'tmp'));
  mkdirSync(bin);
  const [port, httpPort] = [await freePort(), await freePort()];
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((k) => `    ${k}_temp_path ${prefix}/tmp/${k};`).join('\n');
  // As the image's nginx.conf: the error log to a file and to stderr.
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `${isRoot ? 'user root;\n' : ''}worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log notice;
error_log stderr notice;
events { worker_connections 64; }
http {
    access_log off;
${temp}
    include ${prefix}/conf.d/*.conf;
}
`,
  );
  const writeSite = (body: string) => {
    writeFileSync(join(prefix, 'conf.d/site.conf.tmp'), `server { listen 127.0.0.1:${port}; location / { return 200 "${body}"; } }\n`);
    spawnSync('mv', [join(prefix, 'conf.d/site.conf.tmp'), join(prefix, 'conf.d/site.conf')]);
  };
  writeSite('one');
  const nginx = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' }).stdout.trim();
  writeFileSync(join(bin, 'nginx'), `#!/bin/sh\nexec ${nginx} -p ${prefix}/ -c ${prefix}/nginx.conf -e ${prefix}/error.log "$@"\n`);
  writeFileSync(join(bin, 'reloadkit'), `#!/bin/sh\nexec ${process.execPath} ${runtimeFiles}/bin/reloadkit.js "$@"\n`);
  for (const f of ['nginx', 'reloadkit']) chmodSync(join(bin, f), 0o755);
  const config = join(dir, 'reloadkit.yaml');
  writeFileSync(
    config,
    `state_dir: ${join(dir, 'state')}
admin:
  socket: ${join(dir, 'admin.sock')}
  http: 127.0.0.1:${httpPort}
targets:
  nginx:
    kind: nginx
    binary: ${join(bin, 'nginx')}
    watch: [${join(prefix, 'conf.d')}]
`,
  );
  const proc = spawn('bash', [join(ROOT, 'deploy/docker/entrypoint.sh')], {
    env: { PATH: `${bin}:${process.env.PATH}`, RELOADKIT_CONFIG: config },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  const s: Supervisor = {
    proc,
    dir,
    port,
    httpPort,
    stderr: () => err,
    stdout: () => out,
    exited,
    master: () => Number(readFileSync(join(prefix, 'nginx.pid'), 'utf8').trim()),
    reloadkitPid: () => {
      const line = out.split('\n').find((l) => l.includes('"msg":"reloadkit started"'));
      return (JSON.parse(line!) as { pid: number }).pid;
    },
    writeSite,
  };
  void exited.then(() => strays.delete(proc.pid!));
  strays.add(proc.pid!);
  await waitFor(async () => (await httpGet(port).catch(() => ({ body: '' }))).body === 'one', 'nginx serving');
  await waitFor(() => out.includes('"msg":"reloadkit started"'), 'reloadkit started');
  for (const w of childrenOf(s.master())) strays.add(w);
  strays.add(s.master());
  strays.add(s.reloadkitPid());
  return s;
}

/** The Dockerfile's HEALTHCHECK, pointed at this test's port. */
function healthcheck(httpPort: number): number {
  const [cmd, ...args] = healthcheckArgv(instructions).map((a) => a.replace('127.0.0.1:9111', `127.0.0.1:${httpPort}`));
  return spawnSync(cmd!, args, { timeout: 10_000 }).status ?? -1;
}

describe('the container supervisor (deploy/docker/entrypoint.sh)', { skip }, () => {
  it('serves and reloads; the HEALTHCHECK passes; a stop ends reloadkit, then nginx gracefully (SIGQUIT), exit 0', async () => {
    const s = await start();
    await waitFor(() => healthcheck(s.httpPort) === 0, 'the HEALTHCHECK command to pass');
    s.writeSite('two');
    await waitFor(async () => (await httpGet(s.port)).body === 'two', 'the change served');
    // nginx's lines reach the supervisor's stderr too (docker logs), beside the file reloadkit reads.
    await waitFor(() => s.stderr().includes('[notice]'), 'nginx notices on stderr');
    const [master, reloadkit] = [s.master(), s.reloadkitPid()];

    s.proc.kill('SIGTERM');
    assert.equal(await s.exited, 0, s.stderr());
    assert.match(s.stderr(), /entrypoint: stop requested: stopping reloadkit, then nginx \(gracefully\)/);
    assert.match(readFileSync(join(s.dir, 'nginx/error.log'), 'utf8'), /signal 3 \(SIGQUIT\) received/);
    assert.ok(s.stdout().includes('"msg":"reloadkit stopped"'));
    assert.ok(!isRunning(master) && !isRunning(reloadkit));
    assert.notEqual(healthcheck(s.httpPort), 0, 'unhealthy once stopped');
  });

  it('nginx’s master dying ends it: reloadkit is stopped, exit 1', async () => {
    const s = await start();
    const reloadkit = s.reloadkitPid();
    process.kill(s.master(), 'SIGKILL');
    assert.equal(await s.exited, 1);
    assert.match(s.stderr(), /entrypoint: nginx's master process exited \(status 137\); stopping reloadkit, the container exits 1/);
    assert.ok(s.stdout().includes('"msg":"reloadkit stopped"'));
    assert.ok(!isRunning(reloadkit));
  });

  it('reloadkit ending stops nginx gracefully; the exit status is reloadkit’s', async () => {
    const s = await start();
    const master = s.master();
    process.kill(s.reloadkitPid(), 'SIGTERM');
    assert.equal(await s.exited, 0);
    assert.match(s.stderr(), /entrypoint: reloadkit exited \(status 0\); stopping nginx \(gracefully\)/);
    assert.match(readFileSync(join(s.dir, 'nginx/error.log'), 'utf8'), /signal 3 \(SIGQUIT\) received/);
    assert.ok(!isRunning(master));
  });
});
