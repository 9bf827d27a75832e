// The polling fallback for one directory, used when fs.watch cannot watch it
// (ENOSPC/EMFILE: inotify limits; EACCES…). It lstat()s the entries the
// watcher cares about every interval and turns differences into the same
// events fs.watch gives: 'rename' when an entry appears, disappears or is
// another inode, 'change' when the same inode changed.
import { lstat, readdir } from 'node:fs/promises';
import { basename } from 'node:path';
import { childOf } from './watch-paths.js';

export type DirEvent = 'rename' | 'change';
export type DirEventListener = (event: DirEvent, name: string | null) => void;

/** A watched directory, by inotify or by polling. */
export interface DirHandle {
  readonly mode: 'inotify' | 'poll';
  close(): void;
}

interface EntryKey {
  id: string;
  key: string;
}

async function entryKey(path: string): Promise<EntryKey | null> {
  try {
    const s = await lstat(path, { bigint: true });
    const type = s.isDirectory() ? 'd' : s.isSymbolicLink() ? 'l' : s.isFile() ? 'f' : 'o';
    const id = `${s.dev}:${s.ino}`;
    return { id, key: `${type}:${id}:${s.size}:${s.mtimeNs}:${s.ctimeNs}` };
  } catch {
    return null;
  }
}

export class PollingDir implements DirHandle {
  readonly mode = 'poll' as const;
  private prev = new Map<string, EntryKey>();
  private self: EntryKey | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private closed = false;
  /** Looks taken since start() (each compared with the one before). */
  ticks = 0;

  /**
   * @param names the entries to look at, or null for every entry (tree directories)
   */
  constructor(
    readonly dir: string,
    private readonly names: () => readonly string[] | null,
    private readonly listener: DirEventListener,
    private readonly intervalMs: number,
  ) {}

  /** Takes the first look (so nothing that happens afterwards is missed) and starts polling. */
  async start(): Promise<void> {
    [this.self, this.prev] = await Promise.all([entryKey(this.dir), this.look()]);
    if (this.closed) return;
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async look(): Promise<Map<string, EntryKey>> {
    let names = this.names();
    if (names === null) {
      try {
        names = await readdir(this.dir);
      } catch {
        names = [];
      }
    }
    const keys = await Promise.all(names.map((n) => entryKey(childOf(this.dir, n))));
    const out = new Map<string, EntryKey>();
    names.forEach((n, i) => {
      const k = keys[i];
      if (k) out.set(n, k);
    });
    return out;
  }

  private async tick(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      const [self, next] = await Promise.all([entryKey(this.dir), this.look()]);
      if (this.closed) return;
      const events: [DirEvent, string | null][] = [];
      for (const name of new Set([...this.prev.keys(), ...next.keys()])) {
        const a = this.prev.get(name);
        const b = next.get(name);
        if (a?.key === b?.key) continue;
        events.push([a && b && a.id === b.id ? 'change' : 'rename', name]);
      }
      // The directory itself deleted or replaced: what inotify reports as an event on itself.
      if (self?.id !== this.self?.id) events.push(['rename', basename(this.dir)]);
      this.prev = next;
      this.self = self;
      this.ticks += 1;
      for (const [ev, name] of events) this.listener(ev, name);
    } finally {
      this.busy = false;
    }
  }
}
