// Reading process state from /proc (Linux): parents, process groups, and
// whether a pid is a live process or only a zombie nobody has reaped (as in
// containers whose PID 1 does not reap orphans).
import { readdirSync, readFileSync } from 'node:fs';

interface ProcStat {
  pid: number;
  /** R, S, D, Z, T… (see proc(5)). */
  state: string;
  ppid: number;
  pgrp: number;
  /** When the process started, in clock ticks after boot (field 22): with the pid, it names one process. */
  starttime: string;
}

/** /proc/<pid>/stat, or null when the process does not exist. */
function readStat(pid: number): ProcStat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may contain spaces or ')'.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(' ');
  const state = rest[0] ?? '?';
  return { pid, state, ppid: Number(rest[1]), pgrp: Number(rest[2]), starttime: rest[19] ?? '' };
}

/** Whether /proc is usable here (Linux); elsewhere callers fall back to kill(pid, 0). */
export const hasProcfs = (() => {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
})();

/** When a live process started (clock ticks after boot), or null (gone, or no /proc): a pid reused later has another. */
export function processStartTime(pid: number): string | null {
  const st = hasProcfs ? readStat(pid) : null;
  return st === null || dead(st.state) ? null : st.starttime;
}

/**
 * What a process is: its name (/proc/<pid>/comm) and command line
 * (/proc/<pid>/cmdline, arguments joined by spaces; a process may rewrite it,
 * as nginx's "nginx: master process …" does). Null when it does not exist or
 * there is no /proc.
 */
export function processIdentity(pid: number): { name: string; cmdline: string } | null {
  if (!hasProcfs) return null;
  try {
    const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+/g, ' ').trim();
    return { name, cmdline };
  } catch {
    return null;
  }
}

const dead = (state: string) => state === 'Z' || state === 'X' || state === 'x';

/** True when pid is a process that is not a zombie. */
export function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (hasProcfs) {
    const st = readStat(pid);
    return st !== null && !dead(st.state);
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function allPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    const n = Number(name);
    if (Number.isInteger(n) && n > 0) out.push(n);
  }
  return out;
}

/** Live (non-zombie) members of a process group. */
export function groupMembers(pgid: number): number[] {
  if (!hasProcfs) {
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM' ? [pgid] : [];
    }
  }
  const out: number[] = [];
  for (const pid of allPids()) {
    const st = readStat(pid);
    if (st && st.pgrp === pgid && !dead(st.state)) out.push(pid);
  }
  return out;
}

/**
 * Live children of a process: /proc/<pid>/task/<tid>/children when the
 * kernel provides it, else a scan of every process's parent.
 */
export function childrenOf(pid: number): number[] {
  const found = new Set<number>();
  let direct = false;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'latin1');
      direct = true;
      for (const p of text.split(' ')) {
        const n = Number(p);
        if (p !== '' && Number.isInteger(n)) found.add(n);
      }
    }
  } catch {
    direct = false;
  }
  if (!direct) {
    found.clear();
    for (const p of allPids()) {
      const st = readStat(p);
      if (st && st.ppid === pid) found.add(p);
    }
  }
  return [...found].filter((p) => {
    const st = readStat(p);
    return st !== null && !dead(st.state);
  });
}
