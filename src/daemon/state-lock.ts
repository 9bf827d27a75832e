// One daemon per state directory: `<state_dir>/lock` holds the pid (with its
// start time and host) of the daemon using it. Two daemons on one state
// directory would reload the same services from the same recorded hashes,
// each believing it is the only one. A lock whose process is gone (killed,
// crashed) is taken over.
//
// Plain files, no native addon: the lock is published with link(2) (atomic,
// and never seen half-written; open O_EXCL where the filesystem cannot link),
// and a stale one is removed under a second, short-lived lock
// (`lock.takeover`, O_EXCL), so two daemons starting at once cannot both
// remove it and both go on.
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sleep } from '../shared/abort.js';
import { errnoCode } from '../shared/errno.js';
import { DaemonStartError, errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import { isRunning, processStartTime } from './targets/proc.js';

interface LockOwner {
  pid: number;
  /** Clock ticks after boot when the process started (Linux), so a reused pid is not taken for the owner. */
  start_time: string | null;
  host: string;
  since: string;
}

export interface StateLock {
  readonly path: string;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** Lock files this process holds: a second daemon in the same process is refused too. */
const heldHere = new Set<string>();

/** A takeover lock older than this was left by a daemon that died in the middle of one. */
const TAKEOVER_STALE_MS = 10_000;
/** How long an empty lock file (a daemon between create and write, O_EXCL fallback only) is given. */
const EMPTY_GRACE_MS = 2000;

function me(): LockOwner {
  return { pid: process.pid, start_time: processStartTime(process.pid), host: hostname(), since: new Date().toISOString() };
}

async function readOwner(path: string): Promise<LockOwner | 'empty' | 'gone' | 'garbled'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return 'gone';
    throw err;
  }
  if (text.trim() === '') return 'empty';
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return 'garbled';
    return { pid: v.pid, start_time: typeof v.start_time === 'string' ? v.start_time : null, host: String(v.host ?? ''), since: String(v.since ?? '') };
  } catch {
    return 'garbled';
  }
}

/** Whether the owner still runs: same host, a live pid, and (when both are known) the same start time. */
function ownerAlive(owner: LockOwner, path: string): boolean | 'other-host' {
  if (owner.host !== '' && owner.host !== hostname()) return 'other-host';
  if (owner.pid === process.pid) return heldHere.has(path);
  if (!isRunning(owner.pid)) return false;
  const now = processStartTime(owner.pid);
  return owner.start_time === null || now === null || now === owner.start_time;
}

/**
 * Publishes our lock file; false when one is there already. Synchronous: it
 * runs once, at start, before anything is served, and three system calls in
 * a row cost less than three trips through the thread pool.
 */
async function create(path: string, content: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, content, { mode: 0o600, flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
    // A filesystem without hard links: O_EXCL (a reader may see it empty for a moment).
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(content);
      } finally {
        await fh.close();
      }
      return true;
    } catch (err2) {
      if (errnoCode(err2) === 'EEXIST') return false;
      throw err2;
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // gone already
    }
  }
}

/** Removes a stale lock unless it changed meanwhile; false when another daemon is taking it over right now. */
async function takeOver(path: string, staleText: string): Promise<boolean> {
  const guard = `${path}.takeover`;
  let fh;
  try {
    fh = await open(guard, 'wx', 0o600);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw err;
    // Someone else is taking over; a guard left by a daemon that died mid-takeover goes after a while.
    const st = await stat(guard).catch(() => null);
    if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await unlink(guard).catch(() => {});
    return false;
  }
  try {
    await fh.writeFile(String(process.pid));
    const now = await readFile(path, 'utf8').catch(() => null);
    if (now === staleText) await unlink(path).catch(() => {});
    return true;
  } finally {
    await fh.close();
    await unlink(guard).catch(() => {});
  }
}

/**
 * Takes `<dir>/lock` for this process. Throws DaemonStartError naming the
 * owner when another live daemon holds it; takes over a lock whose daemon is
 * gone (logged).
 */
export async function lockStateDir(dir: string, logger: Logger): Promise<StateLock> {
  const path = join(dir, 'lock');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new DaemonStartError(`state_dir ${dir}: cannot create it (${errnoCode(err) ?? errorMessage(err)})`);
  }
  const owner = me();
  const content = `${JSON.stringify(owner)}\n`;
  let emptySince: number | null = null;
  for (let attempt = 0; ; attempt += 1) {
    try {
      if (await create(path, content)) break;
    } catch (err) {
      throw new DaemonStartError(`state_dir ${dir}: cannot create its lock file ${path} (${errnoCode(err) ?? errorMessage(err)})`);
    }
    const text = await readFile(path, 'utf8').catch(() => null);
    if (text === null) continue; // released meanwhile: try again
    const held = await readOwner(path);
    if (held === 'gone') continue;
    if (held === 'empty') {
      emptySince ??= Date.now();
      if (Date.now() - emptySince < EMPTY_GRACE_MS) {
        await sleep(50);
        continue;
      }
    } else if (held !== 'garbled') {
      const alive = ownerAlive(held, path);
      if (alive === 'other-host') {
        throw new DaemonStartError(
          `the state directory ${dir} is locked by a reloadkit daemon on another host (${held.host}, pid ${held.pid}, since ${held.since}); if that daemon is gone, remove ${path}`,
        );
      }
      if (alive) {
        throw new DaemonStartError(
          `another reloadkit daemon (pid ${held.pid}, running since ${held.since}) is using the state directory ${dir} (lock file ${path}); stop it first, or give this daemon another state_dir`,
        );
      }
    }
    if (attempt > 50) throw new DaemonStartError(`state_dir ${dir}: cannot take its lock file ${path} (it keeps changing)`);
    const previous = typeof held === 'object' ? `pid ${held.pid}, since ${held.since}` : `${held} lock file`;
    if (await takeOver(path, text)) logger.warn({ unit: 'reloadkit', lock: path, previous }, 'took over the state directory lock of a daemon that is gone');
    else await sleep(20);
  }
  heldHere.add(path);
  return {
    path,
    async release() {
      heldHere.delete(path);
      const held = await readOwner(path).catch(() => 'gone' as const);
      if (typeof held === 'object' && held.pid === owner.pid && held.since === owner.since) await unlink(path).catch(() => {});
    },
  };
}
