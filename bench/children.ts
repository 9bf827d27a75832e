// Child processes of the benchmarks (nginx masters, reload loops, daemons):
// each runs in its own process group and is registered here, so a suite that
// fails, or a bench run interrupted with Ctrl-C, still leaves nothing behind.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { isRunning } from '../src/daemon/targets/proc.js';

/** Process groups still to kill (pgid = the leader's pid). */
const groups = new Set<number>();

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

function killAllNow(): void {
  for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  groups.clear();
}

let handlersInstalled = false;
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAllNow);
  // Ctrl-C reaches only the foreground group; our children have their own.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllNow();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
}

/** Registers a process group leader started elsewhere (nginx daemonizes into its own session). */
export function trackGroup(pgid: number): void {
  installHandlers();
  groups.add(pgid);
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (isRunning(pid)) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

/**
 * Stops a process group: `signal` first (a daemon gets to clean up), SIGKILL
 * to the whole group after `graceMs`. Resolves once the leader is gone.
 */
export async function stopGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL', graceMs = 5000): Promise<void> {
  killGroup(pgid, signal);
  if (signal !== 'SIGKILL' && !(await waitGone(pgid, graceMs))) killGroup(pgid, 'SIGKILL');
  // Whatever the leader left in its group (a reload loop's nginx -t) goes too.
  killGroup(pgid, 'SIGKILL');
  await waitGone(pgid, 5000);
  groups.delete(pgid);
}

export interface TrackedChild {
  proc: ChildProcess;
  /** The exit, as a promise (resolves at once if it already exited). */
  exited: Promise<void>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

/** spawn() in a new process group, registered for cleanup. */
export function spawnTracked(cmd: string, args: readonly string[], options: SpawnOptions = {}): TrackedChild {
  installHandlers();
  const proc = spawn(cmd, args, { ...options, detached: true });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`bench: cannot start ${cmd}`);
  groups.add(pid);
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  return {
    proc,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      await stopGroup(pid, signal, graceMs);
      await exited;
    },
  };
}
