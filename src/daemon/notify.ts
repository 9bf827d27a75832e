// Service manager notifications (the sd_notify protocol: `KEY=value` lines in
// one datagram on the Unix socket named by NOTIFY_SOCKET), sent through
// systemd's own `systemd-notify` binary. Node has no Unix datagram sockets;
// the binary ships with systemd wherever NOTIFY_SOCKET can be set, speaks
// every form of the address (a path, or `@name` in the abstract namespace),
// and by default waits until the manager has processed the message (its
// BARRIER=1 round trip), so it is still alive when the manager looks up which
// unit its process belongs to. `--pid` attributes the message to the daemon
// when the sender may say so (root with CAP_SYS_ADMIN); otherwise it is the
// sender's own, which `NotifyAccess=all` accepts. The README's design section
// says why this over a package.
//
// Messages go out one at a time, in the order they were queued: the next
// starts only once the previous sender has exited (after its barrier), so a
// READY=1 never overtakes the RELOADING=1 before it. A STATUS= still waiting
// is replaced by a newer one, and a WATCHDOG=1 already waiting is not queued
// twice, so the queue stays short whatever the manager's pace.
import { spawn } from 'node:child_process';
import { errnoCode } from '../shared/errno.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';

/** What a message is, for coalescing: states are never dropped, statuses and pings are. */
export type NotifyKind = 'state' | 'status' | 'watchdog';

export interface NotifySenderOptions {
  /** The daemon's process id: `--pid`, so a privileged sender attributes the message to it. */
  pid: number;
  logger: Logger;
  /** The sender binary (default `systemd-notify`, looked up on PATH). */
  binary?: string;
  /** A sender still running after this is killed (default 10 s; its own barrier gives up after 5 s). */
  timeoutMs?: number;
}

interface Message {
  kind: NotifyKind;
  fields: string[];
}

/** Makes a value fit in one `KEY=value` line: no newlines, at most `max` characters. */
export function oneLine(text: string, max = 200): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

export class NotifySender {
  private readonly queue: Message[] = [];
  private running = false;
  private disabled = false;
  private failures = 0;
  private readonly idle: (() => void)[] = [];
  private readonly binary: string;
  private readonly timeoutMs: number;

  constructor(
    /** NOTIFY_SOCKET: a path, or `@name` (abstract namespace). */
    readonly socket: string,
    private readonly opts: NotifySenderOptions,
  ) {
    this.binary = opts.binary ?? 'systemd-notify';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  /** Messages sent so far that the sender reported as failed. */
  get failed(): number {
    return this.failures;
  }

  /** Queues one datagram of `KEY=value` fields. */
  send(kind: NotifyKind, fields: readonly string[]): void {
    if (this.disabled) return;
    const message = { kind, fields: [...fields] };
    const last = this.queue.at(-1);
    if (kind === 'watchdog' && this.queue.some((m) => m.kind === 'watchdog')) return;
    if (kind === 'status' && last?.kind === 'status') this.queue[this.queue.length - 1] = message;
    else this.queue.push(message);
    if (!this.running) void this.drain();
  }

  /** Resolves true once everything queued so far was handed over, or false after `timeoutMs`. */
  flush(timeoutMs: number): Promise<boolean> {
    if (!this.running) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      timer.unref();
      this.idle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      for (let m = this.queue.shift(); m !== undefined && !this.disabled; m = this.queue.shift()) await this.deliver(m);
    } finally {
      // No await between the last look at the queue and here: a message queued meanwhile started a new drain.
      this.running = false;
      this.queue.length = 0;
      for (const wake of this.idle.splice(0)) wake();
    }
  }

  private deliver(m: Message): Promise<void> {
    const { logger, pid } = this.opts;
    return new Promise((resolve) => {
      let stderr = '';
      const child = spawn(this.binary, [`--pid=${pid}`, ...m.fields], {
        env: { NOTIFY_SOCKET: this.socket, PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.stderr.setEncoding('utf8').on('data', (c: string) => {
        if (stderr.length < 1000) stderr += c;
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        // Not installed: nothing later can work either.
        this.disabled = true;
        logger.error(
          { notify_socket: this.socket, sender: this.binary, err: errnoCode(err) ?? errorMessage(err) },
          'NOTIFY_SOCKET is set but systemd-notify cannot be run; the service manager will not be told about start, reloads or stop',
        );
        resolve();
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code !== 0) {
          this.failures += 1;
          // The first failure is a warning; a manager that stopped reading should not flood the log.
          const log = this.failures === 1 ? logger.warn.bind(logger) : logger.debug.bind(logger);
          log(
            { notify_socket: this.socket, message: m.fields.join(' '), exit: code ?? signal, stderr: oneLine(stderr, 300) },
            'the service manager notification was not delivered',
          );
        }
        resolve();
      });
    });
  }
}
