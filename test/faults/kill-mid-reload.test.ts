// Fault: kill -9 of the daemon (the built CLI) in the middle of a reload,
// then a restart. It must start cleanly, take over the stale socket, reload
// exactly the target whose reload was cut short (once) and nothing else,
// and never leave a torn state file.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DaemonHandle } from '../integration/daemon-process.js';
import { cleanup, daemonDir, isRunning, killGroupAtCleanup, readPidFile, startBuiltDaemon, waitFor } from './support.js';

after(cleanup);

const lines = (path: string): string[] =>
  existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];

/** Every state file parses and holds a SHA-256; temp files left behind are returned (not parsed). */
function readState(dir: string): { hashes: Record<string, string>; temps: string[] } {
  const targets = join(dir, 'state', 'targets');
  const hashes: Record<string, string> = {};
  const temps: string[] = [];
  for (const name of existsSync(targets) ? readdirSync(targets) : []) {
    if (name.endsWith('.tmp')) {
      temps.push(name);
      continue;
    }
    const text = readFileSync(join(targets, name), 'utf8');
    let doc: { config_hash?: unknown; saved_at?: unknown };
    try {
      doc = JSON.parse(text) as typeof doc;
    } catch {
      assert.fail(`torn state file ${name}: ${JSON.stringify(text)}`);
    }
    assert.match(String(doc.config_hash), /^[0-9a-f]{64}$/, `${name}: config_hash`);
    assert.ok(!Number.isNaN(Date.parse(String(doc.saved_at))), `${name}: saved_at`);
    hashes[name.replace(/\.json$/, '')] = String(doc.config_hash);
  }
  return { hashes, temps };
}

/** How a connection to the socket path ends: 'answered' or the errno (ECONNREFUSED for a stale socket). */
function probeSocket(path: string): Promise<string> {
  return new Promise((resolve) => {
    const c = connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve('answered');
    });
    c.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

async function killHard(d: DaemonHandle): Promise<void> {
  d.proc.kill('SIGKILL');
  assert.equal(await d.exited, 'SIGKILL');
}

describe('kill -9 of the daemon in the middle of a reload', () => {
  it('restart: stale socket taken over, only the interrupted target reloads (once), state files whole', async () => {
    // slow: while `hold` exists its reload takes 5 minutes (the kill lands in it).
    // Each reload appends a line per step, so the counters show every run.
    const { dir, socket, args } = daemonDir(
      'rk-fault-kill-',
      { 'slow.conf': 'slow v1\n', 'quick.conf': 'quick v1\n', 'idle.conf': 'idle v1\n' },
      `  slow:
    kind: command
    reload: [sh, -c, "echo $$ > slow.pid; echo start >> slow.reloads; if [ -e hold ]; then sleep 300; fi; echo done >> slow.reloads"]
    watch: [slow.conf]
    timeout: 10m
  quick:
    kind: command
    reload: [sh, -c, "echo x >> quick.reloads"]
    watch: [quick.conf]
  idle:
    kind: command
    reload: [sh, -c, "echo x >> idle.reloads"]
    watch: [idle.conf]
`,
      'watch:\n  debounce: 50ms\n',
    );

    // 1. First run: no state yet, everything recorded, nothing reloaded.
    let d = await startBuiltDaemon({ args, socket });
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { slow: 'recorded', quick: 'recorded', idle: 'recorded' });

    // 2. quick is edited and reloaded; its applied hash reaches the state dir.
    writeFileSync(join(dir, 'quick.conf'), 'quick v2\n');
    const quickPass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'quick', 'quick reloaded');
    assert.equal(quickPass.status, 'full_success');
    const quickApplied = JSON.parse(await d.send('status')) as { units: Record<string, { last_result: { config_hash: string } }> };
    const quickHash = quickApplied.units.quick!.last_result.config_hash;
    await waitFor(() => readState(dir).hashes.quick === quickHash, 'the applied hash of quick recorded');
    const slowV1Hash = readState(dir).hashes.slow;

    // 3. slow is edited; its reload starts and hangs; a socket request waits on it.
    writeFileSync(join(dir, 'hold'), '');
    writeFileSync(join(dir, 'slow.conf'), 'slow v2\n');
    const leader = await readPidFile(join(dir, 'slow.pid'), 'the slow reload to start');
    killGroupAtCleanup(leader);
    const waiting = d.send('reload slow').then(
      () => 'answered',
      (err: Error) => err.message,
    );
    await waitFor(() => lines(join(dir, 'slow.reloads')).length === 1, 'slow reload running');

    // 4. kill -9 in the middle of it.
    await killHard(d);
    assert.notEqual(await waiting, 'answered', 'a request to a killed daemon cannot have been answered');
    assert.equal(existsSync(socket), true, 'a killed daemon cannot remove its socket');
    assert.equal(await probeSocket(socket), 'ECONNREFUSED', 'the socket left behind is stale');
    // The reload command runs in its own process group: a SIGKILLed daemon cannot take it along.
    const orphanSurvived = isRunning(leader);
    process.kill(-leader, 'SIGKILL');
    await waitFor(() => !isRunning(leader), 'the orphaned reload to be gone');
    rmSync(join(dir, 'hold'));

    // 5. Nothing torn; slow still has the hash of v1 (its v2 reload never finished).
    const afterKill = readState(dir);
    assert.deepEqual(afterKill.temps, []);
    assert.equal(afterKill.hashes.slow, slowV1Hash);
    assert.equal(afterKill.hashes.quick, quickHash);

    // 6. Restart: the stale socket is replaced and answers; exactly slow reloads, once.
    const t0 = performance.now();
    d = await startBuiltDaemon({ args, socket });
    const restartMs = performance.now() - t0;
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { slow: 'reload', quick: 'current', idle: 'current' });
    assert.equal(JSON.parse(await d.send('status')).status, 'ok');
    const redo = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'slow', 'the start pass of slow');
    assert.equal(redo.trigger, 'start');
    assert.equal(redo.status, 'full_success');
    const slowNow = JSON.parse(await d.send('status')) as typeof quickApplied;
    const slowV2Hash = slowNow.units.slow!.last_result.config_hash;
    assert.notEqual(slowV2Hash, slowV1Hash);
    await waitFor(() => readState(dir).hashes.slow === slowV2Hash, 'slow v2 recorded as applied');

    // 7. No storm: a quiet window well past the debounce, max wait and a rescan-free period.
    // This real-time wait stays: a storm is passes that keep coming, and nothing marks
    // the moment one will not come; one more known request would not bring it forward.
    const quietFrom = d.lines.length;
    await new Promise((r) => setTimeout(r, 3000));
    assert.deepEqual(
      d.lines
        .slice(quietFrom)
        .filter((l) => l.msg === 'reload pass')
        .map((l) => `${l.unit}:${l.trigger}:${l.status}`),
      [],
      'no pass after the start pass',
    );
    assert.deepEqual(d.passes('quick'), []);
    assert.deepEqual(d.passes('idle'), []);
    assert.deepEqual(lines(join(dir, 'slow.reloads')), ['start', 'start', 'done'], 'the cut reload once, its redo once');
    assert.deepEqual(lines(join(dir, 'quick.reloads')), ['x'], 'quick only from before the kill');
    assert.deepEqual(lines(join(dir, 'idle.reloads')), [], 'idle never');

    // 8. And the next restart is quiet altogether.
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.equal(existsSync(socket), false);
    d = await startBuiltDaemon({ args, socket });
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { slow: 'current', quick: 'current', idle: 'current' });
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.deepEqual(readState(dir).temps, []);
    process.stdout.write(`# kill-mid-reload: restart to "started" ${restartMs.toFixed(0)} ms; orphaned reload command survived the kill: ${orphanSurvived}\n`);
  });

  it('SIGTERM right after a reload: the applied hash is on disk before exit, so the restart reloads nothing', async () => {
    const { dir, socket, args } = daemonDir('rk-fault-term-', { 'a.conf': 'a 0\n' }, '  a:\n    kind: command\n    reload: ["true"]\n    watch: [a.conf]\n');
    for (let round = 1; round <= 10; round += 1) {
      const d = await startBuiltDaemon({ args, socket });
      assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { a: round === 1 ? 'recorded' : 'current' }, `round ${round}`);
      writeFileSync(join(dir, 'a.conf'), `a ${round}\n`);
      const reply = JSON.parse(await d.send('reload a')) as { results: Record<string, { status: string; config_hash: string }> };
      d.proc.kill('SIGTERM');
      assert.equal(reply.results.a!.status, 'full_success');
      assert.equal(await d.exited, 0);
      const state = readState(dir);
      assert.deepEqual(state.temps, [], `round ${round}: a state write was cut off by the graceful stop`);
      assert.equal(state.hashes.a, reply.results.a!.config_hash, `round ${round}: the applied hash was not recorded`);
    }
  });

  it('20 kills at random moments under constant reloads: every restart is clean, no state file torn', async () => {
    const { dir, socket, args } = daemonDir(
      'rk-fault-kill-loop-',
      { 'a.conf': 'a 0\n', 'b.conf': 'b 0\n' },
      `  a:
    kind: command
    reload: [sh, -c, "echo x >> a.reloads"]
    watch: [a.conf]
  b:
    kind: command
    reload: ["true"]
    watch: [b.conf]
`,
      'watch:\n  debounce: 10ms\n',
    );
    const rounds = 20;
    let edits = 0;
    const tempsSeen = new Set<string>();
    const startMs: number[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const t0 = performance.now();
      const d = await startBuiltDaemon({ args, socket });
      startMs.push(performance.now() - t0);
      // Clean start: the socket (stale from the last kill) is ours and answers.
      assert.equal(JSON.parse(await d.send('status')).status, 'ok', `round ${round}: status`);
      assert.equal(
        d.lines.some((l) => l.level === 'error'),
        false,
        `round ${round}: ${JSON.stringify(d.lines.filter((l) => l.level === 'error'))}`,
      );
      // Load: edits through the watcher and explicit reloads over the socket, until the kill.
      let running = true;
      const load = (async () => {
        while (running) {
          edits += 1;
          writeFileSync(join(dir, edits % 2 ? 'a.conf' : 'b.conf'), `edit ${edits}\n`);
          await d.send('reload').catch(() => {});
        }
      })();
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
      d.proc.kill('SIGKILL');
      await d.exited;
      running = false;
      await load;
      const state = readState(dir);
      for (const t of state.temps) tempsSeen.add(t);
      assert.ok(state.hashes.a && state.hashes.b, `round ${round}: both targets have state`);
    }
    // The restart after all that reloads at most what changed since the last record, once;
    // a graceful stop right after records what it applied (the write is not cut off)...
    let d = await startBuiltDaemon({ args, socket });
    const started = d.lines.find((l) => l.msg === 'reloadkit started')!.targets as Record<string, string>;
    for (const [name, v] of Object.entries(started)) {
      assert.match(v, /^(current|reload)$/);
      if (v === 'reload') await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === name, `the start pass of ${name}`);
    }
    const status = JSON.parse(await d.send('status')) as { units: Record<string, { last_result: { config_hash: string } | null }> };
    assert.equal(await d.stop('SIGTERM'), 0);
    for (const [name, v] of Object.entries(started)) {
      if (v === 'reload') assert.equal(readState(dir).hashes[name], status.units[name]!.last_result!.config_hash, `${name}: applied hash recorded before exit`);
    }
    // ...so the next start has nothing to do.
    d = await startBuiltDaemon({ args, socket });
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { a: 'current', b: 'current' });
    assert.equal(await d.stop('SIGTERM'), 0);
    // Temp files of writes the kills cut short are the dead daemons' litter: the restart sweeps them.
    const leftover = readState(dir).temps;
    assert.deepEqual(leftover, [], 'temp files left by killed daemons are removed at the next start');
    startMs.sort((x, y) => x - y);
    process.stdout.write(
      `# kill loop: ${rounds} kills, ${edits} edits; start to "started" median ${startMs[rounds >> 1]!.toFixed(0)} ms, max ${startMs[rounds - 1]!.toFixed(0)} ms; ` +
        `temp files left by the kills (removed at the next start): ${tempsSeen.size}\n`,
    );
  });
});
