// A unit: one config, its source, schema, hooks and snapshot, reloaded by
// passes through a serial coalescing queue (SPEC §1). Both the library's
// createReloader and each daemon target are units.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { PersistStore, readPersisted, type PersistOptions } from '../integrity/persist.js';
import { Redactor, redactingLogger } from './redact.js';
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
} from '../shared/types.js';
import { errorMessage, LoadError, ReloadkitError, ShutdownError, findSignatureError } from '../shared/errors.js';
import { ms, runApplies, runChecks, runRollbacks, type HookRunEnv } from './hooks-run.js';
import { noopLogger } from '../shared/logger.js';
import { PassQueue, type Batch } from './queue.js';
import { ResultHistory } from './results.js';
import { RestartMatcher, type RestartPolicy } from './restart.js';
import { changedPaths, deepEqual, deepFreeze } from './snapshot.js';
import { validateWithSchema } from './validate.js';
import { configHash } from '../shared/hash.js';

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
  /** Last known good: write each committed config; `fallback` starts from it when the source is broken. */
  persist?: PersistOptions | undefined;
}

/** A config to start from when the source cannot be loaded at start. */
export interface FallbackConfig {
  value: unknown;
  /** Where it came from, for the warning and readiness, e.g. "last known good config from <saved_at>". */
  description: string;
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
  /** A source file's signature was missing or did not verify (SPEC §6: counted, logged as a security event). */
  signatureFailure?(unit: string, file: string, reason: string): void;
  /** Writing the last known good config failed (the pass itself is unaffected). */
  persistFailure?(unit: string, error: string): void;
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
  /** The unit's logger: every line passes through redaction (by key and by known secret value). */
  readonly logger: Logger;
  private readonly redactor: Redactor;
  private readonly persist: PersistStore | null;
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
    if (opts.verify && !opts.source.verifiesSignatures) {
      throw new ReloadkitError(
        'ERR_OPTIONS',
        `unit "${opts.name}": signatures are required but the source (${opts.source.description}) does not verify them; ` +
          'use fileSource/dirSource, or make a custom source call ctx.verify(path, bytes) on every file it parses and set verifiesSignatures: true',
      );
    }
    this.redactor = opts.redactor ?? new Redactor();
    const baseLogger = opts.logger ?? noopLogger;
    this.logger = baseLogger === noopLogger ? noopLogger : redactingLogger(baseLogger, this.redactor, () => this.knownSecrets());
    this.persist = opts.persist
      ? new PersistStore({
          path: opts.persist.path,
          unit: opts.name,
          logger: this.logger,
          onFailure: (error) => this.notify((o) => o.persistFailure?.(this.name, error)),
        })
      : null;
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

  /** Why the unit runs on a fallback config (last known good), or null when it runs on its source. */
  degradedReason(): string | null {
    return this.fallbackReason;
  }

  /** Where the last known good config is written, and how writing went; null without `persist`. */
  persistStatus(): ReturnType<PersistStore['status']> | null {
    return this.persist?.status() ?? null;
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
  start(fallback?: (loadError: string) => Promise<FallbackConfig | null>): Promise<void> {
    if (this.closed) return Promise.reject(new ReloadkitError('ERR_CLOSED', `unit "${this.name}" is closed`));
    const fb = fallback ?? (this.opts.persist?.fallback ? (e: string) => this.persistedFallback(e) : undefined);
    this.startPromise ??= (async () => {
      const cand = await this.load(this.startAbort.signal);
      let chosen: Candidate = cand;
      let fromFallback: FallbackConfig | null = null;
      if (!cand.ok) {
        const loadError = this.redact(cand.message, cand.raw);
        let why = '';
        if (fb) {
          const alt = await fb(loadError);
          if (alt) {
            const altCand = await this.fromValue(alt.value, []);
            if (altCand.ok) {
              chosen = altCand;
              fromFallback = alt;
            } else {
              why = `; ${alt.description} is not usable either: ${this.redact(altCand.message, altCand.raw, alt.value)}`;
            }
          }
        }
        if (!fromFallback) {
          throw new LoadError(`${this.name}: cannot load ${this.opts.source.description}: ${loadError}${why}`);
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
      // A fallback start keeps the persisted file as it is: it is already that config, with its own saved_at.
      if (!fromFallback) this.persist?.save(snap);
      this.notify((o) => o.commit?.(snap));
    })();
    return this.startPromise;
  }

  /** The `persist.fallback` source: the persisted file, if it can be trusted and parsed. */
  private async persistedFallback(loadError: string): Promise<FallbackConfig | null> {
    const path = this.opts.persist!.path;
    const read = await readPersisted(path);
    if (!read.ok) {
      this.logger.warn({ unit: this.name, path, reason: read.reason, load_error: loadError }, 'no usable last known good config');
      return null;
    }
    return {
      value: read.persisted.config,
      description: `last known good config from ${read.persisted.saved_at} (${path}, generation ${read.persisted.generation})`,
    };
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
    // The last committed config reaches the disk before close() resolves.
    await this.persist?.flush();
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
    // The first signature failure of this load: its message becomes the load error
    // whatever the source wraps it in, and it is counted and logged once.
    let sigFailure: Error | null = null;
    const verify = this.opts.verify;
    const ctx: LoadContext = { signal };
    if (verify) {
      ctx.verify = async (path, bytes) => {
        try {
          await verify(path, bytes);
        } catch (err) {
          if (!sigFailure) {
            const sigErr = findSignatureError(err);
            sigFailure = sigErr ?? new LoadError(`signature verification failed: ${path}: ${errorMessage(err)}`);
            const reason = sigErr?.reason ?? errorMessage(err);
            this.logger.error({ event: 'security', unit: this.name, file: path, reason }, 'signature verification failed');
            this.notify((o) => o.signatureFailure?.(this.name, path, reason));
          }
          throw err;
        }
      };
    }
    try {
      loaded = await this.opts.source.load(ctx);
    } catch (err) {
      return { ok: false, message: errorMessage(sigFailure ?? err), raw: undefined };
    }
    if (sigFailure) {
      // A source that swallowed the verification error must not get its content accepted.
      return { ok: false, message: errorMessage(sigFailure), raw: undefined };
    }
    // Schema issues name fields; the prefix says which source they are in.
    return this.fromValue(loaded.value, loaded.files, `${this.opts.source.description}: `);
  }

  private async fromValue(raw: unknown, files: SourceFile[], where = ''): Promise<Candidate> {
    let value = raw;
    try {
      if (this.opts.schema) {
        const v = await validateWithSchema(this.opts.schema, raw, this.redactor);
        if (!v.ok) return { ok: false, message: where + v.message, raw };
        value = v.value;
      }
      return { ok: true, value: deepFreeze(value), raw, hash: configHash(value), files };
    } catch (err) {
      return { ok: false, message: errorMessage(err), raw };
    }
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

    // A pass cut short by close() before it committed is not a failed reload: its waiters
    // get a shutdown error, and history, metrics and logs do not count it as one. (A pass
    // that committed anyway, its hooks having applied, is a real reload and is reported.)
    const record = (result: ReloadResult): ReloadResult =>
      signal.aborted && !COMMITTED_STATUSES.has(result.status) ? this.interrupted(result) : this.record(result);

    const cand = await this.load(signal);
    // Hooks' log lines and the pass's own line must not show the candidate's secrets either.
    this.inFlight = cand.ok ? [cand.raw, cand.value] : [cand.raw];
    if (!cand.ok) {
      return record(finish('load_failed', { hash: prev.hash, load_error: cand.message, error: cand.message, raw: cand.raw }));
    }
    const next = cand.value as T;
    const base = { hash: cand.hash, raw: cand.raw, next };
    if (!explicit && cand.hash === prev.hash) {
      return record(finish('unchanged', { ...base, requires_restart: this.pendingRestart() }));
    }
    const changed = changedPaths(prev.config, next);
    const requiresRestart = this.restart.diff(boot.config, next);
    const common = { ...base, changed, requires_restart: requiresRestart };

    if (requiresRestart.length > 0 && this.restartPolicy === 'reject') {
      return record(
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
      return record(finish('validation_failed', { ...common, outcomes: checkFailures, error }));
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
      record(result);
      this.persist?.save(snap);
      this.notify((o) => o.commit?.(snap));
      this.fireSubscribers(result);
      return result;
    }
    return record(finish(status, { ...common, outcomes, ...(error === undefined ? {} : { error }) }));
  }

  private interrupted(result: ReloadResult): never {
    this.logger.info({ unit: result.unit, trigger: result.trigger, duration_ms: result.duration_ms }, 'reload pass interrupted by shutdown');
    this.inFlight = null;
    throw new ShutdownError();
  }

  private record(result: ReloadResult): ReloadResult {
    this.results.push(result);
    // The source loaded again: the unit no longer runs on its fallback config.
    if (this.fallbackReason !== null && (COMMITTED_STATUSES.has(result.status) || result.status === 'unchanged')) {
      this.fallbackReason = null;
      this.logger.info({ unit: this.name, generation: result.generation }, 'source loaded again; no longer running on the fallback config');
    }
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
    // One line per pass; a committed change that needs a restart makes it a warning.
    const needsRestart = result.requires_restart.length > 0 && COMMITTED_STATUSES.has(result.status);
    if (result.status === 'unchanged') this.logger.debug(line, 'reload pass');
    else if (ok && !needsRestart) this.logger.info(line, 'reload pass');
    else this.logger.warn(line, 'reload pass');
    this.notify((o) => o.result?.(result));
    this.inFlight = null;
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
