// The one wiring of "units + triggers + admin" that the library's
// createReloader (one unit) and the daemon (its own config and every target)
// are both built from: the admin host the socket and HTTP serve, readiness,
// watchers per unit, and shutdown in its documented order.
import type { AdminHost, AdminUnitView, Readiness, ReadinessOptions, WatcherHealth } from '../admin/host.js';
import type { RolloutCommand, RolloutCommandOutcome } from '../shared/fleet-commands.js';
import type { AdminHttpHandle } from '../admin/http.js';
import type { ObservableUnit, ReloadMetrics } from '../admin/metrics.js';
import type { AdminSocketHandle } from '../admin/socket.js';
import type { Unit } from '../engine/unit.js';
import { errorMessage, ShutdownError, UnknownUnitError } from '../shared/errors.js';
import { OK_STATUSES, type Logger, type MetricsRegistry, type ReloadResult, type Trigger, type WatchSpec } from '../shared/types.js';
import type { HttpTriggerOptions, SocketTriggerOptions, TriggerHandle, WatchTriggerOptions } from './options.js';
import { DeferredWatchCounters, startWatchTrigger, type StartWatchOptions, type WatchTriggerHandle } from './watch.js';

/** A unit the runtime serves, with what its admin views need beyond the engine's Unit. */
export interface RuntimeUnit {
  readonly unit: Unit<unknown>;
  /** Metrics and readiness: the state of its last-known-good writes, when it has them. */
  persistStatus?(): { failures: number; lastError: string | null } | null;
}

export interface RuntimeOptions {
  logger: Logger;
  /** `status.targets`: the daemon's targets, or 1 in the library. */
  targetCount(): number;
  /** Units a reload of everything runs first, in order (the daemon's own config); the rest then run in parallel. */
  first?: readonly string[];
  /** Reload requests wait for this; it rejects (a ShutdownError) when they cannot run (the daemon: its targets are loaded). */
  loaded?(): Promise<void>;
  /** Names that will exist once loaded (the daemon's targets while they load): not unknown. */
  willExist?(name: string): boolean;
  /**
   * The fleet this host takes part in (the daemon with `fleet:`), for
   * `status`, `GET /fleet`, the status page's `fleet` events and the
   * POST /fleet/* commands. Null until it starts (after the admin HTTP).
   */
  fleet?(): RuntimeFleet | null;
}

/** What the runtime needs of a fleet agent. */
interface RuntimeFleet {
  summary(): object | null;
  status(): Promise<object>;
  onStatusChange(fn: (s: object) => void): () => void;
  steer(target: string, command: RolloutCommand, who: string): Promise<RolloutCommandOutcome>;
}

/** A subscriber to the fleet's changes; `off` is set once the fleet exists. */
interface FleetWatcher {
  listener: (status: object) => void;
  off: (() => void) | null;
}

export class Runtime implements AdminHost {
  readonly startedAt = Date.now();
  private readonly opts: RuntimeOptions;
  private readonly logger: Logger;
  private readonly entries = new Map<string, RuntimeUnit>();
  /** Signal handlers and the like, stopped with the watchers. */
  private readonly triggers: TriggerHandle[] = [];
  private readonly watchers = new Map<string, WatchTriggerHandle>();
  private readonly counters = new DeferredWatchCounters();
  private socket: AdminSocketHandle | null = null;
  private http: AdminHttpHandle | null = null;
  private metrics: ReloadMetrics | null = null;
  private readonly detachMetrics = new Map<string, () => void>();
  private readonly resultListeners = new Set<(r: ReloadResult) => void>();
  private readonly detachResults = new Map<string, () => void>();
  private closing: Promise<void> | null = null;
  private readonly fleetWatchers = new Set<FleetWatcher>();

  constructor(opts: RuntimeOptions) {
    this.opts = opts;
    this.logger = opts.logger;
  }

  // ---- units ----------------------------------------------------------------

  add(entry: RuntimeUnit): void {
    this.entries.set(entry.unit.name, entry);
    this.detachResults.get(entry.unit.name)?.();
    this.detachResults.set(entry.unit.name, entry.unit.observe({ result: (r) => this.resultListeners.forEach((l) => l(r)) }));
    if (this.metrics) this.detachMetrics.set(entry.unit.name, this.metrics.attachUnit(observable(entry)));
  }

  /** Forgets a unit: its watcher stops, its metric series go. The caller closes the unit. */
  async remove(name: string): Promise<void> {
    this.entries.delete(name);
    this.detachResults.get(name)?.();
    this.detachResults.delete(name);
    await this.unwatch(name);
    this.detachMetrics.delete(name);
    this.metrics?.detachUnit(name);
  }

  get(name: string): Unit<unknown> | undefined {
    return this.entries.get(name)?.unit;
  }

  list(): Unit<unknown>[] {
    return [...this.entries.values()].map((e) => e.unit);
  }

  /** Calls `listener` with the result of every pass of every unit, present and future; returns the way to stop. */
  onResult(listener: (r: ReloadResult) => void): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  // ---- triggers ---------------------------------------------------------------

  addTrigger(handle: TriggerHandle): void {
    this.triggers.push(handle);
  }

  /** Starts (or restarts) the watcher of a unit; `recheck` runs once it watches. */
  async watch(name: string, specs: readonly WatchSpec[], timings: WatchTriggerOptions, extra: Pick<StartWatchOptions, 'watcher'> = {}): Promise<void> {
    const unit = this.get(name);
    if (!unit || this.closing) return;
    await this.unwatch(name);
    const handle = await startWatchTrigger({
      unit: name,
      specs,
      timings,
      logger: unit.logger,
      enqueue: (trigger) => unit.enqueue(trigger),
      recheck: () => unit.recheck(),
      counters: this.counters,
      ...extra,
    });
    if (this.closing || this.get(name) !== unit) {
      await handle.close();
      return;
    }
    this.watchers.set(name, handle);
  }

  async unwatch(name: string): Promise<void> {
    const w = this.watchers.get(name);
    this.watchers.delete(name);
    await w?.close();
  }

  watchedUnits(): string[] {
    return [...this.watchers.keys()];
  }

  // ---- admin surfaces -------------------------------------------------------

  /** Starts the admin socket; a path that cannot be served is logged and the runtime goes on without it. */
  async startSocket(o: SocketTriggerOptions & { createDirectory?: boolean; fd?: number }): Promise<AdminSocketHandle> {
    const { startAdminSocket } = await import('../admin/socket.js');
    this.socket = await startAdminSocket({
      path: o.path,
      ...(o.mode === undefined ? {} : { mode: o.mode }),
      ...(o.group === undefined ? {} : { group: o.group }),
      ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections }),
      ...(o.createDirectory ? { createDirectory: true } : {}),
      ...(o.fd === undefined ? {} : { fd: o.fd }),
      host: this,
      logger: this.logger,
    });
    return this.socket;
  }

  /** Creates the metrics (prom-client loads now; an OptionsError with the install command when it is missing) and counts every unit in them. */
  async startMetrics(registry?: MetricsRegistry): Promise<ReloadMetrics> {
    if (this.metrics) return this.metrics;
    const { createReloadMetrics } = await import('../admin/metrics.js');
    const metrics = await createReloadMetrics(registry === undefined ? {} : { registry });
    this.metrics = metrics;
    for (const entry of this.entries.values()) this.detachMetrics.set(entry.unit.name, metrics.attachUnit(observable(entry)));
    this.counters.attach(metrics);
    return metrics;
  }

  /** Starts HTTP on `address`, or on the passed socket `fd` (socket activation). */
  async startHttp(o: HttpTriggerOptions & { fd?: number }, registry?: MetricsRegistry): Promise<AdminHttpHandle> {
    const metrics = await this.startMetrics(registry);
    const { startAdminHttp } = await import('../admin/http.js');
    this.http = await startAdminHttp({
      address: o.address,
      allowRemote: o.allowRemote ?? false,
      reloadEnabled: o.reload ?? false,
      ...(o.token === undefined ? {} : { token: o.token }),
      ...(o.maxConnections === undefined ? {} : { maxConnections: o.maxConnections }),
      ...(o.headersTimeoutMs === undefined ? {} : { headersTimeoutMs: o.headersTimeoutMs }),
      ...(o.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: o.requestTimeoutMs }),
      ...(o.maxEventClients === undefined ? {} : { maxEventClients: o.maxEventClients }),
      ...(o.fd === undefined ? {} : { fd: o.fd }),
      host: this,
      metrics,
      logger: this.logger,
    });
    return this.http;
  }

  get socketPath(): string | null {
    return this.socket?.listening ? this.socket.path : null;
  }

  get httpAddress(): string | null {
    return this.http?.address ?? null;
  }

  /** Stops accepting admin connections now (a stop requested during start). */
  stopAccepting(): void {
    void this.socket?.stopAccepting().catch(() => {});
  }

  // ---- the admin host ---------------------------------------------------------

  targetCount(): number {
    return this.opts.targetCount();
  }

  units(): readonly AdminUnitView[] {
    return this.list();
  }

  fleet(): object | null {
    return this.opts.fleet?.()?.summary() ?? null;
  }

  fleetStatus(): Promise<object> | null {
    return this.opts.fleet?.()?.status() ?? null;
  }

  fleetEvents(listener: (status: object) => void): () => void {
    const w: FleetWatcher = { listener, off: null };
    this.fleetWatchers.add(w);
    this.attachFleet(w);
    return () => {
      this.fleetWatchers.delete(w);
      w.off?.();
      w.off = null;
    };
  }

  /** The fleet started (the daemon starts it after the admin HTTP): subscribers made before now get its changes too. */
  fleetStarted(): void {
    for (const w of this.fleetWatchers) this.attachFleet(w);
  }

  private attachFleet(w: FleetWatcher): void {
    const f = this.opts.fleet?.();
    if (f && !w.off) w.off = f.onStatusChange(w.listener);
  }

  steerFleet(target: string, command: RolloutCommand, who: string): Promise<RolloutCommandOutcome> | null {
    return this.opts.fleet?.()?.steer(target, command, who) ?? null;
  }

  /** The metrics' registry once they started (others, such as the fleet's, register there too). */
  get registry(): MetricsRegistry | undefined {
    return this.metrics?.registry;
  }

  watchHealth(name: string): WatcherHealth | null {
    return this.watchers.get(name)?.health() ?? null;
  }

  async reload(name: string | undefined, trigger: Trigger): Promise<Record<string, ReloadResult>> {
    if (this.closing) throw new ShutdownError();
    // Debug: shows that a request arrived, also while it waits for the targets to load.
    this.logger.debug({ ...(name === undefined ? {} : { unit: name }), trigger }, 'reload requested');
    await this.opts.loaded?.();
    // A stop during start releases the waiters too: they get the shutdown error, no pass.
    if (this.closing) throw new ShutdownError();
    if (name !== undefined) {
      const unit = this.get(name);
      if (!unit) throw new UnknownUnitError(name);
      return { [name]: await unit.reload(trigger) };
    }
    const results: Record<string, ReloadResult> = {};
    const first = this.opts.first ?? [];
    for (const n of first) {
      const unit = this.get(n);
      if (unit) results[n] = await unit.reload(trigger);
    }
    // The first units may have changed the set (the daemon's config adds and removes targets).
    const rest = this.list().filter((u) => !first.includes(u.name));
    const settled = await Promise.allSettled(rest.map((u) => u.reload(trigger)));
    settled.forEach((s) => {
      if (s.status === 'fulfilled') results[s.value.unit] = s.value;
      // A unit removed meanwhile answers with a shutdown error; it has no result.
      else if (this.closing || !(s.reason instanceof ShutdownError)) throw s.reason;
    });
    if (this.closing) throw new ShutdownError();
    return results;
  }

  enqueue(name: string | undefined, trigger: Trigger): void {
    if (this.closing) throw new ShutdownError();
    if (name !== undefined && !this.entries.has(name) && !this.opts.willExist?.(name)) throw new UnknownUnitError(name);
    this.reload(name, trigger).catch((err: unknown) => {
      if (!(err instanceof ShutdownError)) this.logger.error({ unit: name ?? 'all', trigger, err: errorMessage(err) }, 'queued reload failed');
    });
  }

  /**
   * Ready while every unit serves a valid config and every watcher works
   * (polling counts). A failed pass, a fallback start, polling, a failing
   * last-known-good file or an admin socket not served are `degraded`:
   * reported, and not-ready only with `strict`.
   */
  ready(options: ReadinessOptions = {}): Readiness {
    const reasons: string[] = [];
    const degraded: string[] = [];
    if (this.closing) reasons.push('shutting down');
    for (const { unit, persistStatus } of this.entries.values()) {
      if (!unit.started) reasons.push(`${unit.name}: initial config not loaded`);
      const fallback = unit.degradedReason();
      if (fallback !== null) degraded.push(`${unit.name}: ${fallback}`);
      const last = unit.lastResult();
      if (last && !OK_STATUSES.has(last.status)) degraded.push(`${unit.name}: last reload ${last.status}${last.error ? `: ${last.error}` : ''}`);
      const persisted = persistStatus?.();
      if (persisted?.lastError) degraded.push(`${unit.name}: cannot save the last known good config: ${persisted.lastError}`);
    }
    for (const [name, w] of this.watchers) {
      const h = w.health();
      if (h.ok) continue;
      (h.mode === 'polling' ? degraded : reasons).push(`${name}: watch: ${h.reason ?? 'not working'}`);
    }
    const socket = this.socket?.health();
    if (socket && !socket.ok) degraded.push(`admin socket: ${socket.reason ?? 'not served'}`);
    const http = this.http?.health();
    if (http && !http.ok) reasons.push(`http: ${http.reason ?? 'not working'}`);
    if (options.strict) reasons.push(...degraded);
    return { ok: reasons.length === 0, reasons, degraded };
  }

  // ---- shutdown ---------------------------------------------------------------

  /**
   * In this order: stop accepting admin connections, stop signal handlers and
   * watchers, close the units (running passes abort, pending waiters get a
   * shutdown error; `closeUnits` overrides how), let the socket's last replies
   * drain, detach metrics and close HTTP last. Safe to call twice.
   */
  close(closeUnits?: () => Promise<void>): Promise<void> {
    this.closing ??= (async () => {
      const step = async (what: string, fn: () => Promise<unknown> | unknown) => {
        try {
          await fn();
        } catch (err) {
          this.logger.error({ err: errorMessage(err) }, `shutdown: ${what} failed`);
        }
      };
      await step('stop accepting admin connections', () => this.socket?.stopAccepting());
      await step('stop triggers', () =>
        Promise.all(
          this.triggers
            .splice(0)
            .reverse()
            .map(async (t) => t.close()),
        ),
      );
      await step('stop watchers', () => Promise.all([...this.watchers.keys()].map((k) => this.unwatch(k))));
      await step('close units', () => (closeUnits ? closeUnits() : Promise.all(this.list().map((u) => u.close()))));
      // A unit added while closing (the daemon's config changed) has a watcher too.
      await step('stop watchers', () => Promise.all([...this.watchers.keys()].map((k) => this.unwatch(k))));
      await step('close the admin socket', () => this.socket?.close());
      for (const detach of this.detachMetrics.values()) detach();
      await step('close HTTP', () => this.http?.close());
    })();
    return this.closing;
  }
}

/** The engine's Unit as the metrics see it, with its last-known-good status. */
function observable(entry: RuntimeUnit): ObservableUnit {
  const u = entry.unit;
  return {
    name: u.name,
    get started() {
      return u.started;
    },
    get generation() {
      return u.generation;
    },
    lastResult: () => u.lastResult(),
    pendingRestart: () => u.pendingRestart(),
    observe: (o) => u.observe(o),
    ...(entry.persistStatus ? { persistStatus: entry.persistStatus } : {}),
  };
}
