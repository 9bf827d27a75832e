// `reloadkit run`: the daemon's own config is the unit `reloadkit`, each
// target is a unit, all served by the runtime the library uses too
// (watchers, admin socket, metrics, HTTP); SIGHUP reloads everything;
// shutdown stops admin connections, watchers, passes, then HTTP.
import type { Registry } from 'prom-client';
import { readFile } from 'node:fs/promises';
import type { AdminHost } from '../admin/host.js';
import { deepEqual } from '../engine/snapshot.js';
import { Unit } from '../engine/unit.js';
import { Runtime } from '../runtime/runtime.js';
import { defaultSocketPath } from '../shared/defaults.js';
import { DaemonStartError, errorMessage, LoadError, ShutdownError } from '../shared/errors.js';
import type { Hook, Logger, ReloadResult, Trigger, WatchSpec } from '../shared/types.js';
import { DAEMON_RESTART_PATHS, DAEMON_UNIT, type ConfigOverrides, type DaemonConfig, type TargetDef } from './config.js';
import { daemonConfigOf, ownConfigSource, type OwnConfig } from './own-config.js';
import { StateStore } from './state.js';
import { lockStateDir, type StateLock } from './state-lock.js';
import { START_PASS_DECISIONS, Target, type StartDecision } from './target.js';
import { watchKey } from './target-watch.js';
import { ownConfigVerifier } from './own-signature.js';
import { waitForChildren } from './targets/child.js';
import type { FleetAgent } from '../fleet/agent.js';
import type { ListenFds } from './activation.js';

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
  /** Sockets passed by the service manager (socket activation): served instead of admin.socket / admin.http. */
  listenFds?: ListenFds;
}

interface WatchTimingsMs {
  debounceMs: number;
  maxWaitMs: number;
  rescanMs: number;
}

export class Daemon {
  private readonly opts: DaemonOptions;
  private readonly logger: DaemonLogger;
  private self!: Unit<OwnConfig>;
  private readonly targets = new Map<string, Target>();
  private state!: StateStore;
  private stateLock: StateLock | null = null;
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
  private readonly runtime: Runtime;
  /** The fleet agent, with `fleet:` in the config (etcd's client loads only then). */
  private fleet: FleetAgent | null = null;

  private constructor(opts: DaemonOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    this.runtime = new Runtime({
      logger: this.logger,
      targetCount: () => this.targets.size,
      // Everything: the daemon's own config first (it may change the target set), then every target in parallel.
      first: [DAEMON_UNIT],
      loaded: async () => {
        await this.targetsReady;
        if (this.aborted) throw new ShutdownError();
      },
      // The config names the targets even while they are still loading at start.
      willExist: (name) => this.self?.started === true && Object.hasOwn(this.config.targets, name),
      fleet: () => this.fleet,
    });
  }

  /** What the admin socket and HTTP serve. */
  get host(): AdminHost {
    return this.runtime;
  }

  get startedAt(): number {
    return this.runtime.startedAt;
  }

  /**
   * Loads the config and starts everything; rejects with DaemonStartError
   * (nothing left running). When `opts.signal` aborts first, resolves once
   * the partly started daemon is shut down (`startAborted`).
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
   * A stop during start: stop accepting admin connections now (the socket
   * opens before the targets load), and abort the loads in flight. init()
   * stops at its next step; start() shuts down.
   */
  private abortStart(): void {
    if (this.aborted || this.closing) return;
    this.aborted = true;
    const loaded = [...this.targets.values()].filter((t) => t.unit.started).length;
    this.logger.info(
      { unit: DAEMON_UNIT, targets_loaded: loaded, targets: this.self?.started ? Object.keys(this.config.targets).length : null },
      'stop requested during start; shutting down',
    );
    this.runtime.stopAccepting();
    this.self?.abortStart();
    for (const t of this.targets.values()) t.abortStart();
  }

  /** init()'s check between steps: throws once a stop was requested during start. */
  private checkAborted(): void {
    if (this.aborted) throw new ShutdownError();
  }

  get config(): DaemonConfig {
    return daemonConfigOf(this.self.current().config);
  }

  /** The own config file, and its `.sig` when the daemon started with a signature key. */
  private ownWatchSpecs(path: string): WatchSpec[] {
    const boot = this.self.bootSnapshot();
    return boot && daemonConfigOf(boot.config).signature ? [{ path }, { path: `${path}.sig` }] : [{ path }];
  }

  /** Address HTTP is bound to (with the real port), or null. */
  get httpAddress(): string | null {
    return this.runtime.httpAddress;
  }

  get socketPath(): string | null {
    return this.runtime.socketPath;
  }

  private timings(c: DaemonConfig): WatchTimingsMs {
    return { debounceMs: c.watch.debounce_ms, maxWaitMs: c.watch.max_wait_ms, rescanMs: c.watch.rescan_ms };
  }

  private ownHooks(): Hook<OwnConfig>[] {
    return [
      {
        name: 'log_level',
        args: 'next-prev',
        apply: (nextOwn, oldOwn) => {
          const [old, next] = [daemonConfigOf(oldOwn), daemonConfigOf(nextOwn)];
          if (old.log_level === next.log_level && this.logger.level === next.log_level) return 'skipped';
          this.logger.level = next.log_level;
          return 'applied';
        },
      },
      {
        name: 'targets',
        args: 'next-prev',
        apply: async (next, old) => ((await this.reconcile(daemonConfigOf(old), daemonConfigOf(next))) ? 'applied' : 'skipped'),
      },
    ];
  }

  /** The daemon's own config as a unit; a file that cannot be loaded ends the start with its problems. */
  private async loadOwnConfig(): Promise<DaemonConfig> {
    this.self = new Unit<OwnConfig>({
      name: DAEMON_UNIT,
      source: ownConfigSource(this.opts.configPath, this.opts.overrides ?? {}),
      hooks: this.ownHooks(),
      restartRequired: { paths: DAEMON_RESTART_PATHS, policy: 'warn' },
      logger: this.logger,
      // `signature.public_key`: read from the file at start, then the boot key stays (restart-required).
      verify: ownConfigVerifier(() => {
        const boot = this.self?.started ? this.self.bootSnapshot() : null;
        return boot ? daemonConfigOf(boot.config).signature?.public_key : null;
      }),
    });
    try {
      await this.self.start();
    } catch (err) {
      // The load error already names the file and every problem with its line.
      throw new DaemonStartError(err instanceof LoadError ? err.detail : errorMessage(err), { cause: err });
    }
    this.runtime.add({ unit: this.self as Unit<unknown> });
    return this.config;
  }

  private async init(): Promise<void> {
    const config = await this.loadOwnConfig();
    this.checkAborted();
    this.logger.level = config.log_level;
    // Before the socket: a second daemon on the same state stops here, naming the first one.
    this.stateLock = await lockStateDir(config.state_dir, this.logger);
    this.checkAborted();
    this.state = new StateStore(config.state_dir);
    const token = await this.readToken(config);
    this.checkAborted();

    // Admin socket first: it is what `reloadkit reload` and systemd talk to.
    // Requests that need the targets wait until they are loaded (`targetsReady`).
    const passed = this.opts.listenFds ?? {};
    if (config.admin.socket !== '' || passed.admin !== undefined) {
      await this.runtime.startSocket({
        ...(passed.admin === undefined ? {} : { fd: passed.admin }),
        path: config.admin.socket,
        mode: config.admin.socket_mode,
        ...(config.admin.socket_group === undefined ? {} : { group: config.admin.socket_group }),
        maxConnections: config.admin.max_connections,
        // The built-in default location's directory is ours to create; an operator's path never gets its parent created.
        createDirectory: config.admin.socket === defaultSocketPath(),
      });
      // Aborted while it opened: stop accepting now, as abortStart() would have.
      if (this.aborted) this.runtime.stopAccepting();
    }
    this.opts.onAdminReady?.();

    const decisions = await this.loadTargets(config);
    if (config.admin.http !== '' || passed.http !== undefined) {
      await this.runtime.startHttp({
        ...(passed.http === undefined ? {} : { fd: passed.http }),
        address: config.admin.http,
        allowRemote: this.opts.httpAllowRemote ?? false,
        reload: config.admin.http_reload,
        ...(token === undefined ? {} : { token }),
        maxConnections: config.admin.http_max_connections,
        headersTimeoutMs: config.admin.http_headers_timeout_ms,
        requestTimeoutMs: config.admin.http_request_timeout_ms,
        maxEventClients: config.admin.http_max_event_clients,
      });
    }
    // Nothing else holds the event loop open (watchers do not).
    if (this.runtime.socketPath === null && this.runtime.httpAddress === null) this.keepAlive = setInterval(() => {}, 1 << 30);

    this.checkAborted();
    await this.startWatchers(config);
    this.checkAborted();
    if (config.fleet) {
      this.fleet = await (await import('./fleet.js')).startFleetAgent(config, this.targets, this.logger, this.runtime.registry as Registry | undefined);
      this.runtime.fleetStarted();
    }
    for (const [name, decision] of decisions) {
      if (START_PASS_DECISIONS.has(decision)) this.targets.get(name)!.unit.enqueue('start');
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

  /**
   * Loads every target's content; passes wait until they can be reported. A
   * stop requested meanwhile ends the loading (the target being hashed gives up at once).
   */
  private async loadTargets(config: DaemonConfig): Promise<Map<string, StartDecision>> {
    const decisions = new Map<string, StartDecision>();
    try {
      for (const [name, def] of Object.entries(config.targets)) {
        this.checkAborted();
        const t = this.newTarget(name, def);
        this.targets.set(name, t);
        this.runtime.add({ unit: t.unit as Unit<unknown> });
        decisions.set(name, await t.start());
      }
      this.checkAborted();
    } finally {
      this.markTargetsReady();
    }
    return decisions;
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

  private async startWatchers(config: DaemonConfig): Promise<void> {
    const timings = this.timings(config);
    if (this.opts.configPath !== null) await this.watchUnit(DAEMON_UNIT, this.ownWatchSpecs(this.opts.configPath), timings);
    for (const t of this.targets.values()) {
      this.checkAborted();
      await this.watchTarget(t, timings);
    }
  }

  /** A unit that cannot be watched still reloads by signal or the admin socket: logged, not fatal. */
  private async watchUnit(name: string, specs: WatchSpec[], timings: WatchTimingsMs): Promise<void> {
    if (specs.length === 0 || this.closing || this.aborted) return;
    try {
      await this.runtime.watch(name, specs, timings);
    } catch (err) {
      this.logger.error({ unit: name, err: errorMessage(err) }, 'cannot watch; reloads of this unit need a signal or the admin socket');
    }
  }

  private async watchTarget(t: Target, timings: WatchTimingsMs): Promise<void> {
    await this.watchUnit(t.name, await t.watchSpecs(), timings);
  }

  /** What a target watches changed on its own (an nginx include added): its watcher follows, in line with the other watcher changes. */
  private rewatch(t: Target): void {
    const run = async () => {
      // Not watched yet (still starting) or gone: startWatchers/removal take care of it.
      if (this.closing || this.aborted || this.targets.get(t.name) !== t || !this.runtime.watchedUnits().includes(t.name)) return;
      await this.watchTarget(t, this.timings(this.config));
    };
    const p = this.reconciling.then(run, run);
    this.reconciling = p.catch(() => {});
  }

  private newTarget(name: string, def: TargetDef): Target {
    return new Target(name, def, { logger: this.logger, state: this.state, onWatchChange: (t) => this.rewatch(t) });
  }

  // ---- the target set follows the daemon config ---------------------------

  /** Applies a new config's targets and watch timings; true when anything changed. */
  private reconcile(old: DaemonConfig, next: DaemonConfig): Promise<boolean> {
    const run = async (): Promise<boolean> => {
      const timingsChanged = !deepEqual(old.watch, next.watch);
      const timings = this.timings(next);
      let changed = await this.removeTargets(next);
      for (const [name, def] of Object.entries(next.targets)) {
        if (this.closing) break;
        const existing = this.targets.get(name);
        if (existing && deepEqual(existing.definition, def)) continue;
        changed = true;
        if (existing) await this.changeTarget(existing, def as TargetDef, timingsChanged ? null : timings);
        else await this.addTarget(name, def as TargetDef, timingsChanged ? null : timings);
      }
      if (timingsChanged) {
        changed = true;
        for (const key of this.runtime.watchedUnits()) await this.runtime.unwatch(key);
        await this.startWatchers(next);
      }
      return changed;
    };
    const p = this.reconciling.then(run, run);
    this.reconciling = p.catch(() => {});
    return p;
  }

  private async removeTargets(next: DaemonConfig): Promise<boolean> {
    let changed = false;
    for (const [name, t] of [...this.targets]) {
      if (Object.hasOwn(next.targets, name)) continue;
      changed = true;
      this.targets.delete(name);
      await this.runtime.remove(name);
      await t.close();
      this.logger.debug({ unit: DAEMON_UNIT, target: name }, 'target removed');
    }
    return changed;
  }

  /** `timings` null: every watcher restarts afterwards anyway (the timings changed). */
  private async changeTarget(t: Target, def: TargetDef, timings: WatchTimingsMs | null): Promise<void> {
    const watchChanged = watchKey(t.definition) !== watchKey(def);
    t.setDefinition(def);
    if (watchChanged && timings) await this.watchTarget(t, timings);
    this.logger.debug({ unit: DAEMON_UNIT, target: t.name }, 'target changed');
  }

  private async addTarget(name: string, def: TargetDef, timings: WatchTimingsMs | null): Promise<void> {
    const t = this.newTarget(name, def);
    this.targets.set(name, t);
    const decision = await t.start();
    this.runtime.add({ unit: t.unit as Unit<unknown> });
    if (timings) await this.watchTarget(t, timings);
    if (START_PASS_DECISIONS.has(decision)) t.unit.enqueue('start');
    this.logger.debug({ unit: DAEMON_UNIT, target: name, decision }, 'target added');
  }

  // ---- requests -----------------------------------------------------------

  /** Calls `listener` after every pass of every unit (the service manager's STATUS=). */
  onResult(listener: (r: ReloadResult) => void): () => void {
    return this.runtime.onResult(listener);
  }

  /** SIGHUP does what `reload` does; the results are in the pass log lines. */
  reloadAll(trigger: Trigger): void {
    if (this.closing) return;
    this.runtime.enqueue(undefined, trigger);
  }

  // ---- shutdown -----------------------------------------------------------

  /**
   * Stop accepting admin connections, stop watchers, abort running passes
   * (their children are killed), answer pending waiters with a shutdown
   * error, close HTTP last; the socket file is removed. Safe to call twice;
   * resolves when everything is down.
   */
  shutdown(): Promise<void> {
    this.closing ??= (async () => {
      await this.runtime.close(async () => {
        // Leave the fleet first: no revision is applied to a target that is closing.
        await this.fleet
          ?.close()
          .catch((err: unknown) => this.logger.error({ unit: DAEMON_UNIT, err: errorMessage(err) }, 'shutdown: leaving the fleet failed'));
        // The daemon's own unit first: a target-set change in flight finishes before targets close.
        await this.self?.close();
        await this.reconciling;
        await Promise.all([...this.targets.values()].map((t) => t.close()));
        await waitForChildren();
      });
      if (this.keepAlive) clearInterval(this.keepAlive);
      // Last: every state write is done.
      await this.stateLock?.release();
      this.logger.info({ unit: DAEMON_UNIT }, 'reloadkit stopped');
    })();
    return this.closing;
  }
}
