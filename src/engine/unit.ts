// A unit: one config, its source, schema, hooks and snapshot, reloaded by
// passes through a serial coalescing queue (SPEC §1). Both the library's
// createReloader and each daemon target are units.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { Redactor } from '../integrity/redact.js';
import {
  COMMITTED_STATUSES,
  type ConfigSource,
  type Hook,
  type HookOutcome,
  type LoadContext,
  type Logger,
  type ReloadResult,
  type ReloadStatus,
  type SourceFile,
  type Trigger,
} from '../types.js';
import { errorMessage, LoadError, ReloadkitError } from './errors.js';
import { ms, runApplies, runChecks, runRollbacks, type HookRunEnv } from './hooks-run.js';
import { noopLogger } from './logger.js';
import { PassQueue, type Batch } from './queue.js';
import { ResultHistory } from './results.js';
import { RestartMatcher, type RestartPolicy } from './restart.js';
import { changedPaths, configHash, deepEqual, deepFreeze } from './snapshot.js';
import { validateWithSchema } from './validate.js';

export type ApplyFailurePolicy = 'keep-partial' | 'rollback';

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
}

/** A committed config and what it was made from. */
export interface Snapshot<T> {
  readonly config: T;
  readonly hash: string;
  readonly generation: number;
  readonly files: readonly SourceFile[];
}

/** Observers see every request and result; metrics, persistence and logs hang here. */
export interface UnitObserver<T = unknown> {
  request?(unit: string, trigger: Trigger): void;
  result?(result: ReloadResult): void;
  /** After start() and after every committed pass. */
  commit?(snapshot: Snapshot<T>): void;
}

type Candidate =
  | { ok: true; value: unknown; raw: unknown; hash: string; files: SourceFile[] }
  | { ok: false; message: string; raw: unknown };

interface Subscriber<T> {
  select: (config: T) => unknown;
  fn: (next: unknown, prev: unknown, result: ReloadResult) => void;
  last: unknown;
}

export const DEFAULT_APPLY_TIMEOUT_MS = 10_000;

export class Unit<T> {
  readonly name: string;
  private readonly opts: UnitOptions<T>;
  private readonly hooks: readonly Hook<T>[];
  private readonly restart: RestartMatcher;
  private readonly restartPolicy: RestartPolicy;
  private readonly logger: Logger;
  private readonly redactor: Redactor;
  private readonly queue: PassQueue<ReloadResult>;
  private readonly results: ResultHistory;
  private readonly observers = new Set<UnitObserver<T>>();
  private readonly subscribers = new Set<Subscriber<T>>();
  private boot: Snapshot<T> | null = null;
  private snap: Snapshot<T> | null = null;
  private startPromise: Promise<void> | null = null;
  private readonly startAbort = new AbortController();
  private closed = false;

  constructor(opts: UnitOptions<T>) {
    this.opts = opts;
    this.name = opts.name;
    this.hooks = opts.hooks ?? [];
    const names = new Set<string>();
    for (const h of this.hooks) {
      if (typeof h.apply !== 'function') throw new ReloadkitError('ERR_OPTIONS', `hook "${h.name}" has no apply function`);
      if (names.has(h.name)) throw new ReloadkitError('ERR_OPTIONS', `two hooks are named "${h.name}"`);
      names.add(h.name);
    }
    this.restart = new RestartMatcher(opts.restartRequired?.paths ?? []);
    this.restartPolicy = opts.restartRequired?.policy ?? 'warn';
    this.logger = opts.logger ?? noopLogger;
    this.redactor = opts.redactor ?? new Redactor();
    this.results = new ResultHistory(opts.historySize ?? 50);
    this.queue = new PassQueue((batch, signal) => this.pass(batch, signal), `unit "${opts.name}" is closed; reload refused`);
  }

  get started(): boolean {
    return this.snap !== null;
  }

  get isClosed(): boolean {
    return this.closed;
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

  history(): readonly ReloadResult[] {
    return this.results.all();
  }

  /** Restart-required paths that differ between the boot config and the one in effect. */
  pendingRestart(): string[] {
    if (!this.boot || !this.snap) return [];
    return this.restart.diff(this.boot.config, this.snap.config);
  }

  observe(observer: UnitObserver<T>): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  subscribe<U>(select: (config: T) => U, fn: (next: U, prev: U, result: ReloadResult) => void): () => void {
    const sub: Subscriber<T> = {
      select,
      fn: fn as Subscriber<T>['fn'],
      last: this.snap ? select(this.snap.config) : undefined,
    };
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  /**
   * First load: becomes generation 0 without running hooks. `fallback` is
   * asked for a config when the source fails (last known good).
   */
  start(fallback?: (loadError: string) => Promise<{ value: unknown } | null>): Promise<void> {
    if (this.closed) return Promise.reject(new ReloadkitError('ERR_CLOSED', `unit "${this.name}" is closed`));
    this.startPromise ??= (async () => {
      let cand = await this.load(this.startAbort.signal);
      if (!cand.ok && fallback) {
        const fb = await fallback(cand.message);
        if (fb) cand = await this.fromValue(fb.value, []);
      }
      if (!cand.ok) {
        throw new LoadError(`${this.name}: cannot load ${this.opts.source.description}: ${this.redact(cand.message, cand.raw)}`);
      }
      const snap: Snapshot<T> = { config: cand.value as T, hash: cand.hash, generation: 0, files: cand.files };
      this.boot = snap;
      this.snap = snap;
      for (const s of this.subscribers) s.last = s.select(snap.config);
      this.notify((o) => o.commit?.(snap));
    })();
    return this.startPromise;
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

  /** Refuses new requests, answers pending ones with a shutdown error, aborts and awaits a running pass. */
  async close(): Promise<void> {
    if (this.closed) return this.queue.close();
    this.closed = true;
    this.startAbort.abort(new ReloadkitError('ERR_CLOSED', 'closed during start'));
    await this.queue.close();
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

  private async load(signal: AbortSignal): Promise<Candidate> {
    let loaded;
    try {
      loaded = await this.opts.source.load({ signal, ...(this.opts.verify ? { verify: this.opts.verify } : {}) });
    } catch (err) {
      return { ok: false, message: errorMessage(err), raw: undefined };
    }
    return this.fromValue(loaded.value, loaded.files);
  }

  private async fromValue(raw: unknown, files: SourceFile[]): Promise<Candidate> {
    let value = raw;
    try {
      if (this.opts.schema) {
        const v = await validateWithSchema(this.opts.schema, raw);
        if (!v.ok) return { ok: false, message: v.message, raw };
        value = v.value;
      }
      return { ok: true, value: deepFreeze(value), raw, hash: configHash(value), files };
    } catch (err) {
      return { ok: false, message: errorMessage(err), raw };
    }
  }

  private redact(text: string, ...extra: unknown[]): string {
    const secrets = this.redactor.secretValues(this.snap?.config, ...extra);
    return this.redactor.redactText(text, secrets);
  }

  private async pass(batch: Batch, signal: AbortSignal): Promise<ReloadResult> {
    const startedAt = new Date();
    const t0 = performance.now();
    const first = batch.requests[0]!;
    const trigger = first.trigger;
    const explicit = batch.requests.some((r) => r.explicit);
    const prev = this.current();
    const boot = this.boot!;

    const finish = (
      status: ReloadStatus,
      fields: Partial<Pick<ReloadResult, 'outcomes' | 'requires_restart' | 'load_error' | 'error' | 'changed'>> & {
        hash: string;
        raw?: unknown;
        next?: unknown;
      },
    ): ReloadResult => {
      const redact = (s: string | undefined) => (s === undefined ? undefined : this.redact(s, fields.raw, fields.next));
      const result: ReloadResult = {
        unit: this.name,
        generation: this.generation,
        status,
        trigger,
        outcomes: (fields.outcomes ?? []).map((o) => (o.error === undefined ? o : { ...o, error: redact(o.error)! })),
        requires_restart: fields.requires_restart ?? [],
        config_hash: fields.hash,
        changed: fields.changed ?? [],
        started_at: startedAt.toISOString(),
        ended_at: new Date().toISOString(),
        duration_ms: ms(t0),
        coalesced: batch.requests.length - 1,
      };
      if (fields.load_error !== undefined) result.load_error = redact(fields.load_error)!;
      if (fields.error !== undefined) result.error = redact(fields.error)!;
      return result;
    };

    const cand = await this.load(signal);
    if (!cand.ok) {
      return this.record(finish('load_failed', { hash: prev.hash, load_error: cand.message, error: cand.message, raw: cand.raw }));
    }
    const next = cand.value as T;
    const base = { hash: cand.hash, raw: cand.raw, next };
    if (!explicit && cand.hash === prev.hash) {
      return this.record(finish('unchanged', { ...base, requires_restart: this.pendingRestart() }));
    }
    const changed = changedPaths(prev.config, next);
    const requiresRestart = this.restart.diff(boot.config, next);
    const common = { ...base, changed, requires_restart: requiresRestart };

    if (requiresRestart.length > 0 && this.restartPolicy === 'reject') {
      return this.record(
        finish('validation_failed', { ...common, error: `restart required for: ${requiresRestart.join(', ')} (policy reject)` }),
      );
    }

    const env: HookRunEnv = {
      unit: this.name,
      trigger,
      logger: this.logger,
      signal,
      defaultTimeoutMs: this.opts.applyTimeoutMs ?? DEFAULT_APPLY_TIMEOUT_MS,
    };
    const checkFailures = await runChecks(this.hooks, prev.config, next, env);
    if (checkFailures.length > 0) {
      const error = checkFailures.map((o) => `${o.name}: ${o.error ?? 'failed'}`).join('; ');
      return this.record(finish('validation_failed', { ...common, outcomes: checkFailures, error }));
    }

    let outcomes = await runApplies(this.hooks, prev.config, next, env);
    const failed = outcomes.filter((o) => o.status === 'failed');
    const applied = outcomes.filter((o) => o.status === 'applied');
    const failText = () => failed.map((o) => `${o.name}: ${o.error ?? 'failed'}`).join('; ');

    let status: ReloadStatus;
    let error: string | undefined;
    if (failed.length === 0) {
      status = 'full_success';
    } else if (applied.length === 0) {
      status = 'apply_failed';
      error = failText();
    } else if ((this.opts.onApplyFailure ?? 'keep-partial') === 'rollback') {
      const rbErrors = await runRollbacks(this.hooks, outcomes, prev.config, next, env);
      outcomes = outcomes.map((o) => {
        const rb = rbErrors.get(o.name);
        return rb === undefined ? o : { ...o, error: o.error ? `${o.error}; ${rb}` : rb };
      });
      status = 'rolled_back';
      error = failText() + (rbErrors.size > 0 ? `; ${[...rbErrors].map(([n, e]) => `${n}: ${e}`).join('; ')}` : '');
    } else {
      status = 'partial_applied';
      error = failText();
    }

    if (COMMITTED_STATUSES.has(status)) {
      const snap: Snapshot<T> = { config: next, hash: cand.hash, generation: prev.generation + 1, files: cand.files };
      this.snap = snap;
      const result = finish(status, { ...common, outcomes, ...(error === undefined ? {} : { error }) });
      this.record(result);
      this.notify((o) => o.commit?.(snap));
      this.fireSubscribers(result);
      return result;
    }
    return this.record(finish(status, { ...common, outcomes, ...(error === undefined ? {} : { error }) }));
  }

  private record(result: ReloadResult): ReloadResult {
    this.results.push(result);
    const ok = result.status === 'full_success' || result.status === 'unchanged';
    const line = {
      unit: result.unit,
      trigger: result.trigger,
      status: result.status,
      generation: result.generation,
      duration_ms: result.duration_ms,
      changed: result.changed,
      coalesced: result.coalesced,
      requires_restart: result.requires_restart,
      ...(result.error === undefined ? {} : { error: result.error }),
    };
    if (result.status === 'unchanged') this.logger.debug(line, 'reload pass');
    else if (ok) this.logger.info(line, 'reload pass');
    else this.logger.warn(line, 'reload pass');
    if (result.requires_restart.length > 0 && COMMITTED_STATUSES.has(result.status)) {
      this.logger.warn({ unit: result.unit, requires_restart: result.requires_restart }, 'changes need a restart to take effect');
    }
    this.notify((o) => o.result?.(result));
    return result;
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
