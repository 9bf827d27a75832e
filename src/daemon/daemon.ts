// `reloadkit run` (SPEC §3): the daemon's own config is the unit `reloadkit`,
// each target is a unit; watchers, the admin socket, metrics and HTTP around
// them; SIGHUP reloads everything; shutdown in SPEC §3's order.
import { readFile } from 'node:fs/promises';
import type { AdminHost, AdminUnitView, Readiness } from '../admin/host.js';
import type { AdminHttpHandle } from '../admin/http.js';
import type { ReloadMetrics } from '../admin/metrics.js';
import { startAdminSocket, type AdminSocketHandle } from '../admin/socket.js';
import { errorMessage, ReloadkitError, ShutdownError, UnknownUnitError } from '../engine/errors.js';
import { deepEqual } from '../engine/snapshot.js';
import { Unit } from '../engine/unit.js';
import type { Watcher, WatchTrigger } from '../triggers/watch.js';
import { OK_STATUSES, type Hook, type Logger, type ReloadResult, type Trigger, type WatchSpec } from '../types.js';
import { DAEMON_RESTART_PATHS, DAEMON_UNIT, type ConfigOverrides, type DaemonConfig, type LogLevel, type TargetDef } from './config.js';
import { ownConfigSource } from './own-config.js';
import { StateStore } from './state.js';
import { Target } from './target.js';
import { watchSpecsFor } from './target-source.js';
import { ownConfigVerifier } from '../integrity/daemon-signatures.js';
import { waitForChildren } from './targets/child.js';
import type { FleetAgent } from '../fleet/agent.js';

/** The subset of a pino logger the daemon uses: levels plus a settable `level`. */
export interface DaemonLogger extends Logger {
  level: string;
}

export interface DaemonOptions {
  /** The YAML config file; null runs the built-in `--nginx` config. */
  configPath: string | null;
  /** Flags and environment variables; they win over the file. */
  overrides?: ConfigOverrides;
  /** `--http-allow-remote`. */
  httpAllowRemote?: boolean;
  logger: DaemonLogger;
  /** Called once the admin socket is up (or known to be unavailable): the CLI finishes loading its logger then. */
  onAdminReady?: () => void;
  /**
   * A stop requested during start (SIGTERM/SIGINT before start() returned).
   * Aborting it stops accepting admin connections at once and stops loading
   * targets (the one being hashed gives up mid-walk); start() then runs the
   * normal shutdown on what did start and resolves with the stopped daemon
   * (`startAborted`): a requested stop, not a start failure.
   */
  signal?: AbortSignal;
}

/** Thrown when the daemon cannot start; the message is for the operator. */
export class DaemonStartError extends ReloadkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DAEMON_START', message, options);
    this.name = 'DaemonStartError';
  }
}

interface WatchTimingsMs {
  debounceMs: number;
  maxWaitMs: number;
  rescanMs: number;
}

export class Daemon {
  readonly startedAt = Date.now();
  private readonly opts: DaemonOptions;
  private readonly logger: DaemonLogger;
  private self!: Unit<DaemonConfig>;
  private readonly targets = new Map<string, Target>();
  private readonly watchers = new Map<string, Watcher>();
  private state!: StateStore;
  private socket: AdminSocketHandle | null = null;
  private http: AdminHttpHandle | null = null;
  private metrics: ReloadMetrics | null = null;
  private fleet: FleetAgent | null = null;
  private closing: Promise<void> | null = null;
  /** A stop was requested during start (DaemonOptions.signal). */
  private aborted = false;
  private keepAlive: NodeJS.Timeout | null = null;
  private markTargetsReady!: () => void;
  /** Resolves once the targets of the initial config are loaded (the socket is up before). */
  private readonly targetsReady = new Promise<void>((resolve) => {
    this.markTargetsReady = resolve;
  });
  /** Serializes changes to the target set and the watchers. */
  private reconciling: Promise<unknown> = Promise.resolve();
  readonly host: AdminHost;

  private constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    const units = (): AdminUnitView[] => [this.self, ...[...this.targets.values()].map((t) => t.unit)];
    this.host = {
      startedAt: this.startedAt,
      targetCount: () => this.targets.size,
      units,
      reload: (unit, trigger) => this.reload(unit, trigger),
      enqueue: (unit, trigger) => this.enqueue(unit, trigger),
      ready: () => this.readiness(),
      fleet: () => this.fleet?.summary() ?? null,
      fleetStatus: () => this.fleet?.status() ?? null,
    };
  }

  /**
   * Loads the config and starts everything; rejects with DaemonStartError
   * (nothing left running). When `opts.signal` aborts first, resolves once
   * the partly started daemon is shut down (SPEC §3 order; `startAborted`).
   */
  static async start(opts: DaemonOptions): Promise<Daemon> {
    const d = new Daemon(opts);
    const onAbort = () => d.abortStart();
    if (opts.signal?.aborted) d.abortStart();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await d.init();
    } catch (err) {
      // After an abort, errors are the abort's own (a load cut short): the stop was asked for.
      if (!d.aborted) {
        await d.shutdown().catch(() => {});
        if (err instanceof DaemonStartError) throw err;
        throw new DaemonStartError(errorMessage(err), { cause: err });
      }
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    if (d.aborted) await d.shutdown();
    return d;
  }

  /** True when a stop requested during start cut it short (the daemon is then shut down). */
  get startAborted(): boolean {
    return this.aborted;
  }

  /**
   * A stop during start: stop accepting admin connections now (SPEC §3's
   * first step; the socket opens before the targets load), and abort the
   * loads in flight. init() stops at its next step; start() shuts down.
   */
  private abortStart(): void {
    if (this.aborted || this.closing) return;
    this.aborted = true;
    const loaded = [...this.targets.values()].filter((t) => t.unit.started).length;
    this.logger.info(
      { unit: DAEMON_UNIT, targets_loaded: loaded, targets: this.self?.started ? Object.keys(this.config.targets).length : null },
      'stop requested during start; shutting down',
    );
    void this.socket?.stopAccepting().catch(() => {});
    this.self?.abortStart();
    for (const t of this.targets.values()) t.abortStart();
  }

  /** init()'s check between steps: throws once a stop was requested during start. */
  private checkAborted(): void {
    if (this.aborted) throw new ShutdownError();
  }

  get config(): DaemonConfig {
    return this.self.current().config;
  }

  /** The own config file, and its `.sig` when the daemon started with a signature key. */
  private ownWatchSpecs(path: string): WatchSpec[] {
    return this.self.bootSnapshot()?.config.signature ? [{ path }, { path: `${path}.sig` }] : [{ path }];
  }

  /** Address HTTP is bound to (with the real port), or null. */
  get httpAddress(): string | null {
    return this.http?.address ?? null;
  }

  get socketPath(): string | null {
    return this.socket?.listening ? this.socket.path : null;
  }

  private timings(c: DaemonConfig): WatchTimingsMs {
    return { debounceMs: c.watch.debounce_ms, maxWaitMs: c.watch.max_wait_ms, rescanMs: c.watch.rescan_ms };
  }

  private async init(): Promise<void> {
    const hooks: Hook<DaemonConfig>[] = [
      {
        name: 'log_level',
        apply: (_ctx, old, next) => {
          if (old.log_level === next.log_level && this.logger.level === next.log_level) return 'skipped';
          this.logger.level = next.log_level;
          return 'applied';
        },
      },
      {
        name: 'targets',
        apply: async (_ctx, old, next) => ((await this.reconcile(old, next)) ? 'applied' : 'skipped'),
      },
    ];
    this.self = new Unit<DaemonConfig>({
      name: DAEMON_UNIT,
      source: ownConfigSource(this.opts.configPath, this.opts.overrides ?? {}),
      hooks,
      restartRequired: { paths: DAEMON_RESTART_PATHS, policy: 'warn' },
      logger: this.logger,
      // `signature.public_key` (SPEC §8): read from the file at start, then the boot key stays (restart-required).
      verify: ownConfigVerifier(() => (this.self?.started ? this.self.bootSnapshot()?.config.signature?.public_key : null)),
    });
    try {
      await this.self.start();
    } catch (err) {
      // The load error already names the file and every problem with its line.
      const msg = errorMessage(err).replace(/^reloadkit: cannot load [^:]+: /, '');
      throw new DaemonStartError(msg, { cause: err });
    }
    this.checkAborted();
    const config = this.config;
    this.logger.level = config.log_level;
    this.state = new StateStore(config.state_dir);
    const token = await this.readToken(config);
    this.checkAborted();

    // Admin socket first: it is what `reloadkit reload` and systemd talk to.
    // Requests that need the targets wait until they are loaded (`targetsReady`).
    if (config.admin.socket !== '') {
      this.socket = await startAdminSocket({
        path: config.admin.socket,
        mode: config.admin.socket_mode,
        ...(config.admin.socket_group === undefined ? {} : { group: config.admin.socket_group }),
        maxConnections: config.admin.max_connections,
        host: this.host,
        logger: this.logger,
      });
      // Aborted while it opened: stop accepting now, as abortStart() would have.
      if (this.aborted) void this.socket.stopAccepting().catch(() => {});
    }
    this.opts.onAdminReady?.();

    // Targets: load their content now; passes wait until they can be reported.
    // A stop requested meanwhile ends the loading (the target being hashed gives up at once).
    const decisions = new Map<string, string>();
    try {
      for (const [name, def] of Object.entries(config.targets)) {
        this.checkAborted();
        const t = new Target(name, def, { logger: this.logger, state: this.state });
        this.targets.set(name, t);
        decisions.set(name, await t.start());
      }
      this.checkAborted();
    } finally {
      this.markTargetsReady();
    }

    if (config.admin.http !== '') {
      const [{ createReloadMetrics }, { startAdminHttp }] = await Promise.all([import('../admin/metrics.js'), import('../admin/http.js')]);
      this.metrics = await createReloadMetrics();
      this.metrics.attachUnit(this.self);
      for (const t of this.targets.values()) this.metrics.attachUnit(t.unit);
      this.http = await startAdminHttp({
        address: config.admin.http,
        allowRemote: this.opts.httpAllowRemote ?? false,
        reloadEnabled: config.admin.http_reload,
        ...(token === undefined ? {} : { token }),
        host: this.host,
        metrics: this.metrics,
        logger: this.logger,
      });
    }
    if (!this.socket?.listening && !this.http) {
      // Nothing else holds the event loop open (watchers do not).
      this.keepAlive = setInterval(() => {}, 1 << 30);
    }

    this.checkAborted();
    const timings = this.timings(config);
    if (this.opts.configPath !== null) await this.startWatcher(DAEMON_UNIT, this.ownWatchSpecs(this.opts.configPath), this.self, timings);
    for (const t of this.targets.values()) {
      this.checkAborted();
      await this.startTargetWatcher(t, timings);
    }
    this.checkAborted();
    if (config.fleet) this.fleet = await (await import('../fleet/daemon.js')).startFleetAgent(config, this.targets, this.logger, this.metrics?.registry);

    for (const [name, decision] of decisions) {
      if (decision === 'reload') this.targets.get(name)!.unit.enqueue('start');
    }
    this.logger.info(
      {
        unit: DAEMON_UNIT,
        config: this.opts.configPath ?? '--nginx',
        socket: this.socketPath ?? '',
        http: this.httpAddress ?? '',
        targets: Object.fromEntries(decisions),
      },
      'reloadkit started',
    );
  }

  private async readToken(config: DaemonConfig): Promise<string | undefined> {
    const file = config.admin.token_file;
    if (file === undefined || config.admin.http === '') return undefined;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new DaemonStartError(`admin.token_file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
    }
    const token = text.trim();
    if (token === '') throw new DaemonStartError(`admin.token_file ${file} is empty`);
    return token;
  }

  // ---- watchers ---------------------------------------------------------

  private async startWatcher(key: string, specs: WatchSpec[], unit: { enqueue(trigger: Trigger): void }, timings: WatchTimingsMs): Promise<void> {
    if (specs.length === 0 || this.closing || this.aborted) return;
    const { createWatcher } = await import('../triggers/watch.js');
    try {
      const w = await createWatcher(specs, {
        ...timings,
        logger: this.logger,
        onChange: (trigger: WatchTrigger, paths: string[]) => {
          this.logger.debug({ unit: key, trigger, paths }, 'watched files changed');
          unit.enqueue(trigger);
        },
        onEvent: () => this.metrics?.watchEvent(),
        onError: (err: Error) => {
          this.metrics?.watchError();
          this.logger.warn({ unit: key, err: errorMessage(err) }, 'watch error; polling instead');
        },
      });
      if (this.closing || this.aborted) {
        await w.close();
        return;
      }
      this.watchers.set(key, w);
    } catch (err) {
      this.logger.error({ unit: key, err: errorMessage(err) }, 'cannot watch; reloads of this unit need a signal or the admin socket');
    }
  }

  private async startTargetWatcher(t: Target, timings: WatchTimingsMs): Promise<void> {
    await this.startWatcher(t.name, await watchSpecsFor(t.definition.watch, { signatures: t.definition.signature !== undefined }), t.unit, timings);
    await t.recheck().catch(() => {});
  }

  private async stopWatcher(key: string): Promise<void> {
    const w = this.watchers.get(key);
    this.watchers.delete(key);
    await w?.close();
  }

  // ---- the target set follows the daemon config ---------------------------

  /** Applies a new config's targets and watch timings; true when anything changed. */
  private reconcile(old: DaemonConfig, next: DaemonConfig): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      let changed = false;
      const timingsChanged = !deepEqual(old.watch, next.watch);
      const timings = this.timings(next);
      for (const [name, t] of [...this.targets]) {
        if (Object.hasOwn(next.targets, name)) continue;
        changed = true;
        this.targets.delete(name);
        await this.stopWatcher(name);
        await t.close();
        this.metrics?.detachUnit(name);
        this.logger.debug({ unit: DAEMON_UNIT, target: name }, 'target removed');
      }
      for (const [name, def] of Object.entries(next.targets)) {
        const existing = this.targets.get(name);
        if (existing) {
          if (deepEqual(existing.definition, def)) continue;
          changed = true;
          const watchChanged = !deepEqual(existing.definition.watch, def.watch);
          existing.setDefinition(def as TargetDef);
          if (watchChanged && !timingsChanged) {
            await this.stopWatcher(name);
            await this.startTargetWatcher(existing, timings);
          }
          this.logger.debug({ unit: DAEMON_UNIT, target: name }, 'target changed');
          continue;
        }
        if (this.closing) break;
        changed = true;
        const t = new Target(name, def as TargetDef, { logger: this.logger, state: this.state });
        this.targets.set(name, t);
        const decision = await t.start();
        this.metrics?.attachUnit(t.unit);
        if (!timingsChanged) await this.startTargetWatcher(t, timings);
        if (decision === 'reload') t.unit.enqueue('start');
        this.logger.debug({ unit: DAEMON_UNIT, target: name, decision }, 'target added');
      }
      if (timingsChanged) {
        changed = true;
        for (const key of [...this.watchers.keys()]) await this.stopWatcher(key);
        if (this.opts.configPath !== null) await this.startWatcher(DAEMON_UNIT, this.ownWatchSpecs(this.opts.configPath), this.self, timings);
        for (const t of this.targets.values()) await this.startTargetWatcher(t, timings);
      }
      return changed;
    };
    const p = this.reconciling.then(run, run);
    this.reconciling = p.catch(() => {});
    return p;
  }

  // ---- admin host ---------------------------------------------------------

  private async reload(unit: string | undefined, trigger: Trigger): Promise<Record<string, ReloadResult>> {
    if (this.closing) throw new ShutdownError();
    await this.targetsReady;
    // A stop during start releases the waiters too: they get the shutdown error, no pass.
    if (this.closing || this.aborted) throw new ShutdownError();
    if (unit === DAEMON_UNIT) return { [DAEMON_UNIT]: await this.self.reload(trigger) };
    if (unit !== undefined) {
      const t = this.targets.get(unit);
      if (!t) throw new UnknownUnitError(unit);
      return { [unit]: await t.reload(trigger) };
    }
    // Everything: the daemon's own config first (it may change the target set), then every target in parallel.
    const results: Record<string, ReloadResult> = { [DAEMON_UNIT]: await this.self.reload(trigger) };
    const targets = [...this.targets.values()];
    const settled = await Promise.allSettled(targets.map((t) => t.reload(trigger)));
    settled.forEach((s, i) => {
      if (s.status === 'fulfilled') results[s.value.unit] = s.value;
      else if (this.closing || !(s.reason instanceof ShutdownError)) throw s.reason;
      // else: the target was removed meanwhile; it has no result.
      void i;
    });
    if (this.closing) throw new ShutdownError();
    return results;
  }

  private enqueue(unit: string | undefined, trigger: Trigger): void {
    if (this.closing) throw new ShutdownError();
    // The config names the targets even while they are still loading at start.
    if (unit !== undefined && unit !== DAEMON_UNIT && !this.targets.has(unit) && !Object.hasOwn(this.config.targets, unit)) {
      throw new UnknownUnitError(unit);
    }
    this.reload(unit, trigger).catch((err: unknown) => {
      if (!(err instanceof ShutdownError)) this.logger.error({ unit: unit ?? 'all', trigger, err: errorMessage(err) }, 'queued reload failed');
    });
  }

  /** SIGHUP does what `reload` does (SPEC §8); the results are in the pass log lines. */
  reloadAll(trigger: Trigger): void {
    if (this.closing) return;
    this.enqueue(undefined, trigger);
  }

  private readiness(): Readiness {
    const reasons: string[] = [];
    if (this.closing) reasons.push('shutting down');
    for (const u of [this.self, ...[...this.targets.values()].map((t) => t.unit)]) {
      const last = u.lastResult();
      if (last && !OK_STATUSES.has(last.status)) reasons.push(`${u.name}: last reload ${last.status}${last.error ? `: ${last.error}` : ''}`);
    }
    for (const [key, w] of this.watchers) {
      const h = w.health();
      if (!h.ok) reasons.push(`${key}: watch: ${h.reason ?? 'not working'}`);
    }
    return { ok: reasons.length === 0, reasons };
  }

  // ---- shutdown -----------------------------------------------------------

  /**
   * SPEC §3 order: stop accepting admin connections, stop watchers, abort
   * running passes (their children are killed), answer pending waiters with
   * a shutdown error, close HTTP last; the socket file is removed. Safe to
   * call twice; resolves when everything is down.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
        try {
          await fn();
        } catch (err) {
          this.logger.error({ unit: DAEMON_UNIT, err: errorMessage(err) }, `shutdown: ${what} failed`);
        }
      };
      await step('stop accepting admin connections', () => this.socket?.stopAccepting());
      await step('stop watchers', () => Promise.all([...this.watchers.keys()].map((k) => this.stopWatcher(k))));
      await step('leave the fleet', () => this.fleet?.close());
      await step('abort running passes', async () => {
        // The daemon's own unit first: a target-set change in flight finishes before targets close.
        await this.self?.close();
        await this.reconciling;
        await Promise.all([...this.targets.values()].map((t) => t.close()));
        await Promise.all([...this.watchers.keys()].map((k) => this.stopWatcher(k)));
        await waitForChildren();
      });
      await step('close the admin socket', () => this.socket?.close());
      await step('close HTTP', () => this.http?.close());
      if (this.keepAlive) clearInterval(this.keepAlive);
      this.logger.info({ unit: DAEMON_UNIT }, 'reloadkit stopped');
    })();
    return this.closing;
  }

  get isClosing(): boolean {
    return this.closing !== null;
  }

  /** For tests and status: the target names. */
  targetNames(): string[] {
    return [...this.targets.keys()];
  }

  /** Log level in effect (after live reloads). */
  get logLevel(): LogLevel {
    return this.logger.level as LogLevel;
  }
}
