// The real daemon as a child process (`node dist/cli.js run`, the built CLI),
// with its JSON log lines collected, and the real CLI for reload/status.
import { spawn, type ChildProcess } from 'node:child_process';
import { sendAdminCommand } from '../../src/admin/client.js';
import { waitFor } from './helpers.js';

import { cliEntry, ROOT } from '../helpers/cli-entry.js';

export { ROOT };

/** The test's environment without RELOADKIT_* (so the daemon sees only what a test sets), plus `extra`. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RELOADKIT_')) env[k] = v;
  return { ...env, ...extra };
}

export type LogLine = Record<string, unknown> & { msg?: string; level?: string; unit?: string; status?: string; trigger?: string };

export interface DaemonHandle {
  proc: ChildProcess;
  lines: LogLine[];
  stderr(): string;
  /** Waits for a log line matching `pred` (among all lines so far, from index `from`). */
  waitForLine(pred: (l: LogLine) => boolean, what: string, from?: number, timeoutMs?: number): Promise<LogLine>;
  /** Pass lines ("reload pass") of a unit. */
  passes(unit: string): LogLine[];
  send(line: string, timeoutMs?: number): Promise<string>;
  socket: string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export interface StartOptions {
  args: string[];
  socket: string;
  env?: NodeJS.ProcessEnv;
  /** Wait for the "reloadkit started" line (default true). */
  waitStarted?: boolean;
  /** Node arguments before `run` (default: the built CLI, see helpers/cli-entry.ts), e.g. a library host fixture through tsx. */
  entry?: readonly string[];
  /** A command the node invocation is appended to, which execs it (e.g. systemd-socket-activate with its options). */
  wrap?: readonly string[];
  /** Run the daemon as this user and group (tests that need file permissions to apply; root bypasses them). */
  uid?: number;
  gid?: number;
}

export async function startDaemon(o: StartOptions): Promise<DaemonHandle> {
  const [command, ...argv] = [...(o.wrap ?? []), process.execPath, ...(o.entry ?? cliEntry()), 'run', ...o.args];
  const proc = spawn(command!, argv, {
    cwd: ROOT,
    env: cleanEnv(o.env),
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(o.uid === undefined ? {} : { uid: o.uid }),
    ...(o.gid === undefined ? {} : { gid: o.gid }),
  });
  const lines: LogLine[] = [];
  let err = '';
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl = buf.indexOf('\n');
    while (nl >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as LogLine);
      } catch {
        lines.push({ msg: `(not JSON) ${text}` });
      }
      nl = buf.indexOf('\n');
    }
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (c: string) => (err += c));
  const exited = new Promise<number | string>((resolve) => proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1)));
  let done = false;
  void exited.then(() => (done = true));

  const handle: DaemonHandle = {
    proc,
    lines,
    socket: o.socket,
    stderr: () => err,
    async waitForLine(pred, what, from = 0, timeoutMs = 30_000) {
      return waitFor(
        () => {
          const hit = lines.slice(from).find(pred);
          if (!hit && done) throw new Error(`daemon exited while waiting for ${what}; stderr: ${err}; lines: ${JSON.stringify(lines.slice(-5))}`);
          return hit;
        },
        what,
        timeoutMs,
      );
    },
    passes: (unit) => lines.filter((l) => l.msg === 'reload pass' && l.unit === unit),
    async send(line, timeoutMs = 60_000) {
      try {
        return await sendAdminCommand(o.socket, line, { timeoutMs });
      } catch (e) {
        // What the daemon was doing explains a refused or cut connection.
        if (e instanceof Error)
          e.message += `\n  daemon ${done ? 'had exited' : 'running'}; last lines: ${JSON.stringify(lines.slice(-5))}; stderr: ${err.slice(-2000)}`;
        throw e;
      }
    },
    exited,
    async stop(signal = 'SIGTERM') {
      if (!done) proc.kill(signal);
      return exited;
    },
  };
  if (o.waitStarted !== false) await handle.waitForLine((l) => l.msg === 'reloadkit started', 'daemon start', 0, 60_000);
  return handle;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI (`node dist/cli.js ...args`) to completion. */
export function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...cliEntry(), ...args], {
      cwd: ROOT,
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
