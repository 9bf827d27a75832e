// The `signal` kind: read the pid (pidfile or fixed), make sure the process
// exists, send the signal. A stale pidfile is an error that says so.
import { readFile } from 'node:fs/promises';
import type { SignalTargetDef } from '../config.js';
import type { TargetDriver } from './driver.js';
import { isRunning } from './proc.js';

/** Reads a pidfile: one positive integer (surrounding whitespace allowed). */
export async function readPidfile(path: string): Promise<number> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file (is the process running?)' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new Error(`cannot read pidfile ${path}: ${why}`, { cause: err });
  }
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) < 2) {
    throw new Error(`pidfile ${path} does not hold a process id (found ${JSON.stringify(trimmed.slice(0, 32))})`);
  }
  return Number(trimmed);
}

export function signalDriver(def: Pick<SignalTargetDef, 'pidfile' | 'pid' | 'signal'>): TargetDriver {
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
