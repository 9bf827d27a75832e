// Prometheus metrics (listed in docs/protocol.md) on their own prom-client registry (or one the
// caller gives), fed by unit observers. prom-client is imported lazily: it
// costs ~75 ms of startup, which users without metrics should not pay.
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type * as PromClient from 'prom-client';
import type { UnitObserver } from '../engine/unit.js';
import { errnoCode } from '../shared/errno.js';
import { OptionsError } from '../shared/errors.js';
import { OK_STATUSES, RELOAD_STATUSES, TRIGGERS, type MetricsRegistry, type ReloadResult, type Trigger } from '../shared/types.js';
import { VERSION } from './version.js';

/** What metrics need from a unit (the engine's Unit satisfies it). */
export interface ObservableUnit {
  readonly name: string;
  readonly started: boolean;
  readonly generation: number;
  lastResult(): ReloadResult | null;
  pendingRestart(): readonly string[];
  observe(observer: UnitObserver<unknown>): () => void;
  /** Last-known-good writes so far (failures before the metrics attach are counted too). */
  persistStatus?(): { failures: number } | null;
}

/** The Go nginx daemon's `/metrics` JSON shape. */
export interface MetricsJson {
  reloads: number;
  failures: number;
  deduplicated: number;
  /** RFC 3339 time of the last successful reload; absent before the first. */
  last_reload?: string;
}

const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface MetricSet {
  requests: Counter<'unit' | 'trigger'>;
  reloads: Counter<'unit' | 'status'>;
  coalesced: Counter<'unit'>;
  duration: Histogram<'unit'>;
  lastSuccessful: Gauge<'unit'>;
  lastSuccessTimestamp: Gauge<'unit'>;
  generation: Gauge<'unit'>;
  pendingRestart: Gauge<'unit'>;
  watchEvents: Counter;
  watchErrors: Counter;
  signatureFailures: Counter<'unit'>;
  persistFailures: Counter<'unit'>;
  afterCommitFailures: Counter<'unit'>;
  buildInfo: Gauge<'version' | 'node'>;
}

// Two reloaders given the same registry share one set of metric objects
// (prom-client refuses to register a name twice).
const setsByRegistry = new WeakMap<Registry, MetricSet>();

export interface ReloadMetricsOptions {
  /** Register in this registry (a prom-client Registry) instead of a new one. */
  registry?: MetricsRegistry;
  /** Also collect prom-client's default process metrics (default true; skipped if already registered). */
  defaultMetrics?: boolean;
}

/**
 * prom-client, loaded on first use. The library declares it an optional peer
 * dependency (a service without metrics does not install it); the CLI bundle
 * carries its own copy.
 */
async function loadPromClient(): Promise<typeof PromClient> {
  try {
    return await import('prom-client');
  } catch (err) {
    if (errnoCode(err) !== 'ERR_MODULE_NOT_FOUND' || !String((err as Error).message).includes("'prom-client'")) throw err;
    throw new OptionsError(
      "metrics (triggers.http or registry) need the prom-client package, which is not installed: run `npm i prom-client` (reloadkit's optional peer dependency)",
      { cause: err },
    );
  }
}

/** Loads prom-client and creates the metrics. */
export async function createReloadMetrics(options: ReloadMetricsOptions = {}): Promise<ReloadMetrics> {
  const prom = await loadPromClient();
  const registry = (options.registry as Registry | undefined) ?? new prom.Registry();
  if (options.defaultMetrics !== false && !registry.getSingleMetric('process_cpu_user_seconds_total')) {
    prom.collectDefaultMetrics({ register: registry });
  }
  let set = setsByRegistry.get(registry);
  if (!set) {
    const registers = [registry];
    const unit = ['unit'] as const;
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new prom.Counter<L>({ name, help, labelNames, registers });
    const gauge = (name: string, help: string) => new prom.Gauge({ name, help, labelNames: unit, registers });
    set = {
      requests: counter('reloadkit_reload_requests_total', 'Reload requests received, by unit and trigger (coalesced ones included).', ['unit', 'trigger']),
      reloads: counter('reloadkit_reloads_total', 'Reload passes run, by unit and final status.', ['unit', 'status']),
      coalesced: counter('reloadkit_reload_coalesced_total', 'Requests answered by a pass another request started.', unit),
      duration: new prom.Histogram({
        name: 'reloadkit_reload_duration_seconds',
        help: 'Duration of reload passes.',
        labelNames: unit,
        buckets: DURATION_BUCKETS,
        registers,
      }),
      lastSuccessful: gauge('reloadkit_last_reload_successful', 'Whether the last pass of the unit succeeded (1) or not (0).'),
      lastSuccessTimestamp: gauge('reloadkit_last_reload_success_timestamp_seconds', 'Unix time of the last successful load or reload of the unit.'),
      generation: gauge('reloadkit_config_generation', 'Generation of the config in effect (0 = the one loaded at start).'),
      pendingRestart: gauge('reloadkit_pending_restart', 'Number of changed settings that take effect only after a restart.'),
      watchEvents: counter('reloadkit_watch_events_total', 'File-system events seen by the watchers.', []),
      watchErrors: counter('reloadkit_watch_errors_total', 'Watcher errors (including falling back to polling).', []),
      signatureFailures: counter('reloadkit_signature_failures_total', 'Config files rejected because their signature did not verify.', unit),
      // A failed write of the last known good config is otherwise visible only in the log.
      persistFailures: counter('reloadkit_persist_failures_total', 'Failed writes of the last known good config (persist.path).', unit),
      afterCommitFailures: counter(
        'reloadkit_after_commit_failures_total',
        'After-commit work (onChange) that threw or reported failed; the config stayed committed.',
        unit,
      ),
      // Which reloadkit and Node.js a scrape comes from: the usual *_build_info gauge, always 1, versions as labels.
      buildInfo: new prom.Gauge({
        name: 'reloadkit_build_info',
        help: 'reloadkit and Node.js versions, as labels; always 1.',
        labelNames: ['version', 'node'] as const,
        registers,
      }),
    };
    set.buildInfo.set({ version: VERSION, node: process.versions.node }, 1);
    setsByRegistry.set(registry, set);
  }
  return new ReloadMetrics(registry, set);
}

export class ReloadMetrics {
  private readonly detachers = new Map<string, () => void>();
  private reloadCount = 0;
  private failureCount = 0;
  private dedupCount = 0;
  private lastReloadAt: Date | null = null;
  private readonly resultListeners = new Set<(r: ReloadResult) => void>();

  /** Use createReloadMetrics(). */
  constructor(
    readonly registry: Registry,
    private readonly m: MetricSet,
  ) {}

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * Starts counting a unit: every status and trigger label is created at 0.
   * Returns a function that stops observing (its series stay).
   */
  attachUnit(unit: ObservableUnit): () => void {
    const name = unit.name;
    this.detachers.get(name)?.();
    const m = this.m;
    for (const trigger of TRIGGERS) m.requests.inc({ unit: name, trigger }, 0);
    for (const status of RELOAD_STATUSES) m.reloads.inc({ unit: name, status }, 0);
    m.coalesced.inc({ unit: name }, 0);
    m.signatureFailures.inc({ unit: name }, 0);
    m.afterCommitFailures.inc({ unit: name }, 0);
    // Attached after start(): a failed start-up write already happened; later ones arrive through observe().
    m.persistFailures.inc({ unit: name }, unit.persistStatus?.()?.failures ?? 0);
    m.duration.zero({ unit: name });
    m.generation.set({ unit: name }, unit.generation);
    m.pendingRestart.set({ unit: name }, unit.pendingRestart().length);
    const last = unit.lastResult();
    if (last) m.lastSuccessful.set({ unit: name }, OK_STATUSES.has(last.status) ? 1 : 0);
    else if (unit.started) this.startSucceeded(name);
    else m.lastSuccessful.set({ unit: name }, 0);

    const off = unit.observe({
      request: (_unit: string, trigger: Trigger) => m.requests.inc({ unit: name, trigger }),
      result: (r: ReloadResult) => {
        this.countResult(name, r);
        for (const l of this.resultListeners) l(r);
      },
      commit: (snap) => {
        m.generation.set({ unit: name }, snap.generation);
        m.pendingRestart.set({ unit: name }, unit.pendingRestart().length);
        // The initial load (generation 0, no pass yet) counts as the first success.
        if (snap.generation === 0 && unit.lastResult() === null) this.startSucceeded(name);
      },
      signatureFailure: () => m.signatureFailures.inc({ unit: name }),
      persistFailure: () => m.persistFailures.inc({ unit: name }),
      afterCommitFailure: () => m.afterCommitFailures.inc({ unit: name }),
    });
    let attached = true;
    const detach = () => {
      if (!attached) return;
      attached = false;
      off();
      if (this.detachers.get(name) === detach) this.detachers.delete(name);
    };
    this.detachers.set(name, detach);
    return detach;
  }

  /** Stops observing a unit and removes its series (the daemon, when a target is removed). */
  detachUnit(name: string): void {
    this.detachers.get(name)?.();
    const m = this.m;
    for (const trigger of TRIGGERS) m.requests.remove({ unit: name, trigger });
    for (const status of RELOAD_STATUSES) m.reloads.remove({ unit: name, status });
    for (const metric of [
      m.coalesced,
      m.signatureFailures,
      m.persistFailures,
      m.afterCommitFailures,
      m.duration,
      m.lastSuccessful,
      m.lastSuccessTimestamp,
      m.generation,
      m.pendingRestart,
    ]) {
      metric.remove({ unit: name });
    }
  }

  /**
   * Calls `listener` with every result of every attached unit, after it is
   * counted (the status page's event stream sees exactly the units metrics
   * count, including targets the daemon adds later). Returns the unsubscriber.
   */
  onResult(listener: (r: ReloadResult) => void): () => void {
    this.resultListeners.add(listener);
    return () => this.resultListeners.delete(listener);
  }

  watchEvent(): void {
    this.m.watchEvents.inc();
  }

  watchError(): void {
    this.m.watchErrors.inc();
  }

  /** Counted automatically for attached units (their observer); for anything else that verifies signatures. */
  signatureFailure(unit: string): void {
    this.m.signatureFailures.inc({ unit });
  }

  /** `/metrics.json`: `reloads` counts passes that ended full_success, `failures` every failed pass, `deduplicated` coalesced requests. */
  json(): MetricsJson {
    const out: MetricsJson = { reloads: this.reloadCount, failures: this.failureCount, deduplicated: this.dedupCount };
    if (this.lastReloadAt) out.last_reload = this.lastReloadAt.toISOString().replace(/\.\d{3}Z$/, 'Z');
    return out;
  }

  private startSucceeded(unit: string): void {
    this.m.lastSuccessful.set({ unit }, 1);
    this.m.lastSuccessTimestamp.set({ unit }, Date.now() / 1000);
  }

  private countResult(unit: string, r: ReloadResult): void {
    const m = this.m;
    m.reloads.inc({ unit, status: r.status });
    if (r.coalesced > 0) m.coalesced.inc({ unit }, r.coalesced);
    this.dedupCount += r.coalesced;
    m.duration.observe({ unit }, r.duration_ms / 1000);
    m.lastSuccessful.set({ unit }, OK_STATUSES.has(r.status) ? 1 : 0);
    if (r.status === 'full_success') {
      const ended = new Date(r.ended_at);
      m.lastSuccessTimestamp.set({ unit }, ended.getTime() / 1000);
      this.reloadCount += 1;
      this.lastReloadAt = ended;
    } else if (r.status !== 'unchanged') {
      this.failureCount += 1;
    }
  }
}
