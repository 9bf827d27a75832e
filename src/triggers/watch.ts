// Change detection (SPEC §2): a thin layer over fs.watch that never misses a
// change and never reports one twice.
//
// API (used by createReloader's `triggers.watch` and by the daemon):
//
//   const w = await createWatcher(specs, { debounceMs, maxWaitMs, rescanMs, logger,
//     onChange(trigger, paths) {…}, onEvent() {…}, onError(err) {…} });
//   await w.setSpecs(newSpecs);   // new watch list; paths kept keep their state
//   w.health();                   // { ok: false, reason } while any directory is polled
//                                 // or its lost watch is not yet reopened
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
// How it works:
// - Directories are watched, never files: the parent of every path, every
//   directory a symlink on the way passes through (a Kubernetes ConfigMap's
//   `config.yaml -> ..data/config.yaml`, `..data -> ..2026_…`), each
//   subdirectory of a recursive spec (fs.watch `recursive` does not work on
//   Linux with Node 20), and for a missing path its nearest existing
//   ancestor. After every check the set is recomputed, so paths that appear,
//   vanish, or directories deleted and recreated keep being watched.
// - Events are hints: only events naming an entry a path depends on count
//   (so unrelated files in the same directory cost nothing), and they only
//   schedule a check. The check compares SHA-256 hashes of the resolved real
//   files with the last ones; only a difference calls onChange.
// - Timing: a burst of events is checked after `debounceMs` of quiet, or
//   `maxWaitMs` after its first event under constant writes. Fast path: when
//   every event of a burst is a 'rename' (inotify CREATE/MOVED/DELETE; an
//   in-place write gives 'change' = MODIFY) — 'change' events on a path gone
//   by the settle check (a temp file renamed away) aside — and each path it names now is a
//   different, non-empty file whose inode, size, mtime and ctime are the same
//   on two looks `settleMs` (10 ms) apart, the file was replaced whole (an
//   editor's atomic save, a `..data` swap) and is checked at once. A file
//   created in place (open O_CREAT, then writes) shows 'change' events or is
//   empty at first, so it keeps the quiet period; so does any burst less than
//   `debounceMs` after the previous fast check, which bounds passes under a
//   storm of renames.
import { watch as nodeFsWatch } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { basename, relative, resolve } from 'node:path';
import { ReloadkitError, errorMessage } from '../engine/errors.js';
import { noopLogger } from '../engine/logger.js';
import type { Logger, WatchSpec } from '../types.js';
import { watchTimings } from './watch-options.js';
import { PollingDir, type DirEvent, type DirEventListener, type DirHandle } from './watch-poll.js';
import {
  childOf,
  errorCode,
  hashFile,
  resolveWatched,
  statKey,
  walkTree,
  type ResolvedKind,
  type StatKey,
  type Tree,
} from './watch-paths.js';

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
}

export interface Watcher {
  /** Replaces the watch list; paths still listed keep their recorded content. */
  setSpecs(specs: readonly WatchSpec[]): Promise<void>;
  /** Not ok while any directory is polled instead of watched, or its watch was lost and not yet reopened (shown by /ready). */
  health(): { ok: boolean; reason?: string };
  close(): Promise<void>;
}

/** What fs.watch returns, as far as the watcher uses it. */
export interface FsWatchHandle {
  close(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
export type WatchFunction = (dir: string, listener: DirEventListener) => FsWatchHandle;

const nodeWatch: WatchFunction = (dir, listener) =>
  // persistent: false: watching alone never keeps the process alive.
  nodeFsWatch(dir, { persistent: false }, (event, name) => listener(event as DirEvent, name === null ? null : String(name)));

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
  if (!Array.isArray(specs)) throw new ReloadkitError('ERR_OPTIONS', 'watch specs must be an array of { path }');
  for (const s of specs) {
    if (!s || typeof s.path !== 'string' || s.path === '' || s.path.includes('\0')) {
      throw new ReloadkitError('ERR_OPTIONS', `watch spec needs a non-empty path, got ${JSON.stringify(s?.path)}`);
    }
    if (s.filter !== undefined && typeof s.filter !== 'function') {
      throw new ReloadkitError('ERR_OPTIONS', `watch spec ${s.path}: filter must be a function`);
    }
  }
}

interface TreeInfo {
  root: string;
  recursive: boolean;
  filter: ((rel: string) => boolean) | undefined;
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

interface InterestEntry {
  dir: string;
  /** null: every entry (a directory of a watched tree). */
  name: string | null;
  spec: SpecState;
  /** What the fast path looks at for an event here; null: the entry the event names. */
  target: string | null;
  tree?: TreeInfo;
}

interface SpecPlan {
  state: SpecState;
  kind: ResolvedKind | 'tree';
  real: string | null;
  code?: string;
  tree?: Tree;
  interests: InterestEntry[];
}

interface DirWatch {
  dir: string;
  handle: DirHandle;
  identity: string | null;
  interests: InterestEntry[];
  /** Entry names the poller looks at; null = all. */
  names: string[] | null;
  /** errno code that made us poll this directory. */
  pollReason?: string;
  /**
   * The handle reported its own directory gone (deleted or moved): the kernel
   * dropped its watch, whatever now stands at the path. Reopened at the next
   * check; health() is not ok until then.
   */
  lost?: boolean;
}

interface Burst {
  /** A 'change' event named no entry: an in-place write somewhere, no fast path. */
  sawChange: boolean;
  /** Paths named by 'change' (in-place write) events. */
  written: Set<string>;
  dirty: Set<string>;
  dirtyDirs: Set<string>;
  /** Fast path: the first look at each path a 'rename' named. */
  looks: Map<string, Promise<StatKey | null>>;
}

interface CheckRequest {
  trigger: WatchTrigger;
  full: boolean;
  dirty: Set<string>;
  dirtyDirs: Set<string>;
}

/**
 * Which directory stands at `dir`: device, inode and birth time (a directory
 * deleted and recreated at once often gets the old inode number back).
 */
async function dirIdentity(dir: string): Promise<string | null> {
  try {
    const s = await stat(dir, { bigint: true });
    return s.isDirectory() ? `${s.dev}:${s.ino}:${s.birthtimeNs}` : null;
  } catch {
    return null;
  }
}

function namesOf(interests: readonly InterestEntry[]): string[] | null {
  const names = new Set<string>();
  for (const i of interests) {
    if (i.name === null) return null;
    names.add(i.name);
  }
  return [...names];
}

const idOfKey = (key: string): string => key.split(':', 2).join(':');

class DirectoryWatcher implements Watcher {
  private readonly debounceMs: number;
  private readonly maxWaitMs: number;
  private readonly rescanMs: number;
  private readonly settleMs: number;
  private readonly pollMs: number;
  private readonly logger: Logger;
  private readonly watchFn: WatchFunction;
  private specs: SpecState[] = [];
  private readonly dirs = new Map<string, DirWatch>();
  private treeDirs = new Set<string>();
  /** Per fast-path target: stat key at the last check ('missing' when absent). */
  private committedKeys = new Map<string, string>();
  private hashCache = new Map<string, { key: string; hash: string }>();
  private burst: Burst | null = null;
  private quietTimer: NodeJS.Timeout | null = null;
  private maxTimer: NodeJS.Timeout | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private rescanTimer: NodeJS.Timeout | null = null;
  private lastFastAt = -Infinity;
  private queued: CheckRequest | null = null;
  private lock: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly opts: WatcherOptions) {
    if (!opts || typeof opts.onChange !== 'function') throw new ReloadkitError('ERR_OPTIONS', 'createWatcher needs an onChange function');
    const t = watchTimings({
      debounceMs: opts.debounceMs,
      maxWaitMs: opts.maxWaitMs,
      rescanMs: opts.rescanMs,
      settleMs: opts.settleMs,
      pollMs: opts.pollMs,
    });
    this.debounceMs = t.debounceMs;
    this.maxWaitMs = t.maxWaitMs;
    this.rescanMs = t.rescanMs;
    this.settleMs = t.settleMs;
    this.pollMs = t.pollMs;
    this.logger = opts.logger ?? noopLogger;
    this.watchFn = opts.watchFunction ?? nodeWatch;
  }

  async init(specs: readonly WatchSpec[]): Promise<void> {
    await this.setSpecs(specs);
    if (this.rescanMs > 0 && !this.closed) {
      this.rescanTimer = setInterval(() => {
        // A pending burst's check is about to look anyway.
        if (!this.burst && !this.queued) this.fire('rescan');
      }, this.rescanMs);
      this.rescanTimer.unref();
    }
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

  health(): { ok: boolean; reason?: string } {
    if (this.closed) return { ok: false, reason: 'watcher closed' };
    const reasons: string[] = [];
    const polled = [...this.dirs.values()].filter((d) => d.handle.mode === 'poll');
    if (polled.length > 0) {
      const codes = [...new Set(polled.map((d) => d.pollReason ?? 'error'))];
      const hint = codes.includes('ENOSPC') ? '; raise fs.inotify.max_user_watches' : '';
      const n = polled.length;
      reasons.push(`polling ${n} director${n === 1 ? 'y' : 'ies'} every ${this.pollMs} ms (${codes.join(', ')}${hint})`);
    }
    const lost = [...this.dirs.values()].filter((d) => d.lost).map((d) => d.dir);
    if (lost.length > 0) {
      const n = lost.length;
      reasons.push(`${n} directory watch${n === 1 ? '' : 'es'} lost (directory deleted or replaced; reopening at the next check): ${lost.join(', ')}`);
    }
    return reasons.length === 0 ? { ok: true } : { ok: false, reason: `watching degraded: ${reasons.join('; ')}` };
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.clearBurstTimers();
      this.burst = null;
      this.queued = null;
      if (this.rescanTimer) clearInterval(this.rescanTimer);
      this.rescanTimer = null;
    }
    // Let a running check finish (it calls nothing once closed), then release everything.
    await this.lock;
    for (const dw of this.dirs.values()) dw.handle.close();
    this.dirs.clear();
  }

  // ---- events and timing ----------------------------------------------

  private onDirEvent(dw: DirWatch, event: DirEvent, name: string | null): void {
    try {
      this.opts.onEvent?.();
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'watch onEvent callback failed');
    }
    if (this.closed || this.dirs.get(dw.dir) !== dw) return;
    const path = name === null ? null : childOf(dw.dir, name);
    // An event without a name, or naming the directory itself (deleted, moved): everything here.
    const self = path === null || name === basename(dw.dir);
    // A 'rename' of the directory itself ends an inotify watch, even when a new
    // directory with the same inode number is there by the time we look.
    if (self && event === 'rename' && dw.handle.mode === 'inotify') dw.lost = true;
    const targets: string[] = [];
    let maybeDir = false;
    for (const i of dw.interests) {
      if (self || i.name === name) {
        targets.push(i.target ?? path ?? dw.dir);
      } else if (i.name === null && i.tree && path !== null) {
        if (!i.tree.filter || i.tree.filter(relative(i.tree.root, path)) || this.treeDirs.has(path)) targets.push(path);
        else if (i.tree.recursive) maybeDir = true;
      }
    }
    if (targets.length > 0) {
      this.record(event, targets, dw.dir, path);
    } else if (maybeDir && path !== null) {
      // A name the filter rejects may be a new subdirectory of a recursive tree.
      lstat(path).then(
        (s) => {
          if (s.isDirectory() && !this.closed) this.record('rename', [path], dw.dir, path);
        },
        () => {},
      );
    }
  }

  private record(event: DirEvent, targets: readonly string[], dir: string, path: string | null): void {
    let b = this.burst;
    if (!b) {
      b = this.burst = { sawChange: false, written: new Set(), dirty: new Set(), dirtyDirs: new Set(), looks: new Map() };
      this.maxTimer = setTimeout(() => this.fire('watch'), this.maxWaitMs);
      this.maxTimer.unref();
    }
    if (path === null) b.dirtyDirs.add(dir);
    else b.dirty.add(path);
    if (event === 'change') {
      if (path === null) b.sawChange = true;
      for (const t of targets) b.written.add(t);
    } else if (!b.sawChange) {
      for (const t of targets) b.looks.set(t, statKey(t));
      if (this.probeTimer) clearTimeout(this.probeTimer);
      const burst = b;
      this.probeTimer = setTimeout(() => void this.probe(burst), this.settleMs);
      this.probeTimer.unref();
    }
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.fire('watch'), this.debounceMs);
    this.quietTimer.unref();
  }

  /**
   * Fast path: fires at once when every path the burst named was replaced
   * whole and is settled. A path written in place that is gone again was a
   * temp file renamed away (an atomic save inside a watched directory): its
   * writes and its name do not hold the burst back; one still there does.
   */
  private async probe(b: Burst): Promise<void> {
    if (b !== this.burst || b.sawChange || this.closed) return;
    if (performance.now() - this.lastFastAt < this.debounceMs) return;
    let replaced = false;
    for (const [target, look] of [...b.looks]) {
      const first = await look;
      const second = await statKey(target);
      // Newer events for this burst: their own probe decides.
      if (b !== this.burst || b.sawChange || b.looks.get(target) !== look) return;
      // Gone: a temp file renamed away, or a deletion (the quiet period's check reports it).
      if (second === null && b.written.has(target)) continue;
      if (!first || !second || first.key !== second.key) return;
      const committed = this.committedKeys.get(target);
      if (committed === second.key) continue; // named but untouched (e.g. an old ..data dir removed)
      if (!second.isFile || second.size === 0n) return;
      if (committed !== undefined && committed !== 'missing' && idOfKey(committed) === second.id) return; // same inode: written in place
      replaced = true;
    }
    // Last, so 'change' events that came in meanwhile count too.
    for (const p of [...b.written]) {
      if ((await statKey(p)) !== null || b !== this.burst) return;
    }
    if (replaced) {
      this.lastFastAt = performance.now();
      this.fire('watch');
    }
  }

  private clearBurstTimers(): void {
    for (const t of [this.quietTimer, this.maxTimer, this.probeTimer]) if (t) clearTimeout(t);
    this.quietTimer = this.maxTimer = this.probeTimer = null;
  }

  private fire(trigger: WatchTrigger): void {
    if (this.closed) return;
    this.clearBurstTimers();
    const b = this.burst;
    this.burst = null;
    const req: CheckRequest = {
      trigger,
      full: trigger === 'rescan',
      dirty: b?.dirty ?? new Set(),
      dirtyDirs: b?.dirtyDirs ?? new Set(),
    };
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
    const run = this.lock.then(fn);
    this.lock = run.catch((err: unknown) => {
      this.logger.error({ err: errorMessage(err) }, 'watch check failed');
    });
    return run;
  }

  // ---- the check: watch what the paths depend on, compare content -----

  private async check(req: CheckRequest): Promise<void> {
    const plans = await this.plan(req.full);
    if (this.closed) return;
    const nextKeys = new Map<string, string>();
    const nextCache = new Map<string, { key: string; hash: string }>();
    const changed: string[] = [];
    for (const plan of plans) {
      const state = plan.state;
      this.noteMissing(plan);
      const fp = await this.fingerprint(plan, req, nextKeys, nextCache);
      const prev = state.committed;
      state.committed = fp;
      if (!prev) continue;
      for (const k of new Set([...prev.keys(), ...fp.keys()])) {
        if (prev.get(k) !== fp.get(k)) changed.push(k === '' ? state.path : childOf(state.path, k));
      }
    }
    this.committedKeys = nextKeys;
    this.hashCache = nextCache;
    if (changed.length === 0 || this.closed) return;
    try {
      this.opts.onChange(req.trigger, changed);
    } catch (err) {
      this.logger.error({ err: errorMessage(err) }, 'watch onChange callback failed');
    }
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
      this.treeDirs = new Set(plans.flatMap((p) => p.tree?.dirs ?? []));
      const moved = await this.applyWatches(desired, full && round === 0);
      if (!moved || round >= 4 || this.closed) return plans;
    }
  }

  private async planSpec(state: SpecState): Promise<SpecPlan> {
    const r = await resolveWatched(state.path);
    const interests: InterestEntry[] = r.interests.map((i) => ({ ...i, spec: state, target: state.path }));
    const plan: SpecPlan = { state, kind: r.kind, real: r.real, interests, ...(r.code ? { code: r.code } : {}) };
    if (r.kind !== 'dir' || r.real === null) return plan;
    const tree: TreeInfo = { root: r.real, recursive: state.spec.recursive ?? false, filter: state.spec.filter };
    plan.kind = 'tree';
    plan.tree = await walkTree(r.real, tree.recursive, tree.filter);
    for (const d of plan.tree.dirs) interests.push({ dir: d, name: null, spec: state, target: null, tree });
    for (const f of plan.tree.files) {
      for (const i of f.interests ?? []) interests.push({ ...i, spec: state, target: f.path });
    }
    return plan;
  }

  /** Brings the watched directories in line with `desired`; true when one had to be (re)opened. */
  private async applyWatches(desired: Map<string, InterestEntry[]>, retryPolling: boolean): Promise<boolean> {
    let moved = false;
    for (const [dir, dw] of this.dirs) {
      if (!desired.has(dir)) {
        dw.handle.close();
        this.dirs.delete(dir);
      }
    }
    const kept = [...this.dirs.keys()];
    const ids = new Map(await Promise.all(kept.map(async (d) => [d, await dirIdentity(d)] as const)));
    for (const [dir, interests] of desired) {
      if (this.closed) return false;
      let dw = this.dirs.get(dir);
      if (dw && (dw.lost || dw.identity !== (ids.has(dir) ? ids.get(dir) : await dirIdentity(dir)))) {
        // Deleted, or deleted and recreated: the old watch sees nothing any more.
        dw.handle.close();
        this.dirs.delete(dir);
        dw = undefined;
        moved = true;
      }
      if (dw) {
        dw.interests = interests;
        dw.names = namesOf(interests);
        if (retryPolling && dw.handle.mode === 'poll') await this.retryWatch(dw);
        continue;
      }
      const fresh = await this.openDir(dir, interests);
      moved = true;
      if (!fresh) continue;
      if (this.closed) {
        fresh.handle.close();
        return false;
      }
      this.dirs.set(dir, fresh);
    }
    return moved;
  }

  private async openDir(dir: string, interests: InterestEntry[]): Promise<DirWatch | null> {
    const dw: DirWatch = { dir, handle: { mode: 'inotify', close() {} }, identity: null, interests, names: namesOf(interests) };
    try {
      dw.handle = this.watchDir(dw);
    } catch (err) {
      const code = errorCode(err);
      if (code === 'ENOENT' || code === 'ENOTDIR') return null; // gone meanwhile: the next round sees it
      this.reportError(err, dir);
      dw.handle = await this.poll(dw, code);
    }
    dw.identity = await dirIdentity(dir);
    if (dw.identity === null) {
      dw.handle.close();
      return null;
    }
    return dw;
  }

  private watchDir(dw: DirWatch): DirHandle {
    const w = this.watchFn(dw.dir, (event, name) => this.onDirEvent(dw, event, name));
    w.on('error', (err) => void this.onWatchError(dw, err));
    return { mode: 'inotify', close: () => w.close() };
  }

  private async poll(dw: DirWatch, code: string): Promise<DirHandle> {
    const p = new PollingDir(dw.dir, () => dw.names, (event, name) => this.onDirEvent(dw, event, name), this.pollMs);
    dw.pollReason = code;
    await p.start();
    return p;
  }

  /** An error from a live watch (e.g. ENOSPC reported late): poll instead, and look again. */
  private async onWatchError(dw: DirWatch, err: Error): Promise<void> {
    if (this.closed || this.dirs.get(dw.dir) !== dw || dw.handle.mode === 'poll') return;
    this.reportError(err, dw.dir);
    dw.handle.close();
    dw.handle = await this.poll(dw, errorCode(err));
    if (this.closed || this.dirs.get(dw.dir) !== dw) {
      dw.handle.close();
      return;
    }
    this.record('rename', [], dw.dir, null);
  }

  /** At a rescan, polled directories try fs.watch again (a limit may have been raised). */
  private async retryWatch(dw: DirWatch): Promise<void> {
    let handle: DirHandle;
    try {
      handle = this.watchDir(dw);
    } catch {
      return;
    }
    dw.handle.close();
    dw.handle = handle;
    delete dw.pollReason;
    this.logger.info({ dir: dw.dir }, 'watching directory again instead of polling');
  }

  private reportError(err: unknown, dir: string): void {
    const code = errorCode(err);
    const why = code === 'ENOSPC' || code === 'EMFILE' ? 'inotify limit reached' : 'cannot watch directory';
    this.logger.warn({ dir, code, err: errorMessage(err), poll_ms: this.pollMs }, `${why}; polling it instead`);
    try {
      this.opts.onError?.(err instanceof Error ? err : new Error(errorMessage(err)));
    } catch (cbErr) {
      this.logger.error({ err: errorMessage(cbErr) }, 'watch onError callback failed');
    }
  }

  // ---- content ----------------------------------------------------------

  private async fingerprint(
    plan: SpecPlan,
    req: CheckRequest,
    keys: Map<string, string>,
    cache: Map<string, { key: string; hash: string }>,
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (plan.kind !== 'tree') {
      out.set('', await this.fileState(plan.state.path, plan.kind, plan.real, plan.code, true, keys, cache));
      return out;
    }
    out.set('', 'dir');
    const files = plan.tree!.files;
    // Small batches keep a large tree from opening thousands of files at once.
    for (let i = 0; i < files.length; i += 32) {
      await Promise.all(
        files.slice(i, i + 32).map(async (f) => {
          const dirty =
            req.full ||
            req.dirty.has(f.path) ||
            (f.real !== null && req.dirty.has(f.real)) ||
            req.dirtyDirs.has(f.path.slice(0, f.path.lastIndexOf('/')) || '/');
          out.set(f.rel, await this.fileState(f.path, f.kind, f.real, f.code, dirty, keys, cache));
        }),
      );
    }
    return out;
  }

  private async fileState(
    target: string,
    kind: ResolvedKind | 'tree',
    real: string | null,
    code: string | undefined,
    forceHash: boolean,
    keys: Map<string, string>,
    cache: Map<string, { key: string; hash: string }>,
  ): Promise<string> {
    if (kind === 'missing' || real === null) {
      keys.set(target, 'missing');
      return kind === 'error' ? `error:${code ?? 'EUNKNOWN'}` : 'missing';
    }
    if (kind !== 'file') return kind;
    const sk = await statKey(target);
    if (!sk) {
      keys.set(target, 'missing');
      return 'missing';
    }
    keys.set(target, sk.key);
    if (!sk.isFile) return 'other';
    const cached = this.hashCache.get(real);
    if (!forceHash && cached && cached.key === sk.key) {
      cache.set(real, cached);
      return `file:${cached.hash}`;
    }
    try {
      const hash = await hashFile(real, sk.size);
      cache.set(real, { key: sk.key, hash });
      return `file:${hash}`;
    } catch (err) {
      const c = errorCode(err);
      return c === 'ENOENT' ? 'missing' : `error:${c}`;
    }
  }
}
