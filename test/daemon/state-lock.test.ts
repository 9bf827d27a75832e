// The state directory lock with real files and processes: one holder at a
// time (also when two take it at once), a dead holder's lock taken over (also
// by two at once: one wins), a reused pid or another host's lock told apart.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lockStateDir, type StateLock } from '../../src/daemon/state-lock.js';
import { DaemonStartError } from '../../src/shared/errors.js';
import type { Logger } from '../../src/shared/types.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-lock-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;
const dir = () => join(tmp, `s${++seq}`, 'state');

function recorder(): Logger & { warnings: Record<string, unknown>[] } {
  const warnings: Record<string, unknown>[] = [];
  const noop = () => {};
  return { debug: noop, info: noop, error: noop, warn: (obj, msg) => warnings.push({ ...obj, msg }), warnings };
}

/** A pid that was just used and is gone. */
function deadPid(): number {
  return Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
}

async function outcome(p: Promise<StateLock>): Promise<StateLock | DaemonStartError> {
  try {
    return await p;
  } catch (err) {
    assert.ok(err instanceof DaemonStartError, String(err));
    return err;
  }
}

describe('state directory lock', () => {
  it('two takers at once: one holds it, the other is refused naming the holder; after release it can be taken again', async () => {
    const d = dir();
    const log = recorder();
    const results = await Promise.all([outcome(lockStateDir(d, log)), outcome(lockStateDir(d, log))]);
    const held = results.filter((r): r is StateLock => !(r instanceof Error));
    const refused = results.filter((r): r is DaemonStartError => r instanceof Error);
    assert.equal(held.length, 1);
    assert.equal(refused.length, 1);
    assert.match(
      refused[0]!.message,
      new RegExp(
        `^another reloadkit daemon \\(pid ${process.pid}, running since [^)]+\\) is using the state directory ${d} \\(lock file ${d}/lock\\); stop it first, or give this daemon another state_dir$`,
      ),
    );
    const owner = JSON.parse(readFileSync(join(d, 'lock'), 'utf8')) as { pid: number; host: string };
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    await held[0]!.release();
    assert.equal(existsSync(join(d, 'lock')), false);
    await (await lockStateDir(d, log)).release();
    assert.deepEqual(log.warnings, []);
  });

  it("a dead daemon's lock (or a garbled one) is taken over, by exactly one of two takers at once", async () => {
    for (const stale of [`{"pid":${deadPid()},"start_time":null,"host":"${hostname()}","since":"earlier"}\n`, 'not json']) {
      const d = dir();
      const log = recorder();
      await lockStateDir(d, log).then((l) => l.release()); // creates the directory
      writeFileSync(join(d, 'lock'), stale);
      const results = await Promise.all([outcome(lockStateDir(d, log)), outcome(lockStateDir(d, log))]);
      assert.equal(results.filter((r) => !(r instanceof Error)).length, 1, stale);
      assert.equal(log.warnings.filter((w) => w.msg === 'took over the state directory lock of a daemon that is gone').length, 1, stale);
      for (const r of results) if (!(r instanceof Error)) await r.release();
    }
  });

  it('a live pid that started after the lock was written (a reused pid) is not the owner; a lock of another host is refused, naming it', async () => {
    const d = dir();
    const log = recorder();
    await lockStateDir(d, log).then((l) => l.release());
    // pid 1 is alive, but its start time is not the one recorded.
    writeFileSync(join(d, 'lock'), `{"pid":1,"start_time":"123456789","host":"${hostname()}","since":"earlier"}\n`);
    const l = await lockStateDir(d, log);
    assert.equal(log.warnings.length, 1);
    await l.release();
    writeFileSync(join(d, 'lock'), '{"pid":4242,"start_time":null,"host":"elsewhere","since":"earlier"}\n');
    await assert.rejects(
      lockStateDir(d, log),
      new RegExp(
        `^DaemonStartError: the state directory ${d} is locked by a reloadkit daemon on another host \\(elsewhere, pid 4242, since earlier\\); if that daemon is gone, remove ${d}/lock$`,
      ),
    );
  });
});
