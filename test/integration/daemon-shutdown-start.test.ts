// SIGTERM/SIGINT while the daemon is still starting (the documented shutdown order):
// the admin socket opens before the targets are hashed, and a target watching
// ~20 000 files takes seconds to hash. A stop requested then must not wait
// for that: the daemon stops accepting, stops loading, shuts down what did
// start (socket closed and removed, no child left) and exits 0 — a requested
// stop, which is what systemd expects. It used to exit only once every
// target was hashed (21 s for such a tree).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { childrenOf } from '../../src/daemon/targets/proc.js';
import { startDaemon, type DaemonHandle, type LogLine } from './daemon-process.js';

const DIRS = 200;
const PER_DIR = 100; // 20 000 files
const EXIT_WITHIN_MS = 5000;

const tmp = mkdtempSync(join(tmpdir(), 'rk-stop-start-'));
const running = new Set<DaemonHandle>();
after(async () => {
  for (const d of running) await d.stop('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const tree = join(tmp, 'tree');

before(() => {
  for (let d = 0; d < DIRS; d += 1) {
    const sub = join(tree, `d${pad(d, 3)}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < PER_DIR; f += 1) writeFileSync(join(sub, `f${pad(f, 3)}.conf`), `file ${d}/${f}\n`);
  }
});

let seq = 0;
/** A case dir whose config has the big tree as one target (after a small one); the socket and state inside. */
function caseDir(): { dir: string; socket: string; args: string[] } {
  const dir = join(tmp, `c${++seq}`);
  mkdirSync(dir);
  writeFileSync(
    join(dir, 'reloadkit.yaml'),
    `state_dir: ./state
log_level: debug
admin:
  socket: ./admin.sock
  http: ""
targets:
  small:
    kind: command
    reload: [sh, -c, "sleep 60 # ${dir}"]
    watch: [./small.conf]
  tree:
    kind: command
    reload: [sh, -c, "sleep 60 # ${dir}"]
    watch: [${tree}]
    timeout: 1m
`,
  );
  writeFileSync(join(dir, 'small.conf'), 'x\n');
  return { dir, socket: join(dir, 'admin.sock'), args: ['-c', join(dir, 'reloadkit.yaml')] };
}

async function run(c: { socket: string; args: string[] }): Promise<DaemonHandle> {
  const d = await startDaemon({ args: c.args, socket: c.socket, waitStarted: false });
  running.add(d);
  void d.exited.then(() => running.delete(d));
  return d;
}

/** Processes (other than `except`) whose command line mentions `marker`: the daemon's commands carry the case dir. */
function processesMentioning(marker: string, except: number): number[] {
  const found: number[] = [];
  for (const e of readdirSync('/proc')) {
    const pid = Number(e);
    if (!Number.isInteger(pid) || pid === except || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(marker)) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const socketUp = (l: LogLine) => l.msg === 'admin socket listening';

/** Signals the daemon and checks how it ended: exit code 0 within the limit, never fully started, socket gone, no child. */
async function stopDuringStart(d: DaemonHandle, c: { dir: string; socket: string }, signal: NodeJS.Signals): Promise<number> {
  const pid = d.proc.pid!;
  assert.equal(
    d.lines.some((l) => l.msg === 'reloadkit started'),
    false,
    'the daemon finished starting before the signal: the tree is too small to test this',
  );
  const t0 = performance.now();
  d.proc.kill(signal);
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([d.exited, new Promise((r) => (timer = setTimeout(() => r('still running'), 30_000)))]);
  clearTimeout(timer);
  const ms = performance.now() - t0;
  process.stderr.write(`  ${signal} during start: exit ${String(code)} after ${Math.round(ms)} ms\n`);
  assert.equal(code, 0, `exit code; stderr: ${d.stderr()}`);
  assert.ok(ms <= EXIT_WITHIN_MS, `exited ${Math.round(ms)} ms after ${signal}; limit ${EXIT_WITHIN_MS} ms`);
  assert.equal(existsSync(c.socket), false, 'the socket file is removed');
  assert.deepEqual(childrenOf(pid), [], 'no child of the daemon is left');
  assert.deepEqual(processesMentioning(c.dir, pid), [], 'no process started by the daemon is left');
  // It stopped during start, said so, and shut down: it never reported itself started.
  const msgs = d.lines.map((l) => l.msg);
  assert.ok(msgs.includes('stop requested during start; shutting down'), JSON.stringify(msgs));
  assert.equal(msgs.includes('reloadkit started'), false, JSON.stringify(msgs));
  assert.equal(msgs.at(-1), 'reloadkit stopped', JSON.stringify(msgs));
  assert.equal(d.stderr(), '', 'nothing on stderr (not a start failure)');
  return ms;
}

describe('SIGTERM/SIGINT during daemon start-up (a target of 20 000 files still being hashed)', () => {
  it('SIGTERM right after the admin socket is listening: exit 0 within 5 s, socket removed, no child left', async () => {
    const c = caseDir();
    const d = await run(c);
    await d.waitForLine(socketUp, 'the admin socket', 0, 60_000);
    await stopDuringStart(d, c, 'SIGTERM');
    const stop = d.lines.find((l) => l.msg === 'stop requested during start; shutting down')!;
    assert.ok(Number(stop.targets_loaded) < 2, `the tree target was still loading: ${JSON.stringify(stop)}`);
    // The interrupted load recorded nothing: the next start still sees a first run for the tree.
    assert.equal(existsSync(join(c.dir, 'state', 'targets', 'tree.json')), false);
  });

  it('SIGINT while a `reload` waits for the loading targets: that client gets "shutting down", new connections are refused, exit 0', async () => {
    const c = caseDir();
    const d = await run(c);
    await d.waitForLine(socketUp, 'the admin socket', 0, 60_000);
    // Accepted while the targets load; it waits for them (the debug line says it arrived).
    const from = d.lines.length;
    const waiting = d.send('reload', 30_000);
    waiting.catch(() => {});
    await d.waitForLine((l) => l.msg === 'reload requested' && l.trigger === 'socket', 'the reload request to arrive', from);
    const exited = stopDuringStart(d, c, 'SIGINT');
    const reply = JSON.parse(await waiting) as { status: string; message?: string };
    assert.equal(reply.status, 'error', JSON.stringify(reply));
    assert.equal(reply.message, 'shutting down', JSON.stringify(reply));
    await exited;
    await assert.rejects(d.send('status', 2000), 'no connection after the stop');
    assert.equal(d.passes('tree').length + d.passes('small').length, 0, 'no pass ran');
  });
});
