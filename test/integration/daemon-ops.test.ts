// The daemon as an operator runs it (the built CLI, real processes): what
// `reload --timeout` says when no result comes, and the messages and
// safeguards around the state directory, the targets' processes and checks.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { cli, startDaemon, type DaemonHandle, type StartOptions } from './daemon-process.js';
import { freePort, httpGet, waitFor } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-ops-'));
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

/** Writes reloadkit.yaml (socket and state inside `dir`, HTTP off) and returns its path. */
function writeConfig(dir: string, body: string, admin = 'admin:\n  socket: ./admin.sock\n  http: ""\n'): string {
  const file = join(dir, 'reloadkit.yaml');
  writeFileSync(file, `state_dir: ./state\n${admin}${body}`);
  return file;
}

async function run(dir: string, extra: Partial<StartOptions> = {}): Promise<DaemonHandle> {
  const d = await startDaemon({ args: ['-c', join(dir, 'reloadkit.yaml')], socket: join(dir, 'admin.sock'), ...extra });
  running.add(d);
  void d.exited.then(() => running.delete(d));
  return d;
}

describe('the daemon as operated', () => {
  it('reload --timeout: a result that does not come in time is its own message and exit 1, not "cannot reach the daemon"', async () => {
    const dir = caseDir();
    // The check blocks once ./block exists (the first start runs the check too).
    writeConfig(
      dir,
      'targets:\n  blocked:\n    kind: command\n    check: [sh, -c, "if [ -e block ]; then sleep 30; fi"]\n    reload: ["true"]\n    timeout: 1m\n',
    );
    const d = await run(dir);
    writeFileSync(join(dir, 'block'), '');
    const r = await cli(['reload', 'blocked', '--timeout', '1', '--socket', d.socket]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^reloadkit: no result within 1 s; the reload may still be running/);
    assert.doesNotMatch(r.stderr, /cannot reach/);
    // An unreachable socket is still exit 2.
    const gone = await cli(['reload', '--timeout', '1', '--socket', join(dir, 'none.sock')]);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /cannot reach the daemon/);
    assert.equal(await d.stop(), 0);
  });

  it('an alias bomb in the daemon config: validate names the file and line (no stack trace); the running daemon reports load_failed naming the file', async () => {
    const dir = caseDir();
    const file = writeConfig(dir, 'targets:\n  a:\n    kind: command\n    reload: ["true"]\n');
    const d = await run(dir);
    const bomb = ['x: &x [l, l, l, l, l, l, l, l, l]'];
    for (const [name, prev] of [
      ['y', 'x'],
      ['z', 'y'],
      ['w', 'z'],
      ['v', 'w'],
      ['u', 'v'],
      ['s', 'u'],
    ])
      bomb.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    writeFileSync(file, `${bomb.join('\n')}\ntargets: {}\n`);
    const v = await cli(['validate', '-c', file]);
    assert.equal(v.code, 1);
    assert.equal(
      v.stderr,
      `${file}:2:8: invalid YAML: aliases expand to too many nodes (more than 100 alias uses; an alias "bomb" is refused, not expanded)\n`,
    );
    const r = await cli(['reload', 'reloadkit', '--socket', d.socket]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, new RegExp(`^reloadkit: load_failed: ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:8: invalid YAML: aliases expand`));
    assert.equal(await d.stop(), 0);
  });

  it('more targets than the limit: validate and run refuse the file with a clear message', async () => {
    const dir = caseDir();
    const targets = Array.from({ length: 1001 }, (_, i) => `  t${i}: {kind: command, reload: ["true"]}`).join('\n');
    const file = writeConfig(dir, `targets:\n${targets}\n`);
    const v = await cli(['validate', '-c', file]);
    assert.equal(v.code, 1);
    assert.match(v.stderr, /reloadkit\.yaml:6:3: targets: 1001 targets; one daemon runs at most 1000 /);
    const d = await run(dir, { waitStarted: false });
    assert.equal(await d.exited, 1);
    assert.match(d.stderr(), /cannot start: .*targets: 1001 targets; one daemon runs at most 1000/);
  });

  it("a daemon killed with SIGKILL leaves no private socket directory behind after the next start; a live process's is left alone", async () => {
    const dir = caseDir();
    writeConfig(dir, 'targets:\n  a:\n    kind: command\n    reload: ["true"]\n');
    const privateDirs = () => readdirSync(dir).filter((n) => n.startsWith('.reloadkit-'));
    for (let i = 0; i < 2; i += 1) {
      const d = await run(dir);
      assert.equal(await d.stop('SIGKILL'), 'SIGKILL');
    }
    assert.ok(privateDirs().length >= 1, 'a killed daemon leaves its private directory (this test needs one)');
    // An empty one from an earlier version (no pid in the name), and one of a live process (this test's).
    mkdirSync(join(dir, '.reloadkit-Old123'), { mode: 0o700 });
    const live = `.reloadkit-${process.pid.toString(36)}-Live12`;
    mkdirSync(join(dir, live), { mode: 0o700 });
    const d = await run(dir);
    assert.deepEqual(privateDirs().filter((n) => n !== live).length, 1, `only the running daemon's own: ${privateDirs().join(', ')}`);
    assert.equal(await d.stop(), 0);
    assert.deepEqual(privateDirs(), [live]);
  });

  it("the daemon's own config: `changed` lists only keys the user wrote (no defaults, no internal names)", async () => {
    const dir = caseDir();
    // A long quiet period: the explicit reload, not the watcher, applies each edit.
    const head = 'watch:\n  debounce: 20s\n  max_wait: 20s\n';
    writeConfig(dir, `${head}targets:\n  a:\n    kind: command\n    reload: ["true"]\n`);
    const d = await run(dir);
    const changedBy = async (body: string) => {
      writeConfig(dir, head + body);
      const r = await cli(['reload', 'reloadkit', '--json', '--socket', d.socket]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      return (JSON.parse(r.stdout) as { results: { reloadkit: { changed: string[] } } }).results.reloadkit.changed;
    };
    const two = 'targets:\n  a:\n    kind: command\n    reload: ["true"]\n  hang:\n    kind: command\n    reload: ["true"]\n    timeout: 5s\n';
    assert.deepEqual(await changedBy(two), ['targets.hang.kind', 'targets.hang.reload[0]', 'targets.hang.timeout']);
    assert.deepEqual(await changedBy(two.replace('timeout: 5s', 'timeout: 6s')), ['targets.hang.timeout']);
    assert.deepEqual(await changedBy(`log_level: debug\n${two.replace('timeout: 5s', 'timeout: 6s')}`), ['log_level']);
    assert.equal(await d.stop(), 0);
  });

  it('signal targets: process: refuses a pidfile naming another process (it lives on, exit 1); a target without it is warned about at start and by validate', async () => {
    const dir = caseDir();
    const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore', detached: true });
    sleeper.unref();
    try {
      writeFileSync(join(dir, 'app.pid'), `${sleeper.pid}\n`);
      const file = writeConfig(
        dir,
        'targets:\n  guarded:\n    kind: signal\n    pidfile: app.pid\n    process: ^myapp$\n    signal: SIGTERM\n  open:\n    kind: signal\n    pidfile: app.pid\n    check: ["false"]\n',
      );
      const v = await cli(['validate', '-c', file]);
      assert.equal(v.code, 0, v.stderr);
      assert.match(v.stderr, /^warning: open: signal target without process: /m);
      assert.doesNotMatch(v.stderr, /guarded/);
      const d = await run(dir);
      const warned = d.lines.filter((l) => l.level === 'warn' && typeof l.msg === 'string' && l.msg.startsWith('signal target without process:'));
      assert.deepEqual(
        warned.map((l) => l.unit),
        ['open'],
      );
      const r = await cli(['reload', 'guarded', '--socket', d.socket]);
      assert.equal(r.code, 1);
      assert.match(
        r.stdout,
        /^guarded: apply_failed: guarded: pid \d+ \(from pidfile \S+app\.pid\) is "sleep 1000", which does not match process: \^myapp\$; not signalling it/,
      );
      assert.equal(isRunning(sleeper.pid!), true, 'the sleep was killed');
      // A failing check: validation_failed, nothing signalled.
      const c = await cli(['reload', 'open', '--socket', d.socket]);
      assert.equal(c.code, 1);
      assert.match(c.stdout, /^open: validation_failed: open: false exited with code 1/);
      assert.equal(isRunning(sleeper.pid!), true, 'the sleep was killed');
      assert.equal(await d.stop(), 0);
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('first start without state: each check runs without reloading; a failing one is a validation_failed start pass, /ready degraded, nothing recorded', async () => {
    const dir = caseDir();
    const port = await freePort();
    writeFileSync(join(dir, 'good.conf'), 'ok\n');
    writeFileSync(join(dir, 'bad.conf'), 'broken\n');
    const check = (f: string) => `[sh, -c, "echo checked >> ${f}.checks; grep -qx ok ${f}.conf || { echo '${f}.conf:1: expected ok' >&2; exit 1; }"]`;
    const target = (f: string) => `  ${f}:\n    kind: command\n    check: ${check(f)}\n    reload: [touch, ${f}.reloaded]\n    watch: [${f}.conf]\n`;
    writeConfig(dir, `targets:\n${target('good')}${target('bad')}`, `admin:\n  socket: ./admin.sock\n  http: 127.0.0.1:${port}\n`);
    const d = await run(dir);
    const started = d.lines.find((l) => l.msg === 'reloadkit started')!;
    assert.deepEqual(started.targets, { good: 'recorded', bad: 'check_failed' });
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'bad', 'the start pass of bad');
    assert.equal(pass.trigger, 'start');
    assert.equal(pass.status, 'validation_failed');
    assert.match(String(pass.error), /bad\.conf:1: expected ok/);
    assert.equal(d.passes('good').length, 0, 'a passing first check is recorded without a pass');
    // Nothing was reloaded; only what passed is recorded.
    assert.equal(existsSync(join(dir, 'good.reloaded')), false);
    assert.equal(existsSync(join(dir, 'bad.reloaded')), false);
    assert.equal(existsSync(join(dir, 'state', 'targets', 'good.json')), true);
    assert.equal(existsSync(join(dir, 'state', 'targets', 'bad.json')), false);
    const ready = await httpGet(port, '/ready');
    assert.equal(ready.status, 200, ready.body);
    const body = JSON.parse(ready.body) as { status: string; degraded: string[] };
    assert.equal(body.status, 'ready');
    assert.match(body.degraded.join('\n'), /^bad: last reload validation_failed: bad: sh .*bad\.conf:1: expected ok/m);
    // Fixed: the next pass checks and reloads (the service cannot have been running the broken file).
    const from = d.lines.length;
    writeFileSync(join(dir, 'bad.conf'), 'ok\n');
    const fixed = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'bad' && l.status !== 'unchanged', 'the pass after the fix', from);
    assert.equal(fixed.status, 'full_success');
    assert.equal(existsSync(join(dir, 'bad.reloaded')), true);
    await waitFor(() => existsSync(join(dir, 'state', 'targets', 'bad.json')), 'the state of bad');
    assert.equal(await d.stop(), 0);
  });

  it('a reload cut short (SIGTERM, or SIGKILL) after it began is done again at the next start; a finished one is not', async () => {
    const dir = caseDir();
    // The reload hangs while ./hang exists; each run of it is counted.
    writeFileSync(join(dir, 'app.conf'), 'v1\n');
    writeConfig(
      dir,
      'targets:\n  app:\n    kind: command\n    reload: [sh, -c, "echo run >> reloads; while [ -e hang ]; do sleep 0.05; done; [ ! -e fail ]"]\n    watch: [app.conf]\n    timeout: 5m\n',
    );
    const reloads = () => (existsSync(join(dir, 'reloads')) ? readFileSync(join(dir, 'reloads'), 'utf8').split('\n').filter(Boolean).length : 0);
    let d = await run(dir);
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { app: 'recorded' });
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      writeFileSync(join(dir, 'hang'), '');
      const before = reloads();
      void d.send('reload app').catch(() => {});
      await waitFor(() => reloads() === before + 1, 'the reload to begin');
      assert.equal(await d.stop(signal), signal === 'SIGTERM' ? 0 : 'SIGKILL');
      rmSync(join(dir, 'hang'));
      // The content is what the state says was applied, but the reload never finished: it runs again.
      d = await run(dir);
      assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { app: 'reload' }, `after ${signal}`);
      const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'app', `the start pass after ${signal}`);
      assert.equal(pass.trigger, 'start');
      assert.equal(pass.status, 'full_success');
      assert.equal(reloads(), before + 2);
      await waitFor(() => !existsSync(join(dir, 'state', 'pending', 'app')), 'the marker to be cleared');
    }
    // A reload that ends in failure is a known outcome: no marker, the next start has nothing to catch up.
    writeFileSync(join(dir, 'fail'), '');
    assert.equal(JSON.parse(await d.send('reload app')).results.app.status, 'apply_failed');
    await waitFor(() => !existsSync(join(dir, 'state', 'pending', 'app')), 'the marker of the failed reload to be cleared');
    assert.equal(await d.stop(), 0);
    d = await run(dir);
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { app: 'current' });
    assert.equal(await d.stop(), 0);
  });

  it("two daemons on one state directory: the second refuses to start naming the first one's pid; a killed one's lock is taken over", async () => {
    const dir = caseDir();
    writeConfig(dir, 'targets:\n  a:\n    kind: command\n    reload: ["true"]\n');
    const first = await run(dir);
    // The same config (and so the same socket): refused before it touches the socket.
    const second = await run(dir, { waitStarted: false });
    assert.equal(await second.exited, 1);
    assert.equal(
      second.stderr(),
      `reloadkit: cannot start: another reloadkit daemon (pid ${first.proc.pid}, running since ${JSON.parse(readFileSync(join(dir, 'state', 'lock'), 'utf8')).since}) is using the state directory ${join(dir, 'state')} (lock file ${join(dir, 'state', 'lock')}); stop it first, or give this daemon another state_dir\n`,
    );
    assert.equal(JSON.parse(await first.send('status')).status, 'ok', 'the first daemon lost its socket');
    // Another socket does not help: it is the state directory that is shared.
    const third = await startDaemon({
      args: ['-c', join(dir, 'reloadkit.yaml'), '--socket', join(dir, 'other.sock')],
      socket: join(dir, 'other.sock'),
      waitStarted: false,
    });
    assert.equal(await third.exited, 1);
    assert.match(third.stderr(), new RegExp(`another reloadkit daemon \\(pid ${first.proc.pid},`));
    // Killed: its lock is left, and the next daemon takes it over.
    assert.equal(await first.stop('SIGKILL'), 'SIGKILL');
    assert.equal(existsSync(join(dir, 'state', 'lock')), true);
    const next = await run(dir);
    assert.ok(
      next.lines.some(
        (l) => l.msg === 'took over the state directory lock of a daemon that is gone' && String(l.previous).startsWith(`pid ${first.proc.pid},`),
      ),
    );
    assert.equal(await next.stop(), 0);
    assert.equal(existsSync(join(dir, 'state', 'lock')), false, 'a graceful stop removes the lock');
  });
});
