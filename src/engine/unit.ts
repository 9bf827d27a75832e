// A unit: one config, its source, schema, hooks and snapshot, reloaded by
// passes (pass.ts) through a serial coalescing queue (queue.ts). Both the
// library's createReloader and each daemon target are units. The unit owns
// the snapshot: it starts, commits, records and closes; everything around it
// plugs in through observers and extensions (plugins.ts).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { errorMessage, LoadError, OptionsError, ReloadkitError, ShutdownError } from '../shared/errors.js';
import { noopLogger } from '../shared/logger.js';
import { COMMITTED_STATUSES, type ConfigSource, type Hook, type LoadContext, type Logger, type ReloadResult, type Trigger } from '../shared/types.js';
import { ms, runAfterCommit, warnLegacyHooks, type AbandonedCalls } from './hooks-run.js';
import { candidateFrom, loadCandidate, type Candidate, type LoadEnv } from './load.js';
import { logPass } from './pass-log.js';
import { runPass, type ApplyFailurePolicy, type PassDecision, type PassEnv } from './pass.js';
import type { FallbackConfig, Snapshot, UnitExtension, UnitObserver } from './plugins.js';
import { PassQueue, type Batch } from './queue.js';
import { Redactor, redactingLogger } from './redact.js';
import { RestartMatcher, type RestartPolicy } from './restart.js';
import { ResultHistory } from './results.js';
import { deepEqual } from './snapshot.js';

export type { ApplyFailurePolicy } from './pass.js';
export type { Snapshot, UnitExtension, UnitObserver } from './plugins.js';

export interface UnitOptions<T> {
  name: string;
  source: ConfigSource;
  schema?: StandardSchemaV1 | undefined;
  restartRequired?: { paths: readonly string[]; policy?: RestartPolicy } | undefined;
  hooks?: readonly Hook<T>[] | undefined;
  onApplyFailure?: ApplyFailurePolicy | undefined;
  /** Per-hook timeout for check, apply and rollback (default 10 000 ms). */
  applyTimeoutMs?: number | undefined;
  /** Results kept by history() (default 50). */
  historySize?: number | undefined;
  logger?: Logger | undefined;
  redactor?: Redactor | undefined;
  /** Signature check handed to the source for every file it parses. */
  verify?: LoadContext['verify'];
  /** Lifecycle extensions (last known good). */
  extensions?: readonly UnitExtension<T>[] | undefined;
}

interface Subscriber<T> {
  select: (config: T) => unknown;
  fn: (next: unknown, prev: unknown, result: ReloadResult) => void;
  last: unknown;
}

const DEFAULT_APPLY_TIMEOUT_MS = 10_000;

export class Unit<T> {
  readonly name: string;
  private readonly opts: UnitOptions<T>;
  private readonly hooks: readonly Hook<T>[];
  private readonly extensions: readonly UnitExtension<T>[];
  private readonly restart: RestartMatcher;
  /** The unit's logger: every line passes through redaction (by key and by known secret value). */
  readonly logger: Logger;
  private readonly redactor: Redactor;
  private readonly loadEnv: LoadEnv;
  /** The candidate configs of the pass (or start) in progress: their secrets must not reach log lines either. */
  private inFlight: unknown[] | null = null;
  /** Secret values for log lines, computed on the first line that needs them and kept until the snapshot or candidate changes. */
  private secretCache: { snap: Snapshot<T> | null; inFlight: unknown[] | null; values: ReadonlySet<string> } | null = null;
  /** Set while running on a fallback config; cleared by the first pass that loads the source. */
  private fallbackReason: string | null = null;
  private readonly queue: PassQueue<ReloadResult>;
  private readonly results: ResultHistory;
  private readonly observers = new Set<UnitObserver<T>>();
  private readonly subscribers = new Set<Subscriber<T>>();
  private boot: Snapshot<T> | null = null;
  private snap: Snapshot<T> | null = null;
  private pendingCache: { snap: Snapshot<T>; paths: readonly string[] } | null = null;
  private startPromise: Promise<void> | null = null;
  private readonly startAbort = new AbortController();
  private closed = false;
  /** Hook calls that outlived their timeout: the hook is not called again until they end. */
  private readonly abandoned: AbandonedCalls = new Map();

  constructor(opts: UnitOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    this.hooks = opts.hooks ?? [];
    this.extensions = opts.extensions ?? [];
    const names = new Set<string>();
    for (const h of this.hooks) {
      if (typeof h.apply !== 'function' && typeof h.check !== 'function' && typeof h.afterCommit !== 'function') {
        throw new OptionsError(`hook "${h.name}" has none of check, apply or afterCommit`);
      }
      if (names.has(h.name)) throw new OptionsError(`two hooks are named "${h.name}"`);
      names.add(h.name);
    }
    warnLegacyHooks(this.hooks as readonly Hook<never>[]);
    this.restart = restartMatcher(opts.restartRequired?.paths);
    if (opts.verify && !opts.source.verifiesSignatures) {
      throw new OptionsError(
        `unit "${opts.name}": signatures are required but the source (${opts.source.description}) does not verify them; ` +
          'use fileSource/dirSource, or make a custom source call ctx.verify(path, bytes) on every file it parses and set verifiesSignatures: true',
      );
    }
    this.redactor = opts.redactor ?? new Redactor();
    const baseLogger = opts.logger ?? noopLogger;
    this.logger = baseLogger === noopLogger ? noopLogger : redactingLogger(baseLogger, this.redactor, () => this.knownSecrets());
    this.loadEnv = {
      unit: opts.name,
      source: opts.source,
      schema: opts.schema,
      redactor: this.redactor,
      logger: this.logger,
      ...(opts.verify === undefined ? {} : { verify: opts.verify }),
      onSignatureFailure: (file, reason) => this.notify((o) => o.signatureFailure?.(this.name, file, reason)),
    };
    this.results = new ResultHistory(opts.historySize ?? 50);
    this.queue = new PassQueue((batch, signal) => this.pass(batch, signal), `unit "${opts.name}" is closed; reload refused`);
    for (const ext of this.extensions) ext.attach?.({ unit: this.name, logger: this.logger, notify: (fn) => this.notify(fn) });
  }

  get started(): boolean {
    return this.snap !== null;
  }

  get generation(): number {
    return this.snap?.generation ?? 0;
  }

  /** The snapshot in effect; throws before start() completed. */
  current(): Snapshot<T> {
    if (!this.snap) throw new ReloadkitError('ERR_NOT_STARTED', `unit "${this.name}" has not started; call start() first`);
    return this.snap;
  }

  bootSnapshot(): Snapshot<T> | null {
    return this.boot;
  }

  lastResult(): ReloadResult | null {
    return this.results.last();
  }

  /** Why the unit runs on a fallback config (last known good), or null when it runs on its source. */
  degradedReason(): string | null {
    return this.fallbackReason;
  }

  history(): readonly ReloadResult[] {
    return this.results.all();
  }

  /** Restart-required paths that differ between the boot config and the one in effect (computed once per snapshot). */
  pendingRestart(): string[] {
    if (!this.boot || !this.snap) return [];
    if (this.pendingCache?.snap !== this.snap) {
      this.pendingCache = { snap: this.snap, paths: this.restart.diff(this.boot.config, this.snap.config) };
    }
    return [...this.pendingCache.paths];
  }

  observe(observer: UnitObserver<T>): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  subscribe<U>(select: (config: T) => U, fn: (next: U, prev: U, result: ReloadResult) => void): () => void {
    if (typeof select !== 'function' || typeof fn !== 'function') {
      throw new OptionsError('subscribe(select, fn) takes two functions: a selector of the config and a callback');
    }
    const sub: Subscriber<T> = {
      select,
      fn: fn as Subscriber<T>['fn'],
      last: this.snap ? select(this.snap.config) : undefined,
    };
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  /**
   * First load: becomes generation 0 without running hooks. When the source
   * fails, the extensions are asked for a fallback config (last known good).
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new ReloadkitError('ERR_CLOSED', `unit "${this.name}" is closed`));
    this.startPromise ??= this.firstLoad();
    return this.startPromise;
  }

  private async firstLoad(): Promise<void> {
    const cand = await loadCandidate(this.loadEnv, this.startAbort.signal);
    let chosen: Candidate = cand;
    let fromFallback: FallbackConfig | null = null;
    if (!cand.ok) {
      const loadError = this.redact(cand.message, cand.raw);
      let why = '';
      for (const ext of this.extensions) {
        const alt = await ext.fallback?.(loadError);
        if (!alt) continue;
        const altCand = await candidateFrom(this.loadEnv, alt.value, []);
        if (altCand.ok) {
          chosen = altCand;
          fromFallback = alt;
          break;
        }
        why = `; ${alt.description} is not usable either: ${this.redact(altCand.message, altCand.raw, alt.value)}`;
      }
      if (!fromFallback) {
        throw new LoadError(`${this.name}: cannot load ${this.opts.source.description}: ${loadError}${why}`, { detail: loadError + why });
      }
      this.fallbackReason = `running on ${fromFallback.description}: ${loadError}`;
      this.inFlight = [cand.raw, fromFallback.value];
      this.logger.warn(
        { unit: this.name, source: this.opts.source.description, load_error: loadError },
        `source cannot be loaded; starting from ${fromFallback.description}`,
      );
      this.inFlight = null;
    }
    if (!chosen.ok) throw new LoadError(`${this.name}: cannot load ${this.opts.source.description}`);
    const snap: Snapshot<T> = { config: chosen.value as T, hash: chosen.hash, generation: 0, files: chosen.files };
    this.boot = snap;
    this.snap = snap;
    for (const s of this.subscribers) s.last = s.select(snap.config);
    this.committed(snap, fromFallback !== null);
  }

  /** Requests a pass and waits for the result of the first pass that starts after this call. */
  reload(trigger: Trigger = 'api', explicit = trigger !== 'watch' && trigger !== 'rescan'): Promise<ReloadResult> {
    if (!this.closed && !this.snap) {
      return Promise.reject(new ReloadkitError('ERR_NOT_STARTED', `unit "${this.name}" has not started; call start() first`));
    }
    const p = this.queue.request({ trigger, explicit });
    if (!this.closed) this.notify((o) => o.request?.(this.name, trigger));
    return p;
  }

  /** Fire-and-forget request (watchers, signals, the RELOAD text command). */
  enqueue(trigger: Trigger): void {
    this.reload(trigger).catch((err: unknown) => {
      if (!this.closed) this.logger.error({ unit: this.name, trigger, err: errorMessage(err) }, 'reload request failed');
    });
  }

  /**
   * Loads the source without recording anything and queues a `watch` pass
   * when it differs from the snapshot in effect (or cannot be loaded): a
   * change between the first load and the watcher's first look is not lost.
   */
  async recheck(signal: AbortSignal = this.startAbort.signal): Promise<void> {
    if (this.closed || !this.snap) return;
    // Without signature checks: the pass it may queue checks them (and reports a failure once).
    const { verify: _checkedByThePass, ...env } = this.loadEnv;
    const cand = await loadCandidate(env, signal);
    if (this.closed || signal.aborted) return;
    if (!cand.ok || cand.hash !== this.snap.hash) {
      this.logger.debug({ unit: this.name }, 'watched files changed during start');
      this.enqueue('watch');
    }
  }

  /** Aborts a first load still running (its source sees `ctx.signal` abort); start() then rejects. */
  abortStart(): void {
    this.startAbort.abort(new ReloadkitError('ERR_CLOSED', 'closed during start'));
  }

  /** Refuses new requests, answers pending ones with a shutdown error, aborts and awaits a running pass. */
  async close(): Promise<void> {
    if (this.closed) return this.queue.close();
    this.closed = true;
    this.abortStart();
    await this.queue.close();
    // What extensions keep (the last committed config on disk) is done before close() resolves.
    for (const ext of this.extensions) await ext.close?.();
  }

  // ---- internals -------------------------------------------------------

  private notify(fn: (o: UnitObserver<T>) => void): void {
    for (const o of this.observers) {
      try {
        fn(o);
      } catch (err) {
        this.logger.error({ unit: this.name, err: errorMessage(err) }, 'observer failed');
      }
    }
  }

  private committed(snap: Snapshot<T>, fromFallback: boolean): void {
    for (const ext of this.extensions) {
      try {
        ext.committed?.(snap, { fromFallback });
      } catch (err) {
        this.logger.error({ unit: this.name, err: errorMessage(err) }, 'extension failed after commit');
      }
    }
    this.notify((o) => o.commit?.(snap));
  }

  private redact(text: string, ...extra: unknown[]): string {
    const secrets = this.redactor.secretValues(this.snap?.config, this.boot?.config, ...extra);
    return this.redactor.redactText(text, secrets);
  }

  /** Secret values a log line must not show: the configs in effect and the candidate in flight. */
  private knownSecrets(): ReadonlySet<string> {
    const c = this.secretCache;
    if (c && c.snap === this.snap && c.inFlight === this.inFlight) return c.values;
    const values = this.redactor.secretValues(this.snap?.config, this.boot?.config, ...(this.inFlight ?? []));
    this.secretCache = { snap: this.snap, inFlight: this.inFlight, values };
    return values;
  }

  private passEnv(): PassEnv<T> {
    return {
      unit: this.name,
      hooks: this.hooks,
      restart: this.restart,
      restartPolicy: this.opts.restartRequired?.policy ?? 'warn',
      onApplyFailure: this.opts.onApplyFailure ?? 'keep-partial',
      applyTimeoutMs: this.opts.applyTimeoutMs ?? DEFAULT_APPLY_TIMEOUT_MS,
      logger: this.logger,
      load: (signal) => loadCandidate(this.loadEnv, signal),
      setInFlight: (values) => {
        this.inFlight = values;
      },
      pendingRestart: () => this.pendingRestart(),
      abandoned: this.abandoned,
    };
  }

  private async pass(batch: Batch, signal: AbortSignal): Promise<ReloadResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const trigger = batch.requests[0]!.trigger;
    const explicit = batch.requests.some((r) => r.explicit);
    const prev = this.current();
    const decision = await runPass(this.passEnv(), { trigger, explicit, signal, prev, boot: this.boot! });
    if (decision.snapshot) this.snap = decision.snapshot;
    const result = this.toResult(decision, trigger, batch.requests.length - 1, startedAt, t0);
    // A pass cut short by close() before it committed is not a failed reload: its waiters
    // get a shutdown error, and history, metrics and logs do not count it as one. (A pass
    // that committed anyway, its hooks having applied, is a real reload and is reported.)
    if (signal.aborted && !COMMITTED_STATUSES.has(result.status)) this.interrupted(result);
    this.record(result);
    if (decision.snapshot) {
      this.committed(decision.snapshot, false);
      await this.afterCommit(decision.snapshot, prev, trigger);
      this.fireSubscribers(result);
    }
    return result;
  }

  /** Work that must see the new config in current() (onChange): after the swap, never failing the pass. */
  private async afterCommit(snap: Snapshot<T>, prev: Snapshot<T>, trigger: Trigger): Promise<void> {
    const env = {
      unit: this.name,
      trigger,
      logger: this.logger,
      signal: this.startAbort.signal,
      defaultTimeoutMs: this.opts.applyTimeoutMs ?? DEFAULT_APPLY_TIMEOUT_MS,
      generation: snap.generation,
      abandoned: this.abandoned,
    };
    await runAfterCommit(this.hooks, snap.config, prev.config, env, (hook, error) => {
      this.logger.error({ unit: this.name, hook, generation: snap.generation, err: error }, 'after-commit work failed; the new config stays in effect');
      this.notify((o) => o.afterCommitFailure?.(this.name, hook, error));
    });
  }

  private toResult(d: PassDecision<T>, trigger: Trigger, coalesced: number, startedAt: Date, t0: number): ReloadResult {
    const redact = (s: string) => this.redact(s, d.raw, d.next);
    const result: ReloadResult = {
      unit: this.name,
      generation: this.generation,
      status: d.status,
      trigger,
      outcomes: (d.outcomes ?? []).map((o) => (o.error === undefined ? o : { ...o, error: redact(o.error) })),
      requires_restart: d.requires_restart ?? [],
      config_hash: d.hash,
      changed: d.changed ?? [],
      started_at: startedAt.toISOString(),
      ended_at: new Date().toISOString(),
      duration_ms: ms(t0),
      coalesced,
    };
    if (d.changed_from !== undefined) result.changed_from = d.changed_from;
    if (d.load_error !== undefined) result.load_error = redact(d.load_error);
    if (d.error !== undefined) result.error = redact(d.error);
    return result;
  }

  private interrupted(result: ReloadResult): never {
    this.logger.info({ unit: result.unit, trigger: result.trigger, duration_ms: result.duration_ms }, 'reload pass interrupted by shutdown');
    this.inFlight = null;
    throw new ShutdownError();
  }

  private record(result: ReloadResult): void {
    this.results.push(result);
    // The source loaded again: the unit no longer runs on its fallback config.
    if (this.fallbackReason !== null && (COMMITTED_STATUSES.has(result.status) || result.status === 'unchanged')) {
      this.fallbackReason = null;
      this.logger.info({ unit: this.name, generation: result.generation }, 'source loaded again; no longer running on the fallback config');
    }
    logPass(this.logger, result);
    this.notify((o) => o.result?.(result));
    this.inFlight = null;
  }

  private fireSubscribers(result: ReloadResult): void {
    const config = this.snap!.config;
    for (const s of this.subscribers) {
      let nextSel: unknown;
      try {
        nextSel = s.select(config);
        if (deepEqual(nextSel, s.last)) continue;
        const prevSel = s.last;
        s.last = nextSel;
        s.fn(nextSel, prevSel, result);
      } catch (err) {
        this.logger.error({ unit: this.name, err: errorMessage(err) }, 'subscriber failed');
      }
    }
  }
}

function restartMatcher(paths: readonly string[] | undefined): RestartMatcher {
  if (paths === undefined) return new RestartMatcher([]);
  if (!Array.isArray(paths)) throw new OptionsError(`restartRequired.paths must be an array of dotted paths, got ${typeof paths}`);
  paths.forEach((p, i) => {
    if (typeof p !== 'string') throw new OptionsError(`restartRequired.paths[${i}] must be a dotted path string, got ${typeof p}`);
  });
  try {
    return new RestartMatcher(paths);
  } catch (err) {
    throw new OptionsError(`restartRequired.paths: ${errorMessage(err)}`, { cause: err });
  }
}
