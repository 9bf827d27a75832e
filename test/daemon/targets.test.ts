// Target kinds and the target unit with real processes, files, signals and
// HTTP servers: statuses as documented (failed check → validation_failed and no
// reload; failed reload → apply_failed), state-dir decisions at start.
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TargetDef } from '../../src/daemon/config.js';
import { StateStore } from '../../src/daemon/state.js';
import { Target } from '../../src/daemon/target.js';
import { countsInWatchedDir, targetSource, type TargetContent } from '../../src/daemon/target-source.js';
import { waitForChildren } from '../../src/daemon/targets/child.js';
import { httpDriver } from '../../src/daemon/targets/http.js';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { signalDriver } from '../../src/daemon/targets/signal.js';
import { noopLogger } from '../../src/shared/logger.js';
import { freePort } from '../integration/helpers.js';
import { waitFor } from '../helpers/wait.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-targets-'));
const children: ChildProcess[] = [];
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await waitForChildren();
  rmSync(tmp, { recursive: true, force: true });
});

let seq = 0;
function dir(): string {
  const d = join(tmp, `case-${++seq}`);
  mkdirSync(d, { recursive: true });
  return d;
}

function step(timeoutMs = 10_000) {
  return { name: 't', signal: new AbortController().signal, timeoutMs, logger: noopLogger };
}

const base = { watch: [] as string[], cwd: tmp, timeout_ms: 10_000, reload_on_start: false };

function makeTarget(name: string, def: TargetDef, stateDir = dir()) {
  return new Target(name, def, { logger: noopLogger, state: new StateStore(stateDir) });
}

async function waitForFile(path: string): Promise<void> {
  await waitFor(() => existsSync(path), `${path} to appear`);
}

describe('check on every kind', () => {
  it('signal and http targets run their check first: a failing check is validation_failed and nothing is signalled or requested', async () => {
    const d = dir();
    const got = join(d, 'got');
    const ready = join(d, 'ready');
    const child = spawn('sh', ['-c', `trap 'echo HUP >> ${got}' HUP; touch ${ready}; while true; do sleep 0.05; done`], { stdio: 'ignore' });
    children.push(child);
    await waitForFile(ready);
    const failing = ['sh', '-c', 'echo "rules.yml:3: bad rule" >&2; exit 1'];
    const sig = makeTarget('sig', { kind: 'signal', ...base, pid: child.pid!, signal: 'SIGHUP', process: '^sh$', check: failing });
    await sig.start();
    const r = await sig.reload('api');
    assert.equal(r.status, 'validation_failed');
    assert.match(r.error ?? '', /^sig: sh .* exited with code 1: rules\.yml:3: bad rule$/);
    let hits = 0;
    const srv: Server = createServer((_req, res) => {
      hits += 1;
      res.end('ok');
    });
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(srv.address() as { port: number }).port}/-/reload`;
      const web = makeTarget('web', { kind: 'http', ...base, url, method: 'POST', check: failing });
      await web.start();
      assert.equal((await web.reload('api')).status, 'validation_failed');
      assert.equal(hits, 0);
      // A passing check (run in the config's directory), then the request.
      const passing = makeTarget('web2', { kind: 'http', ...base, url, method: 'POST', check: ['test', '-d', '.'] });
      await passing.start();
      assert.equal((await passing.reload('api')).status, 'full_success');
      assert.equal(hits, 1);
      await Promise.all([web.close(), passing.close()]);
    } finally {
      srv.close();
    }
    assert.equal(existsSync(got), false, 'signalled after a failed check');
    await sig.close();
  });
});

describe('command target', () => {
  it('a failing check is validation_failed with the checker output, and the reload never runs', async () => {
    const d = dir();
    const marker = join(d, 'reloaded');
    const conf = join(d, 'app.conf');
    writeFileSync(conf, 'ok\n');
    const t = makeTarget('app', {
      kind: 'command',
      ...base,
      watch: [conf],
      check: ['sh', '-c', 'echo "app.conf:1: syntax error near broken" >&2; exit 1'],
      reload: ['touch', marker],
    });
    await t.start();
    const r = await t.reload('api');
    assert.equal(r.status, 'validation_failed');
    assert.match(r.error ?? '', /^app: sh .* exited with code 1: app.conf:1: syntax error near broken$/);
    assert.equal(existsSync(marker), false, 'reload ran after a failed check');
    assert.equal(r.generation, 0);
    await t.close();
  });

  it('check then reload, full_success, generation +1, and the hash is recorded in the state dir', async () => {
    const d = dir();
    const stateDir = dir();
    const marker = join(d, 'reloaded');
    const conf = join(d, 'app.conf');
    writeFileSync(conf, 'v1\n');
    const t = makeTarget(
      'app',
      { kind: 'command', ...base, watch: [conf], check: ['test', '-f', conf], reload: ['sh', '-c', `echo reloaded >> ${marker}`] },
      stateDir,
    );
    assert.equal(await t.start(), 'recorded');
    writeFileSync(conf, 'v2\n');
    const r = await t.reload('watch');
    assert.equal(r.status, 'full_success');
    assert.equal(r.generation, 1);
    assert.deepEqual(r.changed, [`files[${JSON.stringify(conf)}]`]);
    assert.equal(readFileSync(marker, 'utf8'), 'reloaded\n');
    // The state write is asynchronous to the pass; poll for it.
    const stateFile = join(stateDir, 'targets', 'app.json');
    await waitFor(
      () => (JSON.parse(readFileSync(stateFile, 'utf8')) as { config_hash: string }).config_hash === r.config_hash,
      'the applied hash in the state file',
    );
    assert.equal(statSync(stateFile).mode & 0o777, 0o600);
    await t.close();
  });

  it('a failing reload is apply_failed (nothing took effect), never partial_applied', async () => {
    const t = makeTarget('app', { kind: 'command', ...base, reload: ['sh', '-c', 'echo "reload refused" >&2; exit 4'] });
    await t.start();
    const r = await t.reload('api');
    assert.equal(r.status, 'apply_failed');
    assert.match(r.error ?? '', /exited with code 4: reload refused/);
    assert.equal(r.generation, 0);
    await t.close();
  });

  it('a missing binary is a clear error', async () => {
    const t = makeTarget('app', { kind: 'command', ...base, reload: ['/nonexistent/bin/reloader'] });
    await t.start();
    const r = await t.reload('api');
    assert.equal(r.status, 'apply_failed');
    assert.match(r.error ?? '', /command not found: "\/nonexistent\/bin\/reloader"/);
    await t.close();
  });

  it('a hung reload is killed at the target timeout', async () => {
    const t = makeTarget('app', { kind: 'command', ...base, timeout_ms: 300, reload: ['sleep', '60'] });
    await t.start();
    const t0 = Date.now();
    const r = await t.reload('api');
    assert.equal(r.status, 'apply_failed');
    assert.match(r.error ?? '', /sleep 60 timed out after 300 ms and was killed/);
    assert.ok(Date.now() - t0 < 20_000);
    await t.close();
  });

  it('close() during a running reload aborts it and kills the child', async () => {
    const d = dir();
    const pidfile = join(d, 'pid');
    const t = makeTarget('app', { kind: 'command', ...base, reload: ['sh', '-c', `echo $$ > ${pidfile}; exec sleep 60`] });
    await t.start();
    const p = t.reload('api');
    await waitFor(() => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim() !== '', 'the reload to start');
    await t.close();
    await assert.rejects(p, /shutting down/);
    await waitForChildren();
    const pid = Number(readFileSync(pidfile, 'utf8'));
    assert.equal(isRunning(pid), false);
  });
});

describe('target start decisions (state dir)', () => {
  it('no stored state: records the hash and reloads nothing; unchanged restart: nothing; changed: a start pass', async () => {
    const d = dir();
    const stateDir = dir();
    const conf = join(d, 'c.conf');
    const marker = join(d, 'reloads');
    writeFileSync(conf, 'one\n');
    const def: TargetDef = { kind: 'command', ...base, watch: [conf], reload: ['sh', '-c', `echo x >> ${marker}`] };
    const first = makeTarget('svc', def, stateDir);
    assert.equal(await first.start(), 'recorded');
    await first.close();
    const second = makeTarget('svc', def, stateDir);
    assert.equal(await second.start(), 'current');
    assert.equal(second.unit.lastResult(), null);
    await second.close();
    assert.equal(existsSync(marker), false);

    writeFileSync(conf, 'two\n');
    const third = makeTarget('svc', def, stateDir);
    assert.equal(await third.start(), 'reload');
    const r = await third.reload('start');
    assert.equal(`${r.trigger}:${r.status}`, 'start:full_success');
    assert.equal(readFileSync(marker, 'utf8'), 'x\n');
    await third.close();
  });

  it('reload_on_start: true asks for a start pass even when the stored hash is current', async () => {
    const stateDir = dir();
    const def: TargetDef = { kind: 'command', ...base, reload: ['true'] };
    const first = makeTarget('svc', def, stateDir);
    assert.equal(await first.start(), 'recorded');
    await first.close();
    const again = makeTarget('svc', { ...def, reload_on_start: true }, stateDir);
    assert.equal(await again.start(), 'reload');
    await again.close();
  });

  it('the content covers every file of a watched directory, recursively, but not editor scratch files', async () => {
    const d = dir();
    mkdirSync(join(d, 'conf.d'));
    writeFileSync(join(d, 'main.conf'), 'a');
    writeFileSync(join(d, 'conf.d', 'site.conf'), 'b');
    const t = makeTarget('svc', { kind: 'command', ...base, watch: [d, join(d, 'not-yet')], reload: ['true'] });
    await t.start();
    assert.deepEqual(Object.keys(t.unit.current().config.files), [join(d, 'conf.d', 'site.conf'), join(d, 'main.conf'), join(d, 'not-yet')]);
    assert.equal(t.unit.current().config.files[join(d, 'not-yet')], 'missing');
    await t.close();
    assert.equal(countsInWatchedDir('.main.conf.swp'), false);
    assert.equal(countsInWatchedDir('4913'), false);
    assert.equal(countsInWatchedDir('main.conf~'), false);
    assert.equal(countsInWatchedDir('..2024_01_01/main.conf'), false);
    assert.equal(countsInWatchedDir('conf.d/site.conf'), true);
  });

  it('a definition swapped while a pass runs does not change that pass', async () => {
    const d = dir();
    const a = join(d, 'a');
    const b = join(d, 'b');
    const gate = join(d, 'gate');
    const checking = join(d, 'checking');
    const t = makeTarget('svc', {
      kind: 'command',
      ...base,
      check: ['sh', '-c', `touch ${checking}; while [ ! -e ${gate} ]; do sleep 0.02; done`],
      reload: ['touch', a],
    });
    await t.start();
    const p = t.reload('api');
    await waitFor(() => existsSync(checking), 'the check to start');
    t.setDefinition({ kind: 'command', ...base, reload: ['touch', b] });
    writeFileSync(gate, '');
    assert.equal((await p).status, 'full_success');
    assert.equal(existsSync(a), true);
    assert.equal(existsSync(b), false);
    assert.equal((await t.reload('api')).status, 'full_success');
    assert.equal(existsSync(b), true);
    await t.close();
  });
});

describe('signal target', () => {
  it('sends the signal to the pid in the pidfile', async () => {
    const d = dir();
    const out = join(d, 'got');
    const ready = join(d, 'ready');
    const child = spawn('sh', ['-c', `trap 'echo HUP >> ${out}' HUP; touch ${ready}; while true; do sleep 0.05; done`], { stdio: 'ignore' });
    children.push(child);
    const pidfile = join(d, 'app.pid');
    writeFileSync(pidfile, `${child.pid}\n`);
    await waitFor(() => existsSync(ready), 'the trap to be installed');
    await signalDriver({ pidfile, signal: 'SIGHUP' }).apply(step());
    await waitFor(() => existsSync(out), 'the trap to record the SIGHUP');
    child.kill('SIGKILL');
  });

  it('process: a pidfile naming another process is refused (the process lives on, the pass fails); a matching one is signalled', async () => {
    const d = dir();
    const sleeper = spawn('sleep', ['1000'], { stdio: 'ignore' });
    children.push(sleeper);
    const pidfile = join(d, 'app.pid');
    writeFileSync(pidfile, `${sleeper.pid}\n`);
    const t = makeTarget('app', { kind: 'signal', ...base, pidfile, signal: 'SIGTERM', process: '^myapp$' });
    await t.start();
    const r = await t.reload('api');
    assert.equal(r.status, 'apply_failed');
    assert.equal(r.error, `app: pid ${sleeper.pid} (from pidfile ${pidfile}) is "sleep 1000", which does not match process: ^myapp$; not signalling it`);
    assert.equal(isRunning(sleeper.pid!), true, 'the sleep was signalled');
    // The name (comm) or the command line may match.
    const exited = new Promise((resolve) => sleeper.once('exit', resolve));
    await signalDriver({ pidfile, signal: 'SIGTERM', process: 'sleep 10+' }).apply(step());
    await exited;
    await t.close();
  });

  it('a stale pidfile is a clear error', async () => {
    const d = dir();
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    const pidfile = join(d, 'stale.pid');
    writeFileSync(pidfile, `${child.pid}\n`);
    const t = makeTarget('app', { kind: 'signal', ...base, pidfile, signal: 'SIGHUP' });
    await t.start();
    const r = await t.reload('api');
    assert.equal(r.status, 'apply_failed');
    assert.match(r.error ?? '', new RegExp(`stale pidfile ${pidfile}: no process with pid ${child.pid} is running`));
    await t.close();
  });

  it('a missing or garbled pidfile says so', async () => {
    const d = dir();
    await assert.rejects(signalDriver({ pidfile: join(d, 'none.pid'), signal: 'SIGHUP' }).apply(step()), /cannot read pidfile .*none\.pid: no such file/);
    writeFileSync(join(d, 'bad.pid'), 'hello');
    await assert.rejects(signalDriver({ pidfile: join(d, 'bad.pid'), signal: 'SIGHUP' }).apply(step()), /does not hold a process id \(found "hello"\)/);
    writeFileSync(join(d, 'empty.pid'), '\n');
    await assert.rejects(
      signalDriver({ pidfile: join(d, 'empty.pid'), signal: 'SIGHUP' }).apply(step()),
      /pidfile \S+empty\.pid is empty \(is the process running\?\)/,
    );
  });
});

describe('http target', () => {
  it('retries connection refused until the server accepts, within the timeout', async () => {
    const port = await freePort();
    let hits = 0;
    const srv: Server = createServer((req, res) => {
      hits += 1;
      assert.equal(req.method, 'POST');
      res.end('reloaded');
    });
    // Starts listening only after a few refused attempts.
    const listening = new Promise<void>((r) => setTimeout(() => srv.listen(port, '127.0.0.1', r), 400));
    try {
      await httpDriver({ url: `http://127.0.0.1:${port}/-/reload`, method: 'POST' }).apply(step(20_000));
      await listening;
      assert.equal(hits, 1);
    } finally {
      await listening;
      srv.close();
    }
  });

  it('gives up on a server that never accepts at the timeout, saying why', async () => {
    const port = await freePort();
    await assert.rejects(
      httpDriver({ url: `http://127.0.0.1:${port}/`, method: 'POST' }).apply(step(500)),
      /POST http:\/\/127\.0\.0\.1:\d+\/ failed after \d+ attempts: ECONNREFUSED/,
    );
  });

  it('a non-2xx answer fails with the status and body, and hides URL credentials', async () => {
    const srv = createServer((_req, res) => {
      res.statusCode = 500;
      res.end('config rejected: bad rule');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    try {
      const err = await httpDriver({ url: `http://admin:hunter22@127.0.0.1:${port}/reload`, method: 'PUT' })
        .apply(step())
        .then(
          () => assert.fail('expected failure'),
          (e: Error) => e,
        );
      assert.match(err.message, /^PUT http:\/\/127\.0\.0\.1:\d+\/reload answered 500: config rejected: bad rule$/);
      assert.doesNotMatch(err.message, /hunter22/);
    } finally {
      srv.close();
    }
  });
});

describe('target content hashing (watched trees)', () => {
  const sha = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

  it('the synchronous fast path and the read-for-signatures path give the same hashes (state files stay valid)', async () => {
    const dir = join(tmp, `tree-${++seq}`);
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'a.conf'), 'a 1;\n');
    writeFileSync(join(dir, 'sub', 'b.conf'), 'b 2;\n');
    writeFileSync(join(dir, 'empty.conf'), '');
    // Over the fast path's per-file size: hashed by the streaming path instead.
    const big = Buffer.alloc(300 * 1024, 'x');
    writeFileSync(join(dir, 'sub', 'big.conf'), big);
    // A FIFO in the tree is not content; a non-blocking open means it can never hang the loop.
    execFileSync('mkfifo', [join(dir, 'sub', 'pipe')]);
    const signal = new AbortController().signal;
    const verified: string[] = [];
    const fast = await targetSource(
      't',
      () => [dir],
      () => false,
    ).load({ signal, verify: () => void verified.push('called') });
    const read = await targetSource(
      't',
      () => [dir],
      () => true,
    ).load({ signal, verify: (path) => void verified.push(path) });
    assert.deepEqual(
      verified.filter((v) => v === 'called'),
      [],
      'unsigned: the verifier is not asked',
    );
    assert.equal(verified.length, 4, 'signed: every file is handed to the verifier');
    const expected = {
      [join(dir, 'a.conf')]: sha('a 1;\n'),
      [join(dir, 'empty.conf')]: sha(''),
      [join(dir, 'sub', 'b.conf')]: sha('b 2;\n'),
      [join(dir, 'sub', 'big.conf')]: sha(big),
    };
    assert.deepEqual((fast.value as TargetContent).files, expected);
    assert.deepEqual((read.value as TargetContent).files, expected);
    assert.deepEqual(fast.files.map((f) => [f.path, f.size]).sort(), read.files.map((f) => [f.path, f.size]).sort());
  });

  // An unreadable file on the fast path: test/faults/permission-denied.test.ts (the daemon runs as nobody there).

  it('an aborted load stops walking the tree', async () => {
    const dir = join(tmp, `tree-${++seq}`);
    mkdirSync(dir);
    for (let i = 0; i < 600; i += 1) writeFileSync(join(dir, `f${i}.conf`), `${i}\n`);
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    await assert.rejects(
      targetSource(
        't',
        () => [dir],
        () => false,
      ).load({ signal: ac.signal }),
      /stop now/,
    );
  });
});
