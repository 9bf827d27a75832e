// The child runner with real processes: exit codes, output capture, missing
// binaries, timeouts and aborts that kill the whole process group.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ChildError, OUTPUT_CAP, runChild, waitForChildren } from '../../src/daemon/targets/child.js';
import { isRunning } from '../../src/daemon/targets/proc.js';
import { waitFor } from '../helpers/wait.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-child-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function readPid(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

async function rejects(p: Promise<unknown>): Promise<ChildError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ChildError, `expected ChildError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

describe('runChild', () => {
  it('resolves with stdout of a command that exits 0, without a shell', async () => {
    const r = await runChild(['echo', 'hello $HOME; world'], { timeoutMs: 10_000 });
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'hello $HOME; world\n');
  });

  it('rejects a non-zero exit with the code and the stderr tail', async () => {
    const err = await rejects(runChild(['sh', '-c', 'echo "bad directive at line 3" >&2; exit 3'], { timeoutMs: 10_000 }));
    assert.equal(err.reason, 'exit');
    assert.equal(err.result?.code, 3);
    assert.match(err.message, /exited with code 3: bad directive at line 3/);
  });

  it('keeps stdout in the error too (what a check such as grep -n found), each stream capped to its tail', async () => {
    const script = 'echo "site.conf:3:listen 80;"; echo "site.conf:9:listen 80;"; echo "port 80 is listed twice" >&2; exit 1';
    const err = await rejects(runChild(['sh', '-c', script], { timeoutMs: 10_000 }));
    assert.equal(
      err.message,
      'sh -c "echo \\"site.conf:3:listen 80;\\"; echo \\"site.conf:9:listen 80;\\"; echo \\"port 80 is listed twice\\" >&2; exit 1" exited with code 1: port 80 is listed twice\nstdout: site.conf:3:listen 80;\nsite.conf:9:listen 80;',
    );
    const noisy = 'for i in $(seq 1 3000); do echo "match $i"; done; echo LAST-MATCH; echo why >&2; exit 1';
    const capped = await rejects(runChild(['sh', '-c', noisy], { timeoutMs: 20_000 }));
    assert.match(capped.message, /: why\nstdout: ….*LAST-MATCH$/s);
    assert.ok(capped.message.length < 4500, `message of ${capped.message.length} chars`);
  });

  it('names a missing binary clearly', async () => {
    const err = await rejects(runChild(['reloadkit-no-such-binary', '-t'], { timeoutMs: 10_000 }));
    assert.equal(err.reason, 'spawn');
    assert.match(err.message, /command not found: "reloadkit-no-such-binary"/);
  });

  it('caps captured output and keeps the tail', async () => {
    const script = 'for i in $(seq 1 6000); do echo "line $i of noise noise noise noise"; done >&2; echo LAST-LINE >&2; exit 1';
    const err = await rejects(runChild(['sh', '-c', script], { timeoutMs: 20_000 }));
    const stderr = err.result!.stderr;
    assert.ok(Buffer.byteLength(stderr) <= OUTPUT_CAP + 100, `captured ${Buffer.byteLength(stderr)} bytes`);
    assert.match(stderr, /^\[… \d+ earlier bytes\]/);
    assert.match(err.message, /LAST-LINE$/);
  });

  it('keeps the head of stdout when asked', async () => {
    const script = 'echo FIRST-LINE; for i in $(seq 1 6000); do echo "line $i of noise noise noise noise"; done';
    const r = await runChild(['sh', '-c', script], { timeoutMs: 20_000, stdoutHead: true });
    assert.match(r.stdout, /^FIRST-LINE\n/);
    assert.match(r.stdout, /\[… \d+ more bytes\]$/);
  });

  it('kills the whole group at the timeout, including a grandchild that ignores SIGTERM', async () => {
    const pidfile = join(tmp, 'grandchild.pid');
    // The grandchild ignores SIGTERM (ignored signals survive exec), the leader waits on it.
    const script = `trap '' TERM; sleep 60 & echo $! > ${pidfile}; wait`;
    const t0 = Date.now();
    const err = await rejects(runChild(['sh', '-c', script], { timeoutMs: 500, killGraceMs: 300 }));
    assert.equal(err.reason, 'timeout');
    assert.match(err.message, /timed out after 500 ms and was killed/);
    await waitFor(() => existsSync(pidfile), 'grandchild pidfile');
    const grandchild = readPid(pidfile);
    await waitForChildren();
    assert.equal(isRunning(grandchild), false, `grandchild ${grandchild} still running`);
    assert.ok(Date.now() - t0 < 15_000);
  });

  it('kills the group when the signal aborts', async () => {
    const pidfile = join(tmp, 'abort.pid');
    const controller = new AbortController();
    const p = runChild(['sh', '-c', `sleep 60 & echo $! > ${pidfile}; wait`], { timeoutMs: 60_000, signal: controller.signal, killGraceMs: 300 });
    await waitFor(() => existsSync(pidfile) && readFileSync(pidfile, 'utf8').trim() !== '', 'pidfile');
    const grandchild = readPid(pidfile);
    assert.equal(isRunning(grandchild), true);
    controller.abort(new Error('shutting down'));
    const err = await rejects(p);
    assert.equal(err.reason, 'aborted');
    assert.match(err.message, /was stopped \(shutting down\)/);
    await waitForChildren();
    assert.equal(isRunning(grandchild), false);
  });

  it('does not start when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    const err = await rejects(runChild(['true'], { timeoutMs: 1000, signal: controller.signal }));
    assert.equal(err.reason, 'aborted');
  });

  it('answers as soon as the leader exits and reaps a background grandchild it left', async () => {
    const pidfile = join(tmp, 'bg.pid');
    const t0 = Date.now();
    const r = await runChild(['sh', '-c', `sleep 60 & echo $! > ${pidfile}; echo done`], { timeoutMs: 30_000, killGraceMs: 300 });
    assert.equal(r.stdout, 'done\n');
    assert.ok(Date.now() - t0 < 10_000, 'the lingering grandchild held the result');
    const grandchild = readPid(pidfile);
    await waitForChildren();
    assert.equal(isRunning(grandchild), false);
  });
});
