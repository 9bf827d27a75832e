// What the daemon tells the service manager, and what it takes from it.
// From the environment systemd sets: the sockets to serve (socket
// activation, activation.ts), where to send notifications (NOTIFY_SOCKET,
// notify.ts) and the watchdog period (WATCHDOG_USEC). The variables are
// removed from the environment, so the daemon's children (checks, reload
// commands) never take them for their own.
//
// Notifications (for `Type=notify`, and what `Type=notify-reload` needs):
// READY=1 once the admin socket answers; on SIGHUP, RELOADING=1 with
// MONOTONIC_USEC= when the reload begins and READY=1 when it has ended;
// STATUS= with a one-line summary after every pass; STOPPING=1 when shutdown
// begins; WATCHDOG=1 every half WATCHDOG_USEC from a timer on the event loop,
// so a stuck loop sends none and the manager restarts the daemon.
import { sendAdminCommand } from '../admin/client.js';
import type { AdminHost } from '../admin/host.js';
import { errorMessage, ShutdownError } from '../shared/errors.js';
import type { Logger, ReloadResult, Trigger } from '../shared/types.js';
import { takeListenFds, type ListenFds } from './activation.js';
import { NotifySender, oneLine } from './notify.js';

/** What the service manager wiring needs from the daemon. */
export interface NotifiedDaemon {
  readonly host: AdminHost;
  readonly socketPath: string | null;
  onResult(listener: (r: ReloadResult) => void): () => void;
  reloadAll(trigger: Trigger): void;
}

/** CLOCK_MONOTONIC in microseconds (libuv's hrtime reads that clock on Linux), as MONOTONIC_USEC= wants. */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * One line for STATUS=: the pass that just ended (if any), the number of
 * targets, and whether every unit serves a valid config (else which units
 * are degraded, or why the daemon is not ready).
 */
export function statusSummary(host: AdminHost, last?: ReloadResult): string {
  const ready = host.ready();
  const n = host.targetCount();
  // Degraded reasons start with the unit's name ("nginx: last reload …"); the pass already says what failed.
  const degraded = [...new Set(ready.degraded.map((d) => d.split(':')[0]))];
  const state = !ready.ok
    ? `not ready: ${ready.reasons.join('; ')}`
    : degraded.length > 0
      ? `degraded: ${degraded.join(', ')}`
      : 'every unit serves a valid config';
  const pass = last ? `${last.unit}: ${last.status}${last.error ? ` (${last.error})` : ''}; ` : '';
  return oneLine(`${pass}${n} target${n === 1 ? '' : 's'}; ${state}`);
}

export interface ServiceManagerOptions {
  logger: Logger;
  /** The environment to read (and remove) the variables from (default process.env). */
  env?: NodeJS.ProcessEnv;
  pid?: number;
  /** The notification sender binary (default systemd-notify). */
  sender?: string;
}

export class ServiceManager {
  /** Sockets passed by the service manager: serve these instead of creating them. */
  readonly listenFds: ListenFds;
  private readonly notifier: NotifySender | null;
  private readonly watchdogMs: number | null;
  private readonly logger: Logger;
  private watchdog: NodeJS.Timeout | null = null;
  private offResult: (() => void) | null = null;
  /** READY=1 was sent: from now on SIGHUP reloads are announced. */
  private ready = false;
  /** SIGHUP reloads in flight: READY=1 goes out when the last one ends. */
  private reloads = 0;
  private stopped = false;

  constructor(o: ServiceManagerOptions) {
    const env = o.env ?? process.env;
    const pid = o.pid ?? process.pid;
    this.logger = o.logger;
    this.listenFds = takeListenFds(env, pid, o.logger);
    const socket = env.NOTIFY_SOCKET;
    const watchdogUsec = env.WATCHDOG_USEC;
    const watchdogPid = env.WATCHDOG_PID;
    delete env.NOTIFY_SOCKET;
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    this.notifier = socket ? new NotifySender(socket, { pid, logger: o.logger, ...(o.sender === undefined ? {} : { binary: o.sender }) }) : null;
    const usec = watchdogUsec !== undefined && /^\d+$/.test(watchdogUsec) ? Number(watchdogUsec) : 0;
    const forUs = !watchdogPid || watchdogPid === String(pid);
    this.watchdogMs = this.notifier && usec > 0 && forUs ? Math.max(1, Math.floor(usec / 2000)) : null;
  }

  /** True when NOTIFY_SOCKET was set. */
  get notifying(): boolean {
    return this.notifier !== null;
  }

  /** The watchdog ping period in ms (half WATCHDOG_USEC), or null when there is none for this process. */
  get watchdogPeriodMs(): number | null {
    return this.watchdogMs;
  }

  /** Start-up is complete: once the admin socket answers, READY=1 with a summary; the watchdog starts. */
  async started(daemon: NotifiedDaemon): Promise<void> {
    if (!this.notifier || this.stopped) return;
    const socket = daemon.socketPath;
    if (socket !== null) {
      try {
        await sendAdminCommand(socket, 'status', { timeoutMs: 10_000 });
      } catch (err) {
        this.logger.warn({ socket, err: errorMessage(err) }, 'the admin socket does not answer; telling the service manager the daemon is ready anyway');
      }
    }
    if (this.stopped) return;
    this.ready = true;
    this.offResult = daemon.onResult((r) => {
      if (!this.stopped) this.notifier!.send('status', [`STATUS=${statusSummary(daemon.host, r)}`]);
    });
    this.notifier.send('state', ['READY=1', `STATUS=${statusSummary(daemon.host)}`]);
    if (this.watchdogMs !== null) {
      const ms = this.watchdogMs;
      // On the event loop on purpose: while the loop is stuck no ping goes out, and the manager's watchdog fires.
      this.watchdog = setInterval(() => this.notifier!.send('watchdog', ['WATCHDOG=1']), ms);
      this.watchdog.unref();
      this.notifier.send('watchdog', ['WATCHDOG=1']);
    }
  }

  /** SIGHUP: reload everything; with notifications, RELOADING=1 now and READY=1 when the reload has ended. */
  reload(daemon: NotifiedDaemon): void {
    if (this.stopped) return;
    const notifier = this.notifier;
    if (!notifier || !this.ready) {
      daemon.reloadAll('signal');
      return;
    }
    this.reloads += 1;
    notifier.send('state', ['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`, 'STATUS=reloading (SIGHUP)']);
    daemon.host
      .reload(undefined, 'signal')
      .catch((err: unknown) => {
        if (!(err instanceof ShutdownError)) this.logger.error({ unit: 'all', trigger: 'signal', err: errorMessage(err) }, 'queued reload failed');
      })
      .finally(() => {
        this.reloads -= 1;
        if (this.reloads === 0 && !this.stopped) notifier.send('state', ['READY=1', `STATUS=${statusSummary(daemon.host)}`]);
      });
  }

  /** The daemon could not start: say why in STATUS= (systemd shows it beside the failure). */
  failed(reason: string): void {
    this.notifier?.send('status', [`STATUS=cannot start: ${oneLine(reason)}`]);
  }

  /** Shutdown begins: STOPPING=1; no more pings or statuses. */
  stopping(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.stopTimers();
    this.notifier?.send('state', ['STOPPING=1', 'STATUS=stopping']);
  }

  /** Waits (at most `timeoutMs`) until the queued notifications are handed over. */
  async close(timeoutMs = 6000): Promise<void> {
    this.stopTimers();
    if (this.notifier && !(await this.notifier.flush(timeoutMs))) {
      this.logger.warn({ notify_socket: this.notifier.socket }, 'service manager notifications still queued at exit');
    }
  }

  private stopTimers(): void {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.offResult?.();
    this.offResult = null;
  }
}
