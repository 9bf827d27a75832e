// The watcher's burst state machine: when a burst of directory events is
// over and its paths should be checked. It knows nothing of fs.watch or of
// content; the watcher feeds it events and it calls `onSettled` once per
// burst. Time comes from an injectable Clock (the real one by default), so
// its tests run on a fake clock in milliseconds.
//
// - Quiet period: a burst is over `debounceMs` after its last event,
// - max wait: or `maxWaitMs` after its first event, under constant events.
// - Fast path: when every event of a burst is a 'rename' (inotify
//   CREATE/MOVED/DELETE; an in-place write gives 'change' = MODIFY) and each
//   path it names now is a different, non-empty file whose stat key (inode,
//   size, mtime, ctime) is the same on two looks `settleMs` apart, the file
//   was replaced whole (an editor's atomic save, a `..data` swap) and the
//   burst is over at once. 'change' events on a path gone by then (the temp
//   file of an atomic save, renamed away) do not hold it back. A file
//   created in place (open O_CREAT, then writes) shows 'change' events or is
//   empty at first, so it keeps the quiet period; so does any burst less
//   than `debounceMs` after the previous fast one, which bounds checks
//   under a storm of renames.
import type { StatKey } from './watch-paths.js';
import type { DirEvent } from './watch-poll.js';

/** What a Clock's setTimeout returns; only ever handed back to its clearTimeout. */
export type TimerId = object | number;

/** The time source of the burst logic and the rescan. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  /** Calls `fn` once after `ms`; the timer never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (id) => clearTimeout(id as NodeJS.Timeout),
};

/** What a finished burst named. */
export interface SettledBurst {
  /** Paths events named. */
  dirty: Set<string>;
  /** Directories an event without a usable name came from: everything in them. */
  dirtyDirs: Set<string>;
}

export interface BurstOptions {
  debounceMs: number;
  maxWaitMs: number;
  settleMs: number;
  clock: Clock;
  /** The fast path's look at a path now (stat, following symlinks); null when it fails. */
  look(path: string): Promise<StatKey | null>;
  /** A path's stat key at the last check ('missing' when it was absent; undefined when unknown). */
  committedKey(path: string): string | undefined;
  /** The burst is over: check what it named. Never called after close(). */
  onSettled(burst: SettledBurst): void;
}

interface Burst extends SettledBurst {
  /** A 'change' event named no entry: an in-place write somewhere, no fast path. */
  sawChange: boolean;
  /** Paths named by 'change' (in-place write) events. */
  written: Set<string>;
  /** Fast path: the first look at each path a 'rename' named. */
  looks: Map<string, Promise<StatKey | null>>;
}

/** `dev:ino` of a `dev:ino:size:mtime:ctime` stat key. */
const idOfKey = (key: string): string => key.split(':', 2).join(':');

export class BurstMachine {
  private burst: Burst | null = null;
  private quietTimer: TimerId | null = null;
  private maxTimer: TimerId | null = null;
  private probeTimer: TimerId | null = null;
  private lastFastAt = -Infinity;
  private closed = false;

  constructor(private readonly o: BurstOptions) {}

  /** A burst has begun and is not over yet. */
  get pending(): boolean {
    return this.burst !== null;
  }

  /**
   * One event from directory `dir`: `path` is the entry it named (null: none
   * usable, everything in `dir`), `targets` the paths it may have changed
   * (what the fast path looks at).
   */
  record(event: DirEvent, targets: readonly string[], dir: string, path: string | null): void {
    if (this.closed) return;
    const { clock } = this.o;
    let b = this.burst;
    if (!b) {
      b = this.burst = { sawChange: false, written: new Set(), dirty: new Set(), dirtyDirs: new Set(), looks: new Map() };
      this.maxTimer = clock.setTimeout(() => this.settle(), this.o.maxWaitMs);
    }
    if (path === null) b.dirtyDirs.add(dir);
    else b.dirty.add(path);
    if (event === 'change') {
      if (path === null) b.sawChange = true;
      for (const t of targets) b.written.add(t);
    } else if (!b.sawChange) {
      for (const t of targets) b.looks.set(t, this.o.look(t));
      if (this.probeTimer !== null) clock.clearTimeout(this.probeTimer);
      const burst = b;
      this.probeTimer = clock.setTimeout(() => void this.probe(burst), this.o.settleMs);
    }
    if (this.quietTimer !== null) clock.clearTimeout(this.quietTimer);
    this.quietTimer = clock.setTimeout(() => this.settle(), this.o.debounceMs);
  }

  /** Drops the burst in progress; nothing is reported after this. */
  close(): void {
    this.closed = true;
    this.clearTimers();
    this.burst = null;
  }

  private settle(): void {
    this.clearTimers();
    const b = this.burst;
    this.burst = null;
    if (b && !this.closed) this.o.onSettled({ dirty: b.dirty, dirtyDirs: b.dirtyDirs });
  }

  private clearTimers(): void {
    for (const t of [this.quietTimer, this.maxTimer, this.probeTimer]) if (t !== null) this.o.clock.clearTimeout(t);
    this.quietTimer = this.maxTimer = this.probeTimer = null;
  }

  /**
   * Fast path: settles at once when every path the burst named was replaced
   * whole and is settled. A path written in place that is gone again was a
   * temp file renamed away (an atomic save inside a watched directory): its
   * writes and its name do not hold the burst back; one still there does.
   */
  private async probe(b: Burst): Promise<void> {
    if (b !== this.burst || b.sawChange) return;
    if (this.o.clock.now() - this.lastFastAt < this.o.debounceMs) return;
    let replaced = false;
    for (const [target, look] of [...b.looks]) {
      const verdict = this.replacement(target, await look, await this.o.look(target));
      // Newer events for this burst: their own probe decides.
      if (b !== this.burst || b.sawChange || b.looks.get(target) !== look) return;
      if (verdict === 'no') return;
      if (verdict === 'replaced') replaced = true;
      else if (verdict === 'gone' && !b.written.has(target)) return;
    }
    // Last, so 'change' events that came in meanwhile count too.
    for (const p of [...b.written]) {
      if ((await this.o.look(p)) !== null || b !== this.burst) return;
    }
    if (replaced) {
      this.lastFastAt = this.o.clock.now();
      this.settle();
    }
  }

  /** What two looks `settleMs` apart say about one path the burst named. */
  private replacement(target: string, first: StatKey | null, second: StatKey | null): 'replaced' | 'untouched' | 'gone' | 'no' {
    // Gone: a temp file renamed away (fine when it was written), or a deletion (the quiet period's check reports it).
    if (second === null) return 'gone';
    if (!first || first.key !== second.key) return 'no';
    const committed = this.o.committedKey(target);
    if (committed === second.key) return 'untouched'; // named but untouched (e.g. an old ..data dir removed)
    if (!second.isFile || second.size === 0n) return 'no';
    if (committed !== undefined && committed !== 'missing' && idOfKey(committed) === second.id) return 'no'; // same inode: written in place
    return 'replaced';
  }
}
