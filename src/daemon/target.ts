// A daemon target as a unit: its config is the content of its
// watched files, its one hook checks (nginx -t, the check argv) and applies
// (reload + verify as ONE step: a reload that verification rejects is
// `apply_failed`, never `partial_applied`). The definition can be swapped
// live; each pass uses the definition that was current when it started.
import { errorMessage, ShutdownError } from '../shared/errors.js';
import { keyFileVerifier } from '../integrity/signature.js';
import { Unit } from '../engine/unit.js';
import { COMMITTED_STATUSES, type Hook, type HookContext, type Logger, type Trigger, type WatchSpec } from '../shared/types.js';
import { uncheckedSignalWarning, type TargetDef } from './config.js';
import type { StateStore } from './state.js';
import { targetSource, type TargetContent } from './target-source.js';
import { TargetWatch, watchKey } from './target-watch.js';
import { DEFAULT_KILL_GRACE_MS } from './targets/child.js';
import { createDriver, type TargetDriver } from './targets/index.js';
import { abortable } from '../shared/abort.js';

interface Definition {
  def: TargetDef;
  driver: TargetDriver;
}

/** What start() decided. */
export type StartDecision =
  /** Stored hash equals the content: nothing to do. */
  | 'current'
  /** No stored state, and the content passes the target's check (or it has none): the running service is assumed current; the hash is recorded. */
  | 'recorded'
  /**
   * No stored state, and the content fails the target's check: nothing is
   * recorded, and a `start` pass reports it (validation_failed; a service
   * cannot be running a config its own check refuses, so once the files are
   * fixed the next pass reloads them).
   */
  | 'check_failed'
  /**
   * The content changed while the daemon was down, a reload was cut short
   * before its result was recorded (the daemon stopped or died during it),
   * or reload_on_start: a `start` pass was queued.
   */
  | 'reload';

/** Decisions after which the caller queues a `start` pass (once it can report it). */
export const START_PASS_DECISIONS: ReadonlySet<StartDecision> = new Set(['reload', 'check_failed']);

export interface TargetOptions {
  logger: Logger;
  state: StateStore;
  /** What the target watches changed on its own (an nginx include added): its watchers should follow. */
  onWatchChange?: (target: Target) => void;
}

export class Target {
  readonly name: string;
  readonly unit: Unit<TargetContent>;
  private current: Definition;
  // The definition each loaded candidate was made under; check and apply of
  // one pass receive the same candidate object, so they agree on it.
  private readonly byCandidate = new WeakMap<object, Definition>();
  private readonly logger: Logger;
  private readonly state: StateStore;
  /**
   * State writes, one after the other: two in flight could land in either
   * order (the older hash winning), and close() waits for the last one, so a
   * graceful stop does not cut it off (leaving a stale hash and a temp file).
   */
  private stateWrites: Promise<void> = Promise.resolve();
  /** Stops the first start's check (a stop during start, or close). */
  private readonly startAbort = new AbortController();
  private readonly watch: TargetWatch;

  constructor(name: string, def: TargetDef, opts: TargetOptions) {
    this.name = name;
    this.current = { def, driver: createDriver(def) };
    this.logger = opts.logger;
    this.state = opts.state;
    this.watch = new TargetWatch(name, opts.logger, () => opts.onWatchChange?.(this));
    const inner = targetSource(
      name,
      (signal) => this.watch.paths(this.current.def, signal),
      () => this.current.def.signature !== undefined,
    );
    const source = {
      get description() {
        return inner.description;
      },
      verifiesSignatures: true,
      load: async (ctx: Parameters<typeof inner.load>[0]) => {
        const definition = this.current;
        // An abort (close, a stop during start) answers at once; the walk
        // itself stops at its next file (target-source.ts checks ctx.signal).
        const loaded = await abortable(inner.load(ctx), ctx.signal);
        this.byCandidate.set(loaded.value as object, definition);
        return loaded;
      },
    };
    const currentTimeout = () => this.current.def.timeout_ms;
    const hook: Hook<TargetContent> = {
      name,
      // A little above the target's own timeout, so the child runner's kill
      // (with its clear message) fires first; this is the safety net.
      get applyTimeoutMs() {
        return currentTimeout() + DEFAULT_KILL_GRACE_MS + 2000;
      },
      args: 'next-prev',
      check: async (next, _prev, ctx) => {
        const d = this.definitionFor(next);
        if (!d.driver.hasCheck) return;
        await d.driver.check(this.step(d, ctx));
        // nginx: the files `nginx -T` listed, each one watched?
        const read = d.driver.readFiles?.();
        if (read) this.watch.checkRead(d.def, read, next);
      },
      apply: async (next, _prev, ctx) => {
        const d = this.definitionFor(next);
        // Before anything reaches the service: a daemon stopped or killed from here on reloads at its next start.
        await this.markReloadBegun();
        await d.driver.apply(this.step(d, ctx));
      },
    };
    this.unit = new Unit<TargetContent>({
      name,
      source,
      hooks: [hook],
      logger: opts.logger,
      // `signature.public_key` of the current definition (none: no check).
      verify: keyFileVerifier(() => this.current.def.signature?.public_key),
    });
    this.unit.observe({
      // Every pass that ended (a pass cut short by a stop never gets here) clears the
      // reload-began marker: after recording the new hash when it committed; at once
      // when it did not (a failed reload is a known outcome, and the old hash stays).
      result: (r) => {
        const committed = COMMITTED_STATUSES.has(r.status);
        this.stateWrites = this.stateWrites
          .then(() => (committed ? this.state.write(name, r.config_hash) : undefined))
          .then(() => this.state.clearPending(name))
          .catch((err: unknown) => {
            this.logger.error({ unit: name, err: errorMessage(err), state_dir: this.state.dir }, 'cannot record the applied content hash');
          });
      },
    });
  }

  get definition(): TargetDef {
    return this.current.def;
  }

  /** Swaps the definition; passes that already started keep theirs. */
  setDefinition(def: TargetDef): void {
    const before = this.current.def;
    if (watchKey(before) !== watchKey(def)) this.watch.reset();
    this.current = { def, driver: createDriver(def) };
    if (before.kind !== 'signal' || before.process !== undefined) this.warnUnchecked();
  }

  /**
   * The reload-began marker, in line with the state writes (so the clear of
   * the previous pass cannot remove this pass's marker). A marker that cannot
   * be written is logged; the reload goes ahead.
   */
  private async markReloadBegun(): Promise<void> {
    const marked = this.stateWrites.then(() => this.state.markPending(this.name));
    this.stateWrites = marked.catch(() => {});
    await marked.catch((err: unknown) => {
      this.logger.error(
        { unit: this.name, err: errorMessage(err), state_dir: this.state.dir },
        'cannot mark the reload as begun; a stop during it will not be caught up at the next start',
      );
    });
  }

  /** A signal target without `process:` signals whatever process its pid names: said once, at start or when it becomes so. */
  private warnUnchecked(): void {
    const def = this.current.def;
    if (def.kind !== 'signal' || def.process !== undefined) return;
    this.logger.warn({ unit: this.name, ...(def.pidfile === undefined ? { pid: def.pid } : { pidfile: def.pidfile }) }, uncheckedSignalWarning);
  }

  private definitionFor(candidate: TargetContent): Definition {
    return this.byCandidate.get(candidate) ?? this.current;
  }

  private step(d: Definition, ctx: HookContext) {
    return { name: this.name, signal: ctx.signal, timeoutMs: d.def.timeout_ms, logger: ctx.logger };
  }

  /**
   * Loads the current content (generation 0) and compares its hash with the
   * stored one: differs, or `reload_on_start` → 'reload' (the
   * caller queues the `start` pass when it is ready to report it); no stored
   * state → the target's check runs (nothing is reloaded): passed, the hash
   * is recorded ('recorded'); failed, nothing is recorded ('check_failed',
   * and the caller's `start` pass reports the failure).
   */
  async start(): Promise<StartDecision> {
    this.warnUnchecked();
    await this.unit.start();
    const hash = this.unit.current().hash;
    await this.watch.warnOutside(this.current.def, this.unit.current().config, this.startAbort.signal);
    const stored = await this.state.read(this.name);
    if (this.current.def.reload_on_start || (stored !== null && stored.config_hash !== hash)) return 'reload';
    const interrupted = await this.state.pending(this.name);
    if (interrupted !== null) {
      // A reload began and its result was never recorded (the daemon stopped or died during it): what runs is unknown.
      this.logger.warn({ unit: this.name, began_at: interrupted.began_at }, 'a reload was cut short before its result was recorded; reloading');
      return 'reload';
    }
    if (stored !== null) return 'current';
    if (!(await this.firstCheck())) return 'check_failed';
    await this.state.write(this.name, hash).catch((err: unknown) => {
      this.logger.error({ unit: this.name, err: errorMessage(err), state_dir: this.state.dir }, 'cannot record the content hash');
    });
    return 'recorded';
  }

  /**
   * First start (no state): whether the content passes the target's check,
   * which runs without reloading. A target without a check passes.
   */
  private async firstCheck(): Promise<boolean> {
    const d = this.current;
    if (!d.driver.hasCheck) return true;
    try {
      await d.driver.check({ name: this.name, signal: this.startAbort.signal, timeoutMs: d.def.timeout_ms, logger: this.logger });
      return true;
    } catch (err) {
      this.startAbort.signal.throwIfAborted();
      this.logger.warn({ unit: this.name, err: errorMessage(err) }, 'first start: the current content fails the check; nothing recorded');
      return false;
    }
  }

  /** What the watchers watch now (for nginx without `watch:`, the files of the last load). */
  watchSpecs(): Promise<WatchSpec[]> {
    return this.watch.specs(this.current.def, this.current.def.signature !== undefined);
  }

  reload(trigger: Trigger) {
    return this.unit.reload(trigger);
  }

  /**
   * A stop during daemon start: the first load (start()) and a recheck()
   * still running reject at once instead of hashing every file first.
   */
  abortStart(): void {
    this.startAbort.abort(new ShutdownError());
    this.unit.abortStart();
  }

  async close(): Promise<void> {
    this.startAbort.abort(new ShutdownError());
    await this.unit.close();
    await this.stateWrites;
  }
}
