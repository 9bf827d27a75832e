// What examples/nginx says about itself holds: its reloadkit.yaml is what
// `run --nginx` uses (as root), except the `config:` it adds; and its
// walkthrough runs as written.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { nginxZeroConfig, parseConfigText } from '../../src/daemon/config.js';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { nginxOrSkip, waitFor } from '../integration/helpers.js';

const file = fileURLToPath(new URL('../../examples/nginx/reloadkit.yaml', import.meta.url));

test('examples/nginx/reloadkit.yaml = the --nginx config (as root) plus config: /etc/nginx/nginx.conf', () => {
  // The example names the root defaults (the socket and state in /run and /var/lib): compare as root sees them.
  const asRoot = process.getuid?.() === 0;
  const example = parseConfigText(readFileSync(file, 'utf8'), file);
  const zero = nginxZeroConfig();
  const { config, ...target } = example.targets.nginx as typeof example.targets.nginx & { config?: string };
  assert.equal(config, '/etc/nginx/nginx.conf');
  assert.deepEqual({ ...target, cwd: '/' }, { ...zero.targets.nginx, cwd: '/' });
  const rest = (c: typeof example) => ({ ...c, targets: {}, ...(asRoot ? {} : { admin: { ...c.admin, socket: '' }, state_dir: '' }) });
  assert.deepEqual(rest(example), rest(zero));
  // And the text says exactly that difference.
  const readme = readFileSync(fileURLToPath(new URL('../../examples/nginx/README.md', import.meta.url)), 'utf8');
  assert.doesNotMatch(readme, /It is the same as\s+`reloadkit run --nginx`/);
  assert.match(readme, /with one difference: it\s+names the main file \(`config: \/etc\/nginx\/nginx\.conf`/);
});

// The walkthrough of examples/nginx/README.md, run as written: every command
// of its ```sh blocks, in order, in a copy of the directory (the README's
// /tmp/rk-nginx replaced by a temp path), with `reloadkit` on the PATH the way
// `npm link` puts it there (a link to bin/reloadkit.js, which runs the built
// CLI), and a real nginx. Between commands the test waits for the pass the
// README describes; a command the README adds, drops or changes fails here.
const readmePath = fileURLToPath(new URL('../../examples/nginx/README.md', import.meta.url));

interface ReadmeCommand {
  cmd: string;
  /** The comment after it: for curl, the output the README promises. */
  note: string;
}

function readmeCommands(): ReadmeCommand[] {
  const text = readFileSync(readmePath, 'utf8');
  const out: ReadmeCommand[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      if (line.trim() === '') continue;
      const m = /^(.*?)(?:\s+#\s(.*))?$/.exec(line)!;
      out.push({ cmd: m[1]!.trim(), note: (m[2] ?? '').trim() });
    }
  }
  return out;
}

const skipNginx = nginxOrSkip();

test('examples/nginx/README.md: the walkthrough runs as written, from a fresh directory', { skip: skipNginx, timeout: 120_000 }, async (t) => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 'rk-walkthrough-'));
  const copy = join(tmp, 'rk-nginx');
  // `npm link`: a `reloadkit` on the PATH that is bin/reloadkit.js.
  const bin = join(tmp, 'bin');
  mkdirSync(bin);
  symlinkSync(join(root, 'bin', 'reloadkit.js'), join(bin, 'reloadkit'));
  const env: NodeJS.ProcessEnv = { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? tmp, LANG: 'C' };
  const cmds = readmeCommands();
  const sh = (cmd: string, cwd = copy) => {
    const literal = cmd.replaceAll('/tmp/rk-nginx', copy);
    // Every command after `. ./ports.env` runs in the same shell session in the README: source it again here.
    const script = existsSync(join(copy, 'ports.env')) ? `. ./ports.env; ${literal}` : literal;
    return spawnSync('bash', ['-c', script], { cwd, env, encoding: 'utf8' });
  };
  const next = (expected: string): ReadmeCommand => {
    const c = cmds.shift();
    assert.equal(c?.cmd, expected, 'the next command of the README');
    return c!;
  };
  const run = (expected: string, cwd?: string) => {
    const r = sh(next(expected).cmd, cwd);
    assert.equal(r.status, 0, `${expected}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };
  const curl = (expected: string) => {
    const c = next(expected);
    const r = sh(c.cmd);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), c.note, `${c.cmd} prints what the README says`);
  };
  let daemon: { lines: Record<string, unknown>[]; proc: ChildProcess; exited: Promise<number | null>; stderr: () => string } | null = null;
  const startDaemonAsWritten = () => {
    const c = next('cd /tmp/rk-nginx && reloadkit run -c walkthrough.yaml');
    // Its own process group, as a terminal's foreground job: Ctrl-C is SIGINT to the group.
    const proc = spawn('bash', ['-c', c.cmd.replaceAll('/tmp/rk-nginx', copy)], { cwd: tmp, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Record<string, unknown>[] = [];
    let err = '';
    let buf = '';
    proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
        buf = buf.slice(nl + 1);
      }
    });
    proc.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
    daemon = { lines, proc, exited, stderr: () => err };
    return daemon;
  };
  const line = (pred: (l: Record<string, unknown>) => boolean, what: string, from = 0) =>
    waitFor(() => daemon!.lines.slice(from).find(pred), `${what}; stderr: ${daemon!.stderr()}`, 30_000);
  // The log line of a socket request's pass may come after the CLI returned: wait by trigger.
  const pass = (from: number, what: string, trigger = 'watch') =>
    line((l) => l.msg === 'reload pass' && l.unit === 'nginx' && l.trigger === trigger, what, from);
  const lastStatus = async () => {
    const r = sh('reloadkit status --socket ./admin.sock --json');
    return (JSON.parse(r.stdout) as { units: Record<string, { last_result: { status: string } | null }> }).units.nginx!.last_result?.status;
  };
  t.after(async () => {
    if (daemon && daemon.proc.exitCode === null) process.kill(-daemon.proc.pid!, 'SIGKILL');
    const pid = existsSync(join(copy, 'nginx.pid')) ? Number(readFileSync(join(copy, 'nginx.pid'), 'utf8').trim()) : 0;
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  });

  run('cp -r examples/nginx /tmp/rk-nginx && cd /tmp/rk-nginx', root);
  assert.match(run('node ports.mjs'), /written to ports\.env/);
  run('. ./ports.env');
  const ports = Object.fromEntries(
    readFileSync(join(copy, 'ports.env'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
  run('mkdir -p tmp');
  run('nginx -p "$PWD/" -c nginx.conf -e error.log');
  await waitFor(() => existsSync(join(copy, 'nginx.pid')), 'nginx to start');
  curl('curl http://127.0.0.1:$SITE_PORT/');

  let d = startDaemonAsWritten();
  const started = await line((l) => l.msg === 'reloadkit started', 'reloadkit started');
  assert.deepEqual(started.targets, { nginx: 'recorded' });
  assert.equal(started.http, `127.0.0.1:${ports.RK_HTTP_PORT}`);

  // 1. An edit goes live.
  let from = d.lines.length;
  run("sed -i 's/version 1/version 2/' conf.d/site.conf");
  let p = await pass(from, 'the pass of step 1');
  assert.equal(p.status, 'full_success', String(p.error));
  assert.deepEqual(p.changed, [`files[${JSON.stringify(join(copy, 'conf.d', 'site.conf'))}]`]);
  curl('curl http://127.0.0.1:$SITE_PORT/');

  // 2. A broken edit is refused; /ready stays 200 with it under degraded; strict is 503.
  from = d.lines.length;
  run("echo 'bogus;' >> conf.d/site.conf");
  p = await pass(from, 'the pass of step 2');
  assert.equal(p.status, 'validation_failed');
  assert.match(String(p.error), new RegExp(`unknown directive "bogus" in ${join(copy, 'conf.d', 'site.conf')}:8`));
  assert.match(run('reloadkit status --socket ./admin.sock'), /\nnginx +1 +validation_failed .*\n {2}error: .*unknown directive "bogus"/);
  const ready = JSON.parse(run('curl http://127.0.0.1:$RK_HTTP_PORT/ready')) as { status: string; degraded: string[] };
  assert.equal(ready.status, 'ready');
  assert.match(ready.degraded[0]!, /^nginx: last reload validation_failed: /);
  assert.match(run('curl -i "http://127.0.0.1:$RK_HTTP_PORT/ready?strict=1"'), /^HTTP\/1\.1 503 Service Unavailable/);
  run("sed -i '/^bogus;$/d' conf.d/site.conf");
  await waitFor(async () => (await lastStatus()) === 'unchanged', 'the unchanged pass of step 2');
  assert.deepEqual((JSON.parse(sh('curl http://127.0.0.1:$RK_HTTP_PORT/ready').stdout) as { degraded?: string[] }).degraded, undefined);

  // 3. nginx -t passes, the master cannot bind: apply_failed with the bind() line once.
  from = d.lines.length;
  run('sed -i "s/listen 127.0.0.1:$SITE_PORT;/&\\n    listen 127.0.0.1:$RK_HTTP_PORT;/" conf.d/site.conf');
  p = await pass(from, 'the pass of step 3');
  assert.equal(p.status, 'apply_failed');
  assert.match(String(p.error), new RegExp(`bind\\(\\) to 127\\.0\\.0\\.1:${ports.RK_HTTP_PORT} failed \\(98: Address already in use\\) \\(5 times\\)`));
  assert.match(run('reloadkit status --socket ./admin.sock'), /\nnginx +1 +apply_failed .*\n {2}error: .*bind\(\).*\(5 times\)/);
  run('sed -i "/listen 127.0.0.1:$RK_HTTP_PORT;/d" conf.d/site.conf');
  await waitFor(async () => (await lastStatus()) === 'unchanged', 'the unchanged pass of step 3');

  // 4. Ask the daemon.
  assert.match(run('reloadkit status --socket ./admin.sock'), /^reloadkit: up \d+s, 1 target\n/);
  assert.match(run('reloadkit reload --socket ./admin.sock'), /^reloadkit: full_success .*\nnginx: full_success /);
  assert.equal((JSON.parse(run('reloadkit reload nginx --socket ./admin.sock --json')) as { status: string }).status, 'ok');
  assert.match(run('curl http://127.0.0.1:$RK_HTTP_PORT/metrics'), /^reloadkit_reloads_total\{unit="nginx",status="full_success"\} [1-9]/m);
  assert.equal((JSON.parse(run('curl "http://127.0.0.1:$RK_HTTP_PORT/reload-status?unit=nginx"')) as { status: string }).status, 'full_success');

  // 5. Files nginx never reads start nothing; a new matching file is a pass naming only it.
  from = d.lines.length;
  run("echo 'renew the certificate in May' > conf.d/NOTES.txt");
  run('cp conf.d/site.conf conf.d/site.conf.bak');
  run("echo 'map $uri $walkthrough { default 1; }' > conf.d/extra.conf");
  p = await pass(from, 'the pass of step 5');
  assert.equal(p.status, 'full_success', String(p.error));
  assert.deepEqual(p.changed, [`files[${JSON.stringify(join(copy, 'conf.d', 'extra.conf'))}]`]);

  // 6. Ctrl-C: exit status 0; a restart reloads nothing; an edit while stopped is caught up.
  process.kill(-d.proc.pid!, 'SIGINT');
  assert.equal(await d.exited, 0, d.stderr());
  assert.equal(existsSync(join(copy, 'admin.sock')), false);
  d = startDaemonAsWritten();
  assert.deepEqual((await line((l) => l.msg === 'reloadkit started', 'the restart')).targets, { nginx: 'current' });
  process.kill(-d.proc.pid!, 'SIGINT');
  assert.equal(await d.exited, 0);
  sh("sed -i 's/version 2/version 3/' conf.d/site.conf");
  cmds.unshift({ cmd: 'cd /tmp/rk-nginx && reloadkit run -c walkthrough.yaml', note: '' });
  d = startDaemonAsWritten();
  assert.deepEqual((await line((l) => l.msg === 'reloadkit started', 'the start after an edit')).targets, { nginx: 'reload' });
  p = await pass(0, 'the start pass', 'start');
  assert.equal(p.trigger, 'start');
  assert.equal(p.status, 'full_success');
  assert.equal(sh('curl http://127.0.0.1:$SITE_PORT/').stdout, 'hello from nginx, version 3\n');
  process.kill(-d.proc.pid!, 'SIGINT');
  assert.equal(await d.exited, 0);

  // Clean up, as written.
  const master = Number(readFileSync(join(copy, 'nginx.pid'), 'utf8').trim());
  run('kill -QUIT $(cat /tmp/rk-nginx/nginx.pid)');
  await waitFor(() => !isRunning(master), 'nginx to exit');
  assert.deepEqual(cmds, [], 'every command of the README was run');
});
