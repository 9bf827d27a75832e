// The `signal` kind: read the pid (pidfile or fixed), make sure the process
// exists (and, with `process:`, that it is the expected one), send the
// signal. A stale pidfile is an error that says so.
import { readFile } from 'node:fs/promises';
import type { SignalTargetDef } from '../config.js';
import type { TargetDriver } from './driver.js';
import { hasProcfs, isRunning, processIdentity } from './proc.js';

/** What a pidfile held: a pid, or why there is none. */
export type PidfileRead = { pid: number } | { problem: 'missing' | 'empty' | 'invalid' | 'unreadable'; message: string };

/** Reads a pidfile: one positive integer (surrounding whitespace allowed). Never throws. */
export async function readPid(path: string): Promise<PidfileRead> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') return { problem: 'missing', message: `cannot read pidfile ${path}: no such file (is the process running?)` };
    return { problem: 'unreadable', message: `cannot read pidfile ${path}: ${e.code === 'EACCES' ? 'permission denied' : e.message}` };
  }
  const trimmed = text.trim();
  if (trimmed === '') return { problem: 'empty', message: `pidfile ${path} is empty (is the process running?)` };
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 2) {
    return { problem: 'invalid', message: `pidfile ${path} does not hold a process id (found ${JSON.stringify(trimmed.slice(0, 32))})` };
  }
  return { pid: Number(trimmed) };
}

/** Reads a pidfile; throws with the reason when it holds no pid. */
async function readPidfile(path: string): Promise<number> {
  const r = await readPid(path);
  if ('problem' in r) throw new Error(r.message);
  return r.pid;
}

/**
 * Refuses a process that does not match `process:` (a regular expression
 * tested against its name and its command line): a pidfile left behind names
 * whatever process got the pid next.
 */
function checkIdentity(pid: number, pattern: string, from: string): void {
  if (!hasProcfs) throw new Error(`cannot check pid ${pid}${from} against process: ${pattern} here (no /proc); not signalling it`);
  const id = processIdentity(pid);
  if (id === null) throw new Error(`process ${pid}${from} exited before it could be checked`);
  const re = new RegExp(pattern);
  if (re.test(id.name) || re.test(id.cmdline)) return;
  const shown = JSON.stringify((id.cmdline || id.name).slice(0, 120));
  throw new Error(`pid ${pid}${from} is ${shown}, which does not match process: ${pattern}; not signalling it`);
}

export function signalDriver(def: Pick<SignalTargetDef, 'pidfile' | 'pid' | 'signal' | 'process'>): TargetDriver {
  return {
    hasCheck: false,
    async check() {},
    async apply() {
      const pid = def.pidfile !== undefined ? await readPidfile(def.pidfile) : def.pid!;
      const from = def.pidfile !== undefined ? ` (from pidfile ${def.pidfile})` : '';
      if (!isRunning(pid)) {
        throw new Error(
          def.pidfile !== undefined ? `stale pidfile ${def.pidfile}: no process with pid ${pid} is running` : `no process with pid ${pid} is running`,
        );
      }
      if (def.process !== undefined) checkIdentity(pid, def.process, from);
      try {
        process.kill(pid, def.signal);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EPERM') throw new Error(`not allowed to send ${def.signal} to pid ${pid}${from} (EPERM)`, { cause: err });
        if (e.code === 'ESRCH') throw new Error(`process ${pid}${from} exited before ${def.signal} could be sent`, { cause: err });
        throw new Error(`cannot send ${def.signal} to pid ${pid}${from}: ${e.message}`, { cause: err });
      }
    },
  };
}
