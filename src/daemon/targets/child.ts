// Child processes for targets: argv only (no shell), each in its own process
// group so a timeout or shutdown kills the whole tree (SIGTERM, then SIGKILL
// after a grace period), with stdout/stderr captured up to a cap.
import type { spawn as spawnFn } from 'node:child_process';
import { groupMembers } from './proc.js';
import { sleep } from '../../shared/abort.js';

/** Bytes of stdout/stderr kept per stream (the tail, unless `stdoutHead`). */
export const OUTPUT_CAP = 64 * 1024;
/** Time between SIGTERM and SIGKILL to the group. */
export const DEFAULT_KILL_GRACE_MS = 2000;

export interface RunOptions {
  /** Kill the group after this long (SIGTERM, then SIGKILL after `killGraceMs`). */
  timeoutMs: number;
  /** Aborting kills the group the same way (shutdown, hook timeout). */
  signal?: AbortSignal | undefined;
  killGraceMs?: number;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Keep the first `OUTPUT_CAP` bytes of stdout instead of the last (for `nginx -T` dumps). */
  stdoutHead?: boolean;
}

export interface RunResult {
  argv: readonly string[];
  /** Exit code, or null when the process died of a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
}

/** A child that did not exit 0 (or never started); the message carries the output tail. */
export class ChildError extends Error {
  readonly result: RunResult | null;
  readonly reason: 'exit' | 'timeout' | 'aborted' | 'spawn';
  constructor(message: string, reason: ChildError['reason'], result: RunResult | null) {
    super(message);
    this.name = 'ChildError';
    this.reason = reason;
    this.result = result;
  }
}

/** Keeps the last (or first) `cap` bytes written to it. */
class Capture {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;
  constructor(
    private readonly cap: number,
    private readonly head: boolean,
  ) {}
  push(chunk: Buffer): void {
    if (this.head) {
      const room = this.cap - this.size;
      if (room <= 0) {
        this.dropped += chunk.length;
        return;
      }
      const part = chunk.length > room ? chunk.subarray(0, room) : chunk;
      this.dropped += chunk.length - part.length;
      this.chunks.push(part);
      this.size += part.length;
      return;
    }
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.cap && this.chunks.length > 0) {
      const over = this.size - this.cap;
      const first = this.chunks[0]!;
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.size -= over;
        this.dropped += over;
      }
    }
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    if (this.dropped === 0) return s;
    return this.head ? `${s}\n[… ${this.dropped} more bytes]` : `[… ${this.dropped} earlier bytes]\n${s}`;
  }
}

// Every process group we started and have not yet seen die; shutdown waits for them.
const liveGroups = new Map<number, Promise<void>>();

/** Resolves when every process group started by runChild is gone. */
export async function waitForChildren(): Promise<void> {
  while (liveGroups.size > 0) await Promise.all([...liveGroups.values()]);
}

/** Whether any member of the group is still running (zombies left for an absent reaper do not count). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return groupMembers(pgid).length > 0;
}

function killGroup(pgid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pgid, sig);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Terminates what is left of a process group after its leader exited:
 * SIGTERM, then SIGKILL after `graceMs`. Resolves when no member is left
 * (polled: a group has no exit event once its leader is reaped).
 */
async function reapGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  killGroup(pgid, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  let delay = 5;
  while (groupAlive(pgid)) {
    if (Date.now() >= killAt) killGroup(pgid, 'SIGKILL');
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function tail(text: string, max = 2000): string {
  const t = text.trim();
  return t.length > max ? `…${t.slice(t.length - max)}` : t;
}

/**
 * The output worth showing in an error: stderr and stdout, each trimmed to
 * its tail (a check such as `grep -n` says what it found on stdout and why it
 * failed on stderr); stdout is labelled when both have something.
 */
function outputTail(result: Pick<RunResult, 'stdout' | 'stderr'>, max = 2000): string {
  const err = tail(result.stderr, max);
  const out = tail(result.stdout, max);
  if (err === '' || out === '') return err || out;
  return `${err}\nstdout: ${out}`;
}

/** How a run ended early (timeout, abort), and the timer escalating its group's SIGTERM to SIGKILL. */
interface GroupControl {
  ended: 'timeout' | 'aborted' | null;
  killTimer: NodeJS.Timeout | undefined;
}

/**
 * Tracks a child's process group from spawn until every member is gone, so
 * shutdown can wait for it; returns the callback to call when the leader
 * exited (the rest of the group is reaped then).
 */
function trackGroup(pgid: number, graceMs: number, ctl: GroupControl): () => void {
  let leaderExited!: () => void;
  const gone = new Promise<void>((r) => {
    leaderExited = r;
  }).then(() => reapGroup(pgid, ctl.ended === null ? graceMs : Math.min(graceMs, 100)));
  const tracked = gone.finally(() => {
    clearTimeout(ctl.killTimer);
    liveGroups.delete(pgid);
  });
  liveGroups.set(pgid, tracked);
  return leaderExited;
}

/** Why a command could not be started, in words. */
function spawnErrorMessage(e: NodeJS.ErrnoException, file: string, label: string): string {
  if (e.code === 'ENOENT') return `command not found: ${JSON.stringify(file)} (no such file in PATH or at that path)`;
  if (e.code === 'EACCES') return `command not executable: ${JSON.stringify(file)} (permission denied)`;
  return `cannot run ${label}: ${e.message}`;
}

/** The error a finished command is rejected with (timed out, stopped, non-zero exit, killed), or null when it succeeded. */
function failureOf(label: string, ended: GroupControl['ended'], result: RunResult, opts: RunOptions): ChildError | null {
  const output = outputTail(result);
  const suffix = output === '' ? '' : `: ${output}`;
  if (ended === 'timeout') return new ChildError(`${label} timed out after ${opts.timeoutMs} ms and was killed${suffix}`, 'timeout', result);
  if (ended === 'aborted') {
    const reason: unknown = opts.signal?.reason;
    const why = reason instanceof Error ? reason.message : 'aborted';
    return new ChildError(`${label} was stopped (${why})${suffix}`, 'aborted', result);
  }
  if (result.code === 0) return null;
  const how = result.code === null ? `was killed by ${result.signal ?? 'a signal'}` : `exited with code ${result.code}`;
  return new ChildError(`${label} ${how}${suffix}`, 'exit', result);
}

/**
 * Runs argv in its own process group and resolves when it exited 0; rejects
 * with a ChildError (exit code or signal, timeout, abort, missing binary)
 * whose message includes the tail of its output.
 */
// node:child_process is loaded on the first command, not at daemon start-up.
let spawnImpl: typeof spawnFn | null = null;

export async function runChild(argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  spawnImpl ??= (await import('node:child_process')).spawn;
  return run(spawnImpl, argv, opts);
}

function run(spawn: typeof spawnFn, argv: readonly string[], opts: RunOptions): Promise<RunResult> {
  const [file, ...args] = argv;
  if (file === undefined || file === '') return Promise.reject(new ChildError('empty command', 'spawn', null));
  const graceMs = opts.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const label = formatArgv(argv);
  if (opts.signal?.aborted) return Promise.reject(new ChildError(`${label}: not started: aborted`, 'aborted', null));

  return new Promise<RunResult>((resolve, reject) => {
    const t0 = performance.now();
    const out = new Capture(OUTPUT_CAP, opts.stdoutHead === true);
    const err = new Capture(OUTPUT_CAP, false);
    const ctl: GroupControl = { ended: null, killTimer: undefined };
    let settled = false;
    const child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
      ...(opts.env === undefined ? {} : { env: opts.env }),
    });
    const pgid = child.pid;
    const leaderExited = pgid === undefined ? undefined : trackGroup(pgid, graceMs, ctl);
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));

    const stop = (why: 'timeout' | 'aborted') => {
      if (ctl.ended !== null || pgid === undefined) return;
      ctl.ended = why;
      killGroup(pgid, 'SIGTERM');
      ctl.killTimer = setTimeout(() => killGroup(pgid, 'SIGKILL'), graceMs);
      ctl.killTimer.unref();
    };
    const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
    const onAbort = () => stop('aborted');
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const cleanup = () => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    };

    child.on('error', (e: NodeJS.ErrnoException) => {
      cleanup();
      // Only spawn failures reach here before 'exit'; a started child still ends with 'exit'.
      if (settled) return;
      settled = true;
      reject(new ChildError(spawnErrorMessage(e, file, label), 'spawn', null));
    });

    // The result is due when the leader exited and its pipes drained; a
    // grandchild holding the pipes open must not delay it (it is reaped).
    const PIPE_DRAIN_MS = 250;
    child.on('exit', (code, sig) => {
      cleanup();
      leaderExited?.();
      if (settled) return;
      settled = true;
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        clearTimeout(drainTimer);
        child.stdout.destroy();
        child.stderr.destroy();
        const result: RunResult = {
          argv,
          code,
          signal: sig,
          stdout: out.text(),
          stderr: err.text(),
          durationMs: Math.round((performance.now() - t0) * 1000) / 1000,
        };
        const failure = failureOf(label, ctl.ended, result, opts);
        if (failure === null) resolve(result);
        else reject(failure);
      };
      const drainTimer = setTimeout(finish, PIPE_DRAIN_MS);
      child.once('close', finish);
    });
  });
}
