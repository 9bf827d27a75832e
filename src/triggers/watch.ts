// Change detection: a thin layer over fs.watch that never misses a change
// and never reports one twice.
//
// API (used by createReloader's `triggers.watch` and by the daemon):
//
//   const w = await createWatcher(specs, { debounceMs, maxWaitMs, rescanMs, logger,
//     onChange(trigger, paths) {…}, onEvent() {…}, onError(err) {…} });
//   await w.setSpecs(newSpecs);   // new watch list; paths kept keep their state
//   w.health();                   // { ok: false, reason } while any directory is polled
//                                 // or its lost watch is not yet reopened
//   await w.settled();            // nothing pending: no burst, no check queued or running
//   await w.close();              // no onChange after this resolves (nor after it is called)
//
// `createWatcher` resolves once every directory is watched and the content of
// every path is recorded, so any change after that is reported. `onChange`
// is called only when content really changed (added, removed, other bytes),
// with trigger 'watch' (after events) or 'rescan' (the periodic full look),
// and the spec paths (files inside watched directories) that changed.
// `onEvent` is called for every raw event, `onError` for every directory
// fs.watch could not watch (ENOSPC/EMFILE: inotify limits) — that directory
// is then polled and health() says so until a rescan can watch it again.
//
// How it works (one concern per file):
// - Directories are watched, never files (watch-dirs.ts): the parent of every
//   path, every directory a symlink on the way passes through (a Kubernetes
//   ConfigMap's `config.yaml -> ..data/config.yaml`, `..data -> ..2026_…`),
//   each subdirectory of a recursive spec (fs.watch `recursive` does not
//   work on Linux with Node 20), and for a missing path its nearest existing
//   ancestor (the resolution is in watch-paths.ts). After every check the
//   set is recomputed, so paths that appear, vanish, or directories deleted
//   and recreated keep being watched.
// - Events are hints: only events naming an entry a path depends on count
//   (so unrelated files in the same directory cost nothing), and they only
//   schedule a check. The check compares SHA-256 hashes of the resolved real
//   files with the last ones (watch-content.ts); only a difference calls
//   onChange.
// - Timing (watch-burst.ts): a burst of events is checked after `debounceMs`
//   of quiet, or `maxWaitMs` after its first event under constant writes,
//   or at once when it only replaced files whole (the fast path: an
//   editor's atomic save, a `..data` swap).
// - Checks run one at a time; a burst that ends while one runs is checked
//   next, together with any other that ends meanwhile.
import { resolve } from 'node:path';
import { ReloadkitError, errorMessage, OptionsError } from '../shared/errors.js';
import { noopLogger } from '../shared/logger.js';
import type { Logger, WatchSpec } from '../shared/types.js';
import { BurstMachine, realClock, type Clock, type SettledBurst, type TimerId } from './watch-burst.js';
import { ContentIndex, type ContentTarget } from './watch-content.js';
import { DirectorySet, nodeWatch, type InterestEntry, type TreeInfo, type WatchFunction } from './watch-dirs.js';
import { watchTimings } from './watch-options.js';
import { childOf, resolveWatched, statKey, walkTree } from './watch-paths.js';

export type { WatchFunction } from './watch-dirs.js';

export type WatchTrigger = 'watch' | 'rescan';

export interface WatcherOptions {
  /** Quiet period that ends a burst of events (default 100 ms). */
  debounceMs?: number;
  /** Longest a burst waits under constant writes (default 1000 ms). */
  maxWaitMs?: number;
  /** Period of the full rescan (default 30 000 ms; 0 disables). */
  rescanMs?: number;
  /** Fast path: delay between the two looks at a replaced file (default 10 ms). */
  settleMs?: number;
  /** Polling interval for directories fs.watch cannot watch (default 500 ms). */
  pollMs?: number;
  logger?: Logger;
  /** Content really changed. */
  onChange(trigger: WatchTrigger, paths: string[]): void;
  /** Every raw fs event (metric reloadkit_watch_events_total). */
  onEvent?(): void;
  /** A directory could not be watched, incl. ENOSPC/EMFILE (metric reloadkit_watch_errors_total). */
  onError?(err: Error): void;
  /** The fs.watch boundary; tests replace it to inject ENOSPC/EMFILE. */
  watchFunction?: WatchFunction;
  /** Time for the quiet period, max wait, fast path and rescan; tests drive it with a fake. */
  clock?: Clock;
}

/**
 * Not ok while any directory is polled (inotify limits) or a lost watch is
 * not reopened yet. `mode` says which: polling still sees every change (a
 * little later); `lost` and `closed` may miss changes.
 */
export interface WatchHealth {
  ok: boolean;
  mode: 'watching' | 'polling' | 'lost' | 'closed';
  reason?: string;
}

export interface Watcher {
  /** Replaces the watch list; paths still listed keep their recorded content. */
  setSpecs(specs: readonly WatchSpec[]): Promise<void>;
  /** Not ok while any directory is polled instead of watched, or its watch was lost and not yet reopened (shown by /ready). */
  health(): WatchHealth;
  /**
   * Resolves once nothing is pending: no burst waiting to be checked, no
   * check queued or running (events the process has not read yet are not
   * known). Right away when closed. Like the watcher's timers, waiting for
   * it does not keep the process alive.
   */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export async function createWatcher(specs: readonly WatchSpec[], options: WatcherOptions): Promise<Watcher> {
  const w = new DirectoryWatcher(options);
  try {
    await w.init(specs);
  } catch (err) {
    await w.close();
    throw err;
  }
  return w;
}

function checkSpecs(specs: readonly WatchSpec[]): void {
  if (!Array.isArray(specs)) throw new OptionsError('watch specs must be an array of { path }');
  for (const s of specs) {
    if (!s || typeof s.path !== 'string' || s.path === '' || s.path.includes('\0')) {
      throw new OptionsError(`watch spec needs a non-empty path, got ${JSON.stringify(s?.path)}`);
    }
    if (s.filter !== undefined && typeof s.filter !== 'function') {
      throw new OptionsError(`watch spec ${s.path}: filter must be a function`);
    }
  }
}

interface SpecState {
  spec: WatchSpec;
  /** Absolute path as given (not resolved: the resolution is what we watch). */
  path: string;
  key: string;
  /** Entry ('' = the path itself, else relative file) → content state; null until recorded. */
  committed: Map<string, string> | null;
  missing: boolean;
}

/** A spec resolved for one check: its content target and the directory entries it depends on. */
interface SpecPlan extends ContentTarget {
  state: SpecState;
  interests: InterestEntry[];
}

interface CheckRequest extends SettledBurst {
  trigger: WatchTrigger;
  /** Hash every file again (the rescan). */
  full: boolean;
}

class DirectoryWatcher implements Watcher {
  private readonly rescanMs: number;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly bursts: BurstMachine;
  private readonly dirs: DirectorySet;
  private readonly content = new ContentIndex();
  private specs: SpecState[] = [];
  private rescanTimer: TimerId | null = null;
  private queued: CheckRequest | null = null;
  private lock: Promise<void> = Promise.resolve();
  /** Checks queued or running, and work events started (settled() waits for them). */
  private inflight = 0;
  private settledWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly opts: WatcherOptions) {
    if (!opts || typeof opts.onChange !== 'function') throw new OptionsError('createWatcher needs an onChange function');
    const t = watchTimings({
      debounceMs: opts.debounceMs,
      maxWaitMs: opts.maxWaitMs,
      rescanMs: opts.rescanMs,
      settleMs: opts.settleMs,
      pollMs: opts.pollMs,
    });
    this.rescanMs = t.rescanMs;
    this.logger = opts.logger ?? noopLogger;
    this.clock = opts.clock ?? realClock;
    this.bursts = new BurstMachine({
      debounceMs: t.debounceMs,
      maxWaitMs: t.maxWaitMs,
      settleMs: t.settleMs,
      clock: this.clock,
      look: statKey,
      committedKey: (path) => this.content.committedKey(path),
      onSettled: (b) => this.enqueue({ trigger: 'watch', full: false, ...b }),
    });
    this.dirs = new DirectorySet({
      pollMs: t.pollMs,
      logger: this.logger,
      watchFunction: opts.watchFunction ?? nodeWatch,
      closed: () => this.closed,
      onRawEvent: () => this.callback('onEvent', () => this.opts.onEvent?.()),
      onError: (err) => this.callback('onError', () => this.opts.onError?.(err)),
      onTargets: (event, targets, dir, path) => this.bursts.record(event, targets, dir, path),
      track: (work) => {
        void this.track(work.catch((err: unknown) => this.logger.error({ err: errorMessage(err) }, 'watch event handling failed')));
      },
    });
  }

  async init(specs: readonly WatchSpec[]): Promise<void> {
    await this.setSpecs(specs);
    if (this.rescanMs > 0 && !this.closed) this.scheduleRescan();
  }

  setSpecs(specs: readonly WatchSpec[]): Promise<void> {
    checkSpecs(specs);
    if (this.closed) return Promise.reject(new ReloadkitError('ERR_CLOSED', 'watcher is closed'));
    return this.serial(async () => {
      const old = new Map(this.specs.map((s) => [s.key, s]));
      this.specs = specs.map((spec) => {
        const path = resolve(spec.path);
        const key = `${path}\0${spec.recursive ? 'r' : ''}`;
        const kept = old.get(key);
        return kept ? { ...kept, spec } : { spec, path, key, committed: null, missing: false };
      });
      // New specs are recorded silently; kept ones are compared as usual.
      await this.check({ trigger: 'watch', full: false, dirty: new Set(), dirtyDirs: new Set() });
    });
  }

  health(): WatchHealth {
    if (this.closed) return { ok: false, mode: 'closed', reason: 'watcher closed' };
    const reasons = this.dirs.degraded();
    const mode = this.dirs.mode();
    return reasons.length === 0 ? { ok: true, mode } : { ok: false, mode, reason: `watching degraded: ${reasons.join('; ')}` };
  }

  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.bursts.close();
      this.queued = null;
      if (this.rescanTimer !== null) this.clock.clearTimeout(this.rescanTimer);
      this.rescanTimer = null;
      this.wakeSettled();
    }
    // Let a running check finish (it calls nothing once closed), then release everything.
    await this.lock;
    this.dirs.closeAll();
  }

  // ---- scheduling: rescan, one check at a time, settled() ----------------

  private scheduleRescan(): void {
    this.rescanTimer = this.clock.setTimeout(() => {
      if (this.closed) return;
      this.scheduleRescan();
      // A pending burst's check is about to look anyway.
      if (!this.bursts.pending && !this.queued) this.enqueue({ trigger: 'rescan', full: true, dirty: new Set(), dirtyDirs: new Set() });
    }, this.rescanMs);
  }

  private enqueue(req: CheckRequest): void {
    if (this.closed) return;
    if (this.queued) {
      // Not started yet: one check answers both.
      const q = this.queued;
      if (req.trigger === 'watch') q.trigger = 'watch';
      q.full ||= req.full;
      for (const p of req.dirty) q.dirty.add(p);
      for (const d of req.dirtyDirs) q.dirtyDirs.add(d);
      return;
    }
    this.queued = req;
    void this.serial(async () => {
      const r = this.queued;
      this.queued = null;
      if (r && !this.closed) await this.check(r);
    });
  }

  private serial(fn: () => Promise<void>): Promise<void> {
    const run = this.track(this.lock.then(fn));
    this.lock = run.catch((err: unknown) => {
      this.logger.error({ err: errorMessage(err) }, 'watch check failed');
    });
    return run;
  }

  /** Counts `work` as pending for settled(); the returned promise settles as `work` does. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight += 1;
    const done = work.finally(() => {
      this.inflight -= 1;
      this.wakeSettled();
    });
    done.catch(() => {}); // the caller handles (or logs) the failure
    return done;
  }

  private isSettled(): boolean {
    return this.closed || (this.inflight === 0 && !this.bursts.pending && !this.queued);
  }

  private wakeSettled(): void {
    if (!this.isSettled()) return;
    const waiters = this.settledWaiters;
    this.settledWaiters = [];
    for (const w of waiters) w();
  }

  private callback(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, `watch ${name} callback failed`);
    }
  }

  // ---- the check: watch what the paths depend on, compare content -----

  private async check(req: CheckRequest): Promise<void> {
    const plans = await this.plan(req.full);
    if (this.closed) return;
    const look = this.content.begin(req);
    const changed: string[] = [];
    for (const plan of plans) {
      const state = plan.state;
      this.noteMissing(plan);
      const fp = await look.fingerprint(plan);
      const prev = state.committed;
      state.committed = fp;
      if (!prev) continue;
      for (const k of new Set([...prev.keys(), ...fp.keys()])) {
        if (prev.get(k) !== fp.get(k)) changed.push(k === '' ? state.path : childOf(state.path, k));
      }
    }
    look.commit();
    if (changed.length === 0 || this.closed) return;
    this.callback('onChange', () => this.opts.onChange(req.trigger, changed));
  }

  private noteMissing(plan: SpecPlan): void {
    const missing = plan.kind === 'missing';
    if (missing === plan.state.missing) return;
    plan.state.missing = missing;
    const path = plan.state.path;
    if (missing) {
      const nearest = plan.interests.at(-1)?.dir;
      this.logger.warn({ path, watching: nearest }, 'watched path does not exist; waiting for it to appear');
    } else {
      this.logger.info({ path }, 'watched path appeared');
    }
  }

  /**
   * Resolves every spec and watches the directories the resolutions
   * depended on, again until no new directory had to be watched: whatever
   * changes after the last resolution is then reported by a watch.
   */
  private async plan(full: boolean): Promise<SpecPlan[]> {
    for (let round = 0; ; round++) {
      const plans = await Promise.all(this.specs.map((s) => this.planSpec(s)));
      const desired = new Map<string, InterestEntry[]>();
      for (const p of plans) {
        for (const i of p.interests) {
          const list = desired.get(i.dir);
          if (list) list.push(i);
          else desired.set(i.dir, [i]);
        }
      }
      const treeDirs = new Set(plans.flatMap((p) => p.tree?.dirs ?? []));
      const moved = await this.dirs.apply(desired, treeDirs, full && round === 0);
      if (!moved || round >= 4 || this.closed) return plans;
    }
  }

  private async planSpec(state: SpecState): Promise<SpecPlan> {
    const r = await resolveWatched(state.path);
    const interests: InterestEntry[] = r.interests.map((i) => ({ ...i, target: state.path }));
    const plan: SpecPlan = { state, path: state.path, kind: r.kind, real: r.real, interests, ...(r.code ? { code: r.code } : {}) };
    if (r.kind !== 'dir' || r.real === null) return plan;
    const tree: TreeInfo = { root: r.real, recursive: state.spec.recursive ?? false, filter: state.spec.filter };
    plan.kind = 'tree';
    plan.tree = await walkTree(r.real, tree.recursive, tree.filter);
    for (const d of plan.tree.dirs) interests.push({ dir: d, name: null, target: null, tree });
    for (const f of plan.tree.files) {
      for (const i of f.interests ?? []) interests.push({ ...i, target: f.path });
    }
    return plan;
  }
}
