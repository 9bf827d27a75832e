// The watcher's directory set: which directories are watched and for which
// entries, their fs.watch handles, and the fallback to polling a directory
// fs.watch cannot watch (ENOSPC/EMFILE: inotify limits; EACCES…). It turns
// raw events into the paths they may have changed; the burst logic decides
// when to look.
//
// A handle is reopened when the directory at its path is another one
// (device, inode and birth time differ) and when it reported its own
// directory gone: a directory deleted and recreated at once often gets the
// old inode number back, while the kernel dropped the old watch with the old
// directory. Such a lost handle, and every polled directory, make the
// watcher's health() not ok.
import { watch as nodeFsWatch } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { basename, relative } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import { childOf, errorCode } from './watch-paths.js';
import { PollingDir, type DirEvent, type DirEventListener, type DirHandle } from './watch-poll.js';

/** What fs.watch returns, as far as the watcher uses it. */
interface FsWatchHandle {
  close(): void;
  on(event: 'error', listener: (err: Error) => void): unknown;
}
export type WatchFunction = (dir: string, listener: DirEventListener) => FsWatchHandle;

export const nodeWatch: WatchFunction = (dir, listener) =>
  // persistent: false: watching alone never keeps the process alive.
  nodeFsWatch(dir, { persistent: false }, (event, name) => listener(event as DirEvent, name === null ? null : String(name)));

/** A watched directory tree (a spec naming a directory). */
export interface TreeInfo {
  root: string;
  recursive: boolean;
  filter: ((rel: string) => boolean) | undefined;
}

/** Why a directory is watched: an entry in it a watched path depends on. */
export interface InterestEntry {
  dir: string;
  /** null: every entry (a directory of a watched tree). */
  name: string | null;
  /** What the fast path looks at for an event here; null: the entry the event names. */
  target: string | null;
  tree?: TreeInfo;
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
   * apply(); health is not ok until then.
   */
  lost?: boolean;
}

export interface DirectorySetOptions {
  pollMs: number;
  logger: Logger;
  watchFunction: WatchFunction;
  /** The watcher is closing: open nothing more, report nothing more. */
  closed(): boolean;
  /** Every raw event, polled differences included. */
  onRawEvent(): void;
  /** A directory could not be watched (it is polled instead). */
  onError(err: Error): void;
  /** An event that may have changed `targets`: `path` is the entry it named, null for everything in `dir`. */
  onTargets(event: DirEvent, targets: readonly string[], dir: string, path: string | null): void;
  /** Work an event started after it returned (the watcher is not settled until it ends). */
  track(work: Promise<void>): void;
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

export class DirectorySet {
  private readonly dirs = new Map<string, DirWatch>();
  /** Every directory of every watched tree: a name a tree filter rejects may be one of them. */
  private treeDirs = new Set<string>();

  constructor(private readonly o: DirectorySetOptions) {}

  /**
   * Brings the watched directories in line with `desired` (directory → why);
   * true when one had to be (re)opened, so what was resolved before may be
   * stale. `retryPolling`: polled directories try fs.watch again.
   */
  async apply(desired: Map<string, InterestEntry[]>, treeDirs: Set<string>, retryPolling: boolean): Promise<boolean> {
    this.treeDirs = treeDirs;
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
      if (this.o.closed()) return false;
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
        if (retryPolling && dw.handle.mode === 'poll') this.retryWatch(dw);
        continue;
      }
      const fresh = await this.openDir(dir, interests);
      moved = true;
      if (!fresh) continue;
      if (this.o.closed()) {
        fresh.handle.close();
        return false;
      }
      this.dirs.set(dir, fresh);
    }
    return moved;
  }

  /** Why watching is degraded (polled directories, lost handles); empty when it is not. */
  /** 'lost' while a directory's watch is lost, else 'polling' while one is polled, else 'watching'. */
  mode(): 'watching' | 'polling' | 'lost' {
    const all = [...this.dirs.values()];
    if (all.some((d) => d.lost)) return 'lost';
    return all.some((d) => d.handle.mode === 'poll') ? 'polling' : 'watching';
  }

  degraded(): string[] {
    const reasons: string[] = [];
    const all = [...this.dirs.values()];
    const polled = all.filter((d) => d.handle.mode === 'poll');
    if (polled.length > 0) {
      const codes = [...new Set(polled.map((d) => d.pollReason ?? 'error'))];
      const hint = codes.includes('ENOSPC') ? '; raise fs.inotify.max_user_watches' : '';
      const n = polled.length;
      reasons.push(`polling ${n} director${n === 1 ? 'y' : 'ies'} every ${this.o.pollMs} ms (${codes.join(', ')}${hint})`);
    }
    const lost = all.filter((d) => d.lost).map((d) => d.dir);
    if (lost.length > 0) {
      const n = lost.length;
      reasons.push(`${n} directory watch${n === 1 ? '' : 'es'} lost (directory deleted or replaced; reopening at the next check): ${lost.join(', ')}`);
    }
    return reasons;
  }

  closeAll(): void {
    for (const dw of this.dirs.values()) dw.handle.close();
    this.dirs.clear();
  }

  private onDirEvent(dw: DirWatch, event: DirEvent, name: string | null): void {
    this.o.onRawEvent();
    if (this.o.closed() || this.dirs.get(dw.dir) !== dw) return;
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
      this.o.onTargets(event, targets, dw.dir, path);
    } else if (maybeDir && path !== null) {
      // A name the filter rejects may be a new subdirectory of a recursive tree.
      this.o.track(
        lstat(path).then(
          (s) => {
            if (s.isDirectory() && !this.o.closed()) this.o.onTargets('rename', [path], dw.dir, path);
          },
          () => {},
        ),
      );
    }
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
    const w = this.o.watchFunction(dw.dir, (event, name) => this.onDirEvent(dw, event, name));
    w.on('error', (err) => this.o.track(this.onWatchError(dw, err)));
    return { mode: 'inotify', close: () => w.close() };
  }

  private async poll(dw: DirWatch, code: string): Promise<DirHandle> {
    const p = new PollingDir(
      dw.dir,
      () => dw.names,
      (event, name) => this.onDirEvent(dw, event, name),
      this.o.pollMs,
    );
    dw.pollReason = code;
    await p.start();
    return p;
  }

  /** An error from a live watch (e.g. ENOSPC reported late): poll instead, and look again. */
  private async onWatchError(dw: DirWatch, err: Error): Promise<void> {
    if (this.o.closed() || this.dirs.get(dw.dir) !== dw || dw.handle.mode === 'poll') return;
    this.reportError(err, dw.dir);
    dw.handle.close();
    dw.handle = await this.poll(dw, errorCode(err));
    if (this.o.closed() || this.dirs.get(dw.dir) !== dw) {
      dw.handle.close();
      return;
    }
    this.o.onTargets('rename', [], dw.dir, null);
  }

  /** At a rescan, a polled directory tries fs.watch again (a limit may have been raised). */
  private retryWatch(dw: DirWatch): void {
    let handle: DirHandle;
    try {
      handle = this.watchDir(dw);
    } catch {
      return;
    }
    dw.handle.close();
    dw.handle = handle;
    delete dw.pollReason;
    this.o.logger.info({ dir: dw.dir }, 'watching directory again instead of polling');
  }

  private reportError(err: unknown, dir: string): void {
    const code = errorCode(err);
    const why = code === 'ENOSPC' || code === 'EMFILE' ? 'inotify limit reached' : 'cannot watch directory';
    this.o.logger.warn({ dir, code, err: errorMessage(err), poll_ms: this.o.pollMs }, `${why}; polling it instead`);
    this.o.onError(err instanceof Error ? err : new Error(errorMessage(err)));
  }
}
