// The real daemon as a child process, driven through its real CLI, socket
// and signals: exit codes, target failures, timeouts without orphans, its
// own config reloaded live, restarts that reload nothing, graceful shutdown.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { cli, startDaemon, type DaemonHandle } from './daemon-process.js';
import { freePort, waitFor } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-daemon-'));
const running = new Set<DaemonHandle>();
after(async () => {
  for (const d of running) await d.stop('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

let seq = 0;
function caseDir(): string {
  const d = join(tmp, `c${++seq}`);
  mkdirSync(d);
  return d;
}

/** Writes reloadkit.yaml (socket and state inside `dir`, HTTP off unless given) and returns its path. */
function writeConfig(dir: string, body: string, admin = 'admin:\n  socket: ./admin.sock\n  http: ""\n'): string {
  const file = join(dir, 'reloadkit.yaml');
  writeFileSync(file, `state_dir: ./state\n${admin}${body}`);
  return file;
}

async function run(dir: string, extra: string[] = []): Promise<DaemonHandle> {
  const d = await startDaemon({ args: ['-c', join(dir, 'reloadkit.yaml'), ...extra], socket: join(dir, 'admin.sock') });
  running.add(d);
  void d.exited.then(() => running.delete(d));
  return d;
}

const readPid = (file: string) => Number(readFileSync(file, 'utf8').trim());

describe('reloadkit daemon (real process)', () => {
  it('reload exit codes: 0 success, 1 a failed unit, 2 unknown unit or unreachable socket; clear target errors', async () => {
    const dir = caseDir();
    writeConfig(
      dir,
      `targets:
  ok:
    kind: command
    check: [test, -d, .]
    reload: ["true"]
  missing:
    kind: command
    reload: [/nonexistent/bin/reloader, --now]
  stale:
    kind: signal
    pidfile: ./stale.pid
`,
    );
    writeFileSync(join(dir, 'stale.pid'), '999999\n');
    const d = await run(dir);
    const sock = ['--socket', d.socket];

    let r = await cli(['reload', 'ok', ...sock]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: full_success \(generation 1, \d+ ms\)\n$/);

    r = await cli(['reload', 'missing', ...sock]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^missing: apply_failed: missing: command not found: "\/nonexistent\/bin\/reloader"/);

    r = await cli(['reload', 'stale', ...sock]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /stale pidfile .*stale\.pid: no process with pid 999999 is running/);

    r = await cli(['reload', 'nope', ...sock]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown unit: nope/);

    r = await cli(['reload', '--json', ...sock]);
    assert.equal(r.code, 1);
    const reply = JSON.parse(r.stdout) as { status: string; results: Record<string, { status: string }> };
    assert.equal(reply.status, 'error');
    assert.deepEqual(Object.keys(reply.results).sort(), ['missing', 'ok', 'reloadkit', 'stale']);
    assert.equal(reply.results.reloadkit!.status, 'full_success');

    r = await cli(['reload', '--no-wait', ...sock]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /queued/);

    r = await cli(['reload', '--socket', join(dir, 'nothing-here.sock')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot reach the daemon: no admin socket at .*nothing-here\.sock/);

    r = await cli(['status', ...sock]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^reloadkit: up \d+s, 3 targets\n/);
    assert.match(r.stdout, /\nok +\d+ +full_success/);

    assert.equal(await d.stop(), 0);
  });

  it('the http target retries a refused connection until the service accepts', async () => {
    const dir = caseDir();
    const port = await freePort();
    writeConfig(dir, `targets:\n  web:\n    kind: http\n    url: http://127.0.0.1:${port}/-/reload\n    timeout: 30s\n`);
    const d = await run(dir, ['--log-level', 'debug']);
    let hits = 0;
    const srv = createServer((req, res) => {
      hits += req.method === 'POST' ? 1 : 0;
      res.end('ok');
    });
    const pending = cli(['reload', 'web', '--socket', d.socket]);
    // Refused first (nothing listens yet): the daemon says it retries; then the service comes up.
    const retry = await d.waitForLine((l) => l.msg === 'http target not reachable; retrying' && l.target === 'web', 'a refused attempt');
    assert.equal(retry.code, 'ECONNREFUSED');
    await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
    try {
      const r = await pending;
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(hits, 1);
    } finally {
      srv.close();
    }
    assert.equal(await d.stop(), 0);
  });

  it('a hung reload is killed at its timeout and leaves no orphan', async () => {
    const dir = caseDir();
    // The grandchild ignores SIGTERM; only the group SIGKILL can end it.
    writeConfig(
      dir,
      `targets:\n  hang:\n    kind: command\n    reload: [sh, -c, "trap '' TERM; sleep 300 & echo $! > grandchild.pid; wait"]\n    timeout: 1s\n`,
    );
    const d = await run(dir);
    const r = await cli(['reload', 'hang', '--socket', d.socket]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /hang: apply_failed: .*timed out after 1000 ms and was killed/);
    const gc = readPid(join(dir, 'grandchild.pid'));
    await waitFor(() => !isRunning(gc), `grandchild ${gc} to be gone`, 20_000);
    assert.equal(await d.stop(), 0);
  });

  it('SIGTERM during a running reload: waiter told "shutting down", children killed, socket removed, exit 0', async () => {
    const dir = caseDir();
    writeConfig(
      dir,
      `targets:\n  slow:\n    kind: command\n    reload: [sh, -c, "echo $$ > leader.pid; sleep 300 & echo $! > grandchild.pid; wait"]\n    timeout: 5m\n`,
    );
    const d = await run(dir);
    const reply = d.send('reload slow');
    await waitFor(() => existsSync(join(dir, 'grandchild.pid')) && readFileSync(join(dir, 'grandchild.pid'), 'utf8').trim() !== '', 'the reload to start');
    const leader = readPid(join(dir, 'leader.pid'));
    const gc = readPid(join(dir, 'grandchild.pid'));
    assert.equal(isRunning(gc), true);
    const code = await d.stop('SIGTERM');
    assert.equal(code, 0, d.stderr());
    assert.deepEqual(JSON.parse(await reply), { status: 'error', message: 'shutting down' });
    assert.equal(isRunning(leader), false, 'reload command still running');
    assert.equal(isRunning(gc), false, 'grandchild still running');
    assert.equal(existsSync(d.socket), false, 'socket file left behind');
    assert.ok(d.lines.some((l) => l.msg === 'reloadkit stopped'));
  });

  it("SIGHUP reloads the daemon's own config: log level changes live, a target is added and then removed", async () => {
    const dir = caseDir();
    // A long quiet period: the SIGHUP, not the watcher, applies each edit.
    const head = 'watch:\n  debounce: 20s\n  max_wait: 20s\n';
    const file = writeConfig(dir, `${head}log_level: info\ntargets:\n  a:\n    kind: command\n    reload: ["true"]\n`);
    const d = await run(dir);
    assert.equal(
      d.lines.some((l) => l.level === 'debug'),
      false,
    );

    writeFileSync(file, readFileSync(file, 'utf8').replace('log_level: info', 'log_level: debug') + '  b:\n    kind: command\n    reload: ["true"]\n');
    const from = d.lines.length;
    d.proc.kill('SIGHUP');
    const own = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'reloadkit', 'reloadkit pass after SIGHUP', from);
    assert.equal(own.trigger, 'signal');
    assert.equal(own.status, 'full_success');
    // SIGHUP does what `reload` does: every target too, the new one included.
    await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'b' && l.trigger === 'signal', 'target b reloaded', from);
    await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'a' && l.trigger === 'signal', 'target a reloaded', from);
    let status = JSON.parse(await d.send('status')) as { targets: number; units: Record<string, unknown> };
    assert.equal(status.targets, 2);
    assert.deepEqual(Object.keys(status.units).sort(), ['a', 'b', 'reloadkit']);
    // debug lines now appear (the unchanged-content passes and watcher lines are debug)
    await d.send('reload a');
    await waitFor(() => d.lines.slice(from).some((l) => l.level === 'debug'), 'a debug line');

    writeFileSync(
      file,
      `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: ""\n${head}log_level: warn\ntargets:\n  a:\n    kind: command\n    reload: ["true"]\n`,
    );
    d.proc.kill('SIGHUP');
    // At warn, the (info) pass line is not logged: the status shows when the pass is done.
    status = await waitFor(async () => {
      const s = JSON.parse(await d.send('status')) as { targets: number; units: Record<string, { generation: number }> };
      return s.units.reloadkit!.generation === 2 ? s : null;
    }, 'second SIGHUP pass');
    assert.equal(status.targets, 1);
    assert.deepEqual(Object.keys(status.units).sort(), ['a', 'reloadkit']);
    const r = JSON.parse(await d.send('reload b')) as { message: string };
    assert.equal(r.message, 'unknown unit: b');
    // At warn, successful passes (info) are no longer logged.
    const before = d.lines.length;
    await d.send('reload a');
    assert.equal(d.lines.slice(before).filter((l) => l.msg === 'reload pass').length, 0);
    assert.equal(await d.stop(), 0);
  });

  it('watches its own config file; an admin.socket change is reported as needing a restart', async () => {
    const dir = caseDir();
    const file = writeConfig(dir, 'targets:\n  a:\n    kind: command\n    reload: ["true"]\n');
    const d = await run(dir);
    const from = d.lines.length;
    writeFileSync(
      file,
      `state_dir: ./state\nadmin:\n  socket: ./other.sock\n  http: ""\ntargets:\n  a:\n    kind: command\n    reload: ["true"]\n  c:\n    kind: command\n    reload: ["true"]\n`,
    );
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'reloadkit', 'watch pass', from);
    assert.equal(pass.trigger, 'watch');
    assert.deepEqual(pass.requires_restart, ['admin.socket']);
    const status = JSON.parse(await d.send('status')) as { units: Record<string, { pending_restart: string[] }> };
    assert.deepEqual(status.units.reloadkit!.pending_restart, ['admin.socket']);
    assert.ok(status.units.c, 'target c added by the watched edit');
    // still served on the old socket
    assert.equal(existsSync(join(dir, 'other.sock')), false);

    // A broken edit: load_failed with the line, the old config stays.
    const from2 = d.lines.length;
    writeFileSync(file, 'targets:\n  a:\n    kind: comand\n');
    const bad = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'reloadkit', 'failed pass', from2);
    assert.equal(bad.status, 'load_failed');
    assert.match(String(bad.error), /reloadkit\.yaml:3:11: targets\.a\.kind: Invalid discriminator value/);
    const after = JSON.parse(await d.send('status')) as { targets: number };
    assert.equal(after.targets, 2);
    assert.equal(await d.stop(), 0);
  });

  it('a restart reloads nothing when nothing changed, and runs a start pass when a target changed while it was down', async () => {
    const dir = caseDir();
    writeFileSync(join(dir, 'app.conf'), 'one\n');
    writeConfig(dir, 'targets:\n  app:\n    kind: command\n    reload: [sh, -c, "echo x >> reloads.log"]\n    watch: [app.conf]\n');
    let d = await run(dir);
    assert.deepEqual((await d.waitForLine((l) => l.msg === 'reloadkit started', 'start')).targets, { app: 'recorded' });
    assert.equal(await d.stop(), 0);

    d = await run(dir);
    assert.deepEqual((await d.waitForLine((l) => l.msg === 'reloadkit started', 'start')).targets, { app: 'current' });
    assert.equal(await d.stop(), 0);
    assert.equal(d.passes('app').length, 0);
    assert.equal(existsSync(join(dir, 'reloads.log')), false);

    writeFileSync(join(dir, 'app.conf'), 'two\n');
    d = await run(dir);
    assert.deepEqual((await d.waitForLine((l) => l.msg === 'reloadkit started', 'start')).targets, { app: 'reload' });
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'app', 'start pass');
    assert.equal(pass.trigger, 'start');
    assert.equal(pass.status, 'full_success');
    assert.equal(readFileSync(join(dir, 'reloads.log'), 'utf8'), 'x\n');
    assert.equal(await d.stop(), 0);

    // ...and the applied hash was recorded: the next restart is quiet again.
    d = await run(dir);
    assert.deepEqual((await d.waitForLine((l) => l.msg === 'reloadkit started', 'start')).targets, { app: 'current' });
    assert.equal(await d.stop(), 0);
  });

  it('HTTP admin: /status, /metrics and /metrics.json cover the daemon unit and its targets; POST /reload needs the token from token_file', async () => {
    const dir = caseDir();
    const token = 'tok-7f3a9c2e1b';
    writeFileSync(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    writeConfig(
      dir,
      'targets:\n  app:\n    kind: command\n    reload: ["true"]\n',
      'admin:\n  socket: ./admin.sock\n  http: 127.0.0.1:0\n  http_reload: true\n  token_file: ./token\n',
    );
    const d = await run(dir);
    const started = d.lines.find((l) => l.msg === 'reloadkit started')!;
    assert.match(String(started.http), /^127\.0\.0\.1:\d+$/);
    const base = `http://${String(started.http)}`;

    const status = (await (await fetch(`${base}/status`)).json()) as { status: string; targets: number; units: Record<string, unknown> };
    assert.equal(status.status, 'ok');
    assert.equal(status.targets, 1);
    assert.deepEqual(Object.keys(status.units).sort(), ['app', 'reloadkit']);

    // Without the token, or with a wrong one: 401 and no pass.
    const before = d.passes('app').length;
    let res = await fetch(`${base}/reload`, { method: 'POST' });
    assert.equal(res.status, 401);
    res = await fetch(`${base}/reload`, { method: 'POST', headers: { authorization: 'Bearer wrong' } });
    assert.equal(res.status, 401);
    assert.equal(d.passes('app').length, before);

    res = await fetch(`${base}/reload?unit=app`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as { status: string }).status, 'ok');
    assert.equal(d.passes('app').length, before + 1);

    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^reloadkit_reloads_total\{unit="app",status="full_success"\} 1$/m);
    // Labels of every unit exist from the start (pre-created at 0).
    assert.match(metrics, /^reloadkit_reloads_total\{unit="reloadkit",status="load_failed"\} 0$/m);
    const json = (await (await fetch(`${base}/metrics.json`)).json()) as { reloads: number; failures: number };
    assert.equal(json.reloads, 1);
    assert.equal(json.failures, 0);
    const last = (await (await fetch(`${base}/reload-status?unit=app`)).json()) as { status: string; unit: string };
    assert.deepEqual([last.unit, last.status], ['app', 'full_success']);
    // The token never appears in what the daemon logs.
    assert.ok(!JSON.stringify(d.lines).includes(token));
    assert.equal(await d.stop('SIGTERM'), 0);
  });

  it('a non-loopback --http is refused at start (exit 1) unless --http-allow-remote', async () => {
    const dir = caseDir();
    writeConfig(dir, 'targets: {}\n');
    const r = await cli(['run', '-c', join(dir, 'reloadkit.yaml'), '--http', '0.0.0.0:0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /refusing to serve the admin HTTP endpoints on 0\.0\.0\.0: not a loopback address/);
    assert.equal(existsSync(join(dir, 'admin.sock')), false);
  });

  it('an invalid config at start: exit 1, every problem with its line and column', async () => {
    const dir = caseDir();
    writeConfig(dir, 'log_level: loud\ntargets:\n  a:\n    kind: command\n    reload: []\n    retries: 3\n');
    const d = await startDaemon({ args: ['-c', join(dir, 'reloadkit.yaml')], socket: join(dir, 'admin.sock'), waitStarted: false });
    running.add(d);
    assert.equal(await d.exited, 1);
    const e = d.stderr();
    assert.match(e, /reloadkit\.yaml:5:12: log_level: Invalid option/);
    assert.match(e, /reloadkit\.yaml:9:13: targets\.a\.reload: needs at least the program name/);
    assert.match(e, /reloadkit\.yaml:10:5: targets\.a\.retries: unknown key/);
    assert.equal(existsSync(join(dir, 'admin.sock')), false);
  });

  it('flags win over environment variables, which win over the file', async () => {
    const dir = caseDir();
    writeConfig(dir, 'log_level: warn\ntargets: {}\n', 'admin:\n  socket: ./file.sock\n  http: ""\n');
    const d = await startDaemon({
      args: ['-c', join(dir, 'reloadkit.yaml'), '--socket', join(dir, 'flag.sock')],
      socket: join(dir, 'flag.sock'),
      env: { RELOADKIT_SOCKET: join(dir, 'env.sock'), RELOADKIT_LOG_LEVEL: 'info' },
    });
    running.add(d);
    const started = d.lines.find((l) => l.msg === 'reloadkit started')!;
    assert.equal(started.socket, join(dir, 'flag.sock'));
    assert.equal(started.level, 'info'); // env beat the file's warn (the line would be hidden at warn)
    assert.equal(existsSync(join(dir, 'env.sock')), false);
    assert.equal(existsSync(join(dir, 'file.sock')), false);
    assert.equal(await d.stop(), 0);
  });

  it('reload UNIT --no-wait: exit 0 "queued", then a pass of that unit only; an unknown unit exits 2', async () => {
    const dir = caseDir();
    writeConfig(
      dir,
      'targets:\n  a:\n    kind: command\n    reload: [sh, -c, "echo a >> a.log"]\n  b:\n    kind: command\n    reload: [sh, -c, "echo b >> b.log"]\n',
    );
    const d = await run(dir);
    const from = d.lines.length;
    let r = await cli(['reload', 'a', '--no-wait', '--socket', d.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'reload queued for a\n');
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'a', 'the queued pass of a', from);
    assert.equal(pass.trigger, 'socket');
    assert.equal(pass.status, 'full_success');
    assert.equal(readFileSync(join(dir, 'a.log'), 'utf8'), 'a\n');
    assert.equal(existsSync(join(dir, 'b.log')), false);

    r = await cli(['reload', 'nope', '--no-wait', '--json', '--socket', d.socket]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, 'reloadkit: the daemon refused: ERROR: unknown unit: nope\n');
    r = await cli(['reload', 'b', '--no-wait', '--json', '--socket', d.socket]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { status: 'ok', queued: true, unit: 'b' });
    // The end point for "only that unit": b's own pass is its first one. A pass of b
    // queued by `reload a` would have run before it (b.log would have two lines).
    await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'b', 'the queued pass of b', from);
    assert.equal(readFileSync(join(dir, 'b.log'), 'utf8'), 'b\n');
    assert.deepEqual(
      d.lines
        .slice(from)
        .filter((l) => l.msg === 'reload pass')
        .map((l) => l.unit),
      ['a', 'b'],
    );
    assert.equal(await d.stop(), 0);
  });

  it('reload and status find the socket by flag > RELOADKIT_SOCKET > admin.socket of -c/RELOADKIT_CONFIG (relative to the file) > default', async () => {
    const dir = caseDir();
    // admin.socket: ./admin.sock — relative to the file's directory, not the CLI's working directory (the repo root).
    const file = writeConfig(dir, 'targets:\n  a:\n    kind: command\n    reload: ["true"]\n');
    const d = await run(dir);
    const nowhere = join(dir, 'nowhere.sock');

    // file > default
    let r = await cli(['status', '-c', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^reloadkit: up \d+s, 1 target\n/);
    r = await cli(['reload', 'a'], { RELOADKIT_CONFIG: file });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^a: full_success/);
    r = await cli(['reload', 'a', '--no-wait', '--config', file]);
    assert.equal(r.code, 0, r.stderr);

    // env > file
    r = await cli(['status', '-c', file], { RELOADKIT_SOCKET: nowhere });
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `reloadkit: cannot reach the daemon: no admin socket at ${nowhere} (is reloadkit running?)\n`);

    // flag > env
    r = await cli(['status', '--socket', d.socket, '-c', join(dir, 'absent.yaml')], { RELOADKIT_SOCKET: nowhere });
    assert.equal(r.code, 0, r.stderr);

    // A file whose admin.socket nothing serves: the error says where the path came from.
    const other = join(dir, 'other.yaml');
    writeFileSync(other, 'admin:\n  socket: ./nowhere.sock\ntargets: {}\n');
    r = await cli(['reload', '-c', other]);
    assert.equal(r.code, 2);
    assert.equal(r.stderr, `reloadkit: cannot reach the daemon: no admin socket at ${nowhere} (is reloadkit running?); the path is admin.socket of ${other}\n`);
    // A named file that does not exist is an error (exit 2), never a silent fallback.
    r = await cli(['status', '-c', join(dir, 'absent.yaml')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /cannot read the config file .*absent\.yaml for admin\.socket: no such file/);
    assert.equal(await d.stop(), 0);
  });

  it('run --nginx creates the default socket directory ($XDG_RUNTIME_DIR/reloadkit, 0700) and serves there; a world-writable one is refused, not used', async () => {
    // The default is /run/reloadkit as root: as root the daemon runs as nobody, so the per-user default applies.
    const root = process.getuid?.() === 0;
    const user = root ? { uid: 65534, gid: 65534 } : {};
    const base = mkdtempSync(join(tmpdir(), 'rk-xdg-'));
    chmodSync(base, 0o755);
    const xdg = join(base, 'xdg');
    const stateHome = join(base, 'state');
    for (const d of [xdg, stateHome]) {
      mkdirSync(d, { mode: 0o700 });
      if (root) chownSync(d, 65534, 65534);
    }
    const dir = join(xdg, 'reloadkit');
    const socket = join(dir, 'admin.sock');
    const start = () => startDaemon({ args: ['--nginx', '--http', ''], socket, env: { XDG_RUNTIME_DIR: xdg, XDG_STATE_HOME: stateHome }, ...user });
    try {
      let d = await start();
      running.add(d);
      assert.equal(d.lines.find((l) => l.msg === 'reloadkit started')!.socket, socket, d.stderr());
      assert.ok(d.lines.some((l) => l.msg === 'created the admin socket directory (0700)'));
      const st = statSync(dir);
      assert.equal(st.mode & 0o7777, 0o700);
      assert.equal(st.uid, root ? 65534 : process.getuid!());
      const r = await cli(['status', '--socket', socket]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\nnginx +0 /);
      assert.equal(await d.stop(), 0);

      // World-writable (someone loosened it): logged and refused; the daemon runs without the socket and leaves the mode alone.
      chmodSync(dir, 0o777);
      d = await start();
      running.add(d);
      assert.equal(d.lines.find((l) => l.msg === 'reloadkit started')!.socket, '');
      const refused = d.lines.find((l) => l.msg === 'the default admin socket directory is not safe to use; running without the admin socket');
      assert.ok(refused, JSON.stringify(d.lines));
      assert.equal(refused.reason, `${dir} is world-writable (mode 0777)`);
      assert.equal(statSync(dir).mode & 0o7777, 0o777);
      assert.equal(existsSync(socket), false);
      assert.equal(await d.stop(), 0);
    } finally {
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('walkthrough step 2: after a refused edit, restoring the last applied content is an unchanged pass (nothing checked or reloaded)', async () => {
    const dir = caseDir();
    writeFileSync(join(dir, 'site.conf'), 'version 2\n');
    writeConfig(
      dir,
      'watch:\n  debounce: 50ms\ntargets:\n  web:\n    kind: command\n    check: [sh, -c, "echo checked >> checks.log; ! grep -q bogus site.conf"]\n    reload: [sh, -c, "echo x >> reloads.log"]\n    watch: [site.conf]\n',
    );
    const d = await run(dir, ['--log-level', 'debug']);
    const last = async () =>
      (JSON.parse(await d.send('status')) as { units: Record<string, { generation: number; last_result: { status: string } | null }> }).units.web!;

    writeFileSync(join(dir, 'site.conf'), 'version 2\nbogus;\n');
    const refused = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web', 'the refused pass');
    assert.equal(refused.status, 'validation_failed');
    const checks = readFileSync(join(dir, 'checks.log'), 'utf8');

    writeFileSync(join(dir, 'site.conf'), 'version 2\n');
    const restored = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web' && l !== refused, 'the pass after the line is removed');
    assert.equal(restored.status, 'unchanged');
    assert.equal(restored.level, 'debug');
    assert.equal((await last()).last_result!.status, 'unchanged');
    assert.equal((await last()).generation, 0);
    assert.equal(readFileSync(join(dir, 'checks.log'), 'utf8'), checks, 'no check ran');
    assert.equal(existsSync(join(dir, 'reloads.log')), false, 'nothing was reloaded');
    assert.equal(await d.stop(), 0);
  });
});
