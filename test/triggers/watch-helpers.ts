// Helpers for the watcher tests: temp dirs, a watcher that records what it
// reports, waits on what it observably did (changes, events, settled()), a
// fake clock for the burst logic, and the exact file-system sequences of
// editors and of the Kubernetes ConfigMap atomic writer.
import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile, copyFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { readFileSync, watch } from 'node:fs';
import type { DirEvent } from '../../src/triggers/watch-poll.js';
import { createWatcher, type WatchFunction, type Watcher, type WatcherOptions, type WatchTrigger } from '../../src/triggers/watch.js';
import type { Logger, WatchSpec } from '../../src/shared/types.js';
import type { Clock, TimerId } from '../../src/triggers/watch-burst.js';
import { waitFor } from '../helpers/wait.js';

export async function tempDir(t: TestContext, prefix = 'reloadkit-watch-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The real fs.watch, as the watcher calls it; tests wrap it to inject failures. */
export const realWatch: WatchFunction = (dir, listener) =>
  watch(dir, { persistent: false }, (ev, name) => listener(ev as DirEvent, name === null ? null : String(name)));

interface Change {
  trigger: WatchTrigger;
  paths: string[];
  /** Whatever `observe` read at the moment of the change (e.g. file content). */
  seen: unknown;
}

export interface LogLine {
  level: keyof Logger;
  msg: string | undefined;
  obj: Record<string, unknown>;
}

export function recordingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: keyof Logger) => (obj: Record<string, unknown>, msg?: string) => void lines.push({ level, obj, msg });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

export interface Recorder {
  watcher: Watcher;
  changes: Change[];
  events: number;
  errors: Error[];
  logger: ReturnType<typeof recordingLogger>;
}

/**
 * Starts a watcher whose onChange records the change and calls `observe`
 * synchronously (so `seen` is what a reload at that moment would read).
 */
export async function startRecorder(
  t: TestContext,
  specs: WatchSpec[],
  options: Partial<Omit<WatcherOptions, 'onChange'>> = {},
  observe: () => unknown = () => undefined,
): Promise<Recorder> {
  const logger = recordingLogger();
  const rec = { changes: [] as Change[], events: 0, errors: [] as Error[], logger } as Recorder;
  rec.watcher = await createWatcher(specs, {
    logger,
    ...options,
    onChange: (trigger, paths) => void rec.changes.push({ trigger, paths, seen: observe() }),
    onEvent: () => void (rec.events += 1),
    onError: (err) => void rec.errors.push(err),
  });
  t.after(() => rec.watcher.close());
  return rec;
}

/**
 * Waits until the watcher has handled every event the kernel already queued
 * for it: the event loop reads them, then settled() (no burst pending, no
 * check running), again while that brought new events. What the test did
 * before calling this can no longer cause a change.
 */
export async function quiesce(rec: Recorder, timeoutMs = 15_000): Promise<void> {
  // The watcher's timers do not keep the process alive; this deadline does, and names the failure.
  let deadline: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    deadline = setTimeout(() => reject(new Error(`the watcher did not settle within ${timeoutMs} ms`)), timeoutMs);
  });
  expired.catch(() => {}); // reported through the race below
  try {
    for (;;) {
      const events = rec.events;
      await new Promise((r) => setImmediate(r));
      await Promise.race([rec.watcher.settled(), expired]);
      if (rec.events === events) return;
    }
  } finally {
    clearTimeout(deadline);
  }
}

/** Waits until `n` changes were reported, then until the watcher is quiet, so any extra change is there too. */
export async function expectChanges(rec: Recorder, n: number): Promise<void> {
  await waitFor(() => rec.changes.length >= n, `${n} change(s), have ${rec.changes.length}`, 15_000);
  await quiesce(rec);
}

/** Milliseconds from just before `edit` to the change it causes being reported. */
export async function timeToChange(rec: Recorder, edit: () => Promise<void>): Promise<number> {
  const before = rec.changes.length;
  const t0 = performance.now();
  await edit();
  await waitFor(() => rec.changes.length > before, 'the change', 15_000);
  return performance.now() - t0;
}

/**
 * A clock for the burst logic that moves only when told: timers run in
 * order of due time as `advance` passes them, each followed by the promise
 * callbacks it started (settled with setImmediate, so fake file looks that
 * resolve at once are done too).
 */
export class FakeClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    this.seq += 1;
    this.timers.set(this.seq, { at: this.time + ms, fn });
    return this.seq;
  }

  clearTimeout(id: TimerId): void {
    this.timers.delete(id as number);
  }

  /** Timers set and neither run nor cleared. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.time + ms);
  }

  async advanceTo(at: number): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      let next: [number, { at: number; fn: () => void }] | undefined;
      // Map order is creation order: of timers due at the same time, the first set runs first.
      for (const entry of this.timers) if (entry[1].at <= at && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      next[1].fn();
    }
    this.time = Math.max(this.time, at);
  }
}

// ---- edit sequences ---------------------------------------------------------

/** Editor atomic save: write a temp file in the same directory, rename it over. */
export async function atomicSave(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(tmp, content);
  await rename(tmp, path);
}

/**
 * vim with `backupcopy=no` (the default on most systems for :w): probe
 * file `4913` created and removed, original renamed to `file~`, new file
 * created and written, permissions set, backup removed.
 */
export async function vimSaveBackupcopyNo(path: string, content: string): Promise<void> {
  const dir = join(path, '..');
  const probe = join(dir, '4913');
  await writeFile(probe, '');
  await unlink(probe);
  await rename(path, `${path}~`);
  const fh = await open(path, 'w', 0o644);
  await fh.write(content);
  await fh.sync();
  await fh.close();
  await unlink(`${path}~`);
}

/** vim with `backupcopy=yes`: copy to `file~`, then truncate and write the original in place. */
export async function vimSaveBackupcopyYes(path: string, content: string): Promise<void> {
  await copyFile(path, `${path}~`);
  const fh = await open(path, 'r+');
  await fh.truncate(0);
  await fh.write(content, 0);
  await fh.sync();
  await fh.close();
  await unlink(`${path}~`);
}

/**
 * A Kubernetes ConfigMap volume as kubelet's AtomicWriter lays it out:
 * `..<timestamp>/` holds the files, `..data -> ..<timestamp>`, and each
 * user-visible file is `name -> ..data/name`.
 */
export class ConfigMapVolume {
  private serial = 0;
  private current: string | null = null;
  constructor(readonly dir: string) {}

  private tsDir(): string {
    this.serial += 1;
    const s = String(this.serial).padStart(2, '0');
    return `..2026_11_22_10_${s}_00.${100000 + this.serial}`;
  }

  /** First mount: the timestamped dir, `..data`, and the user-visible symlinks. */
  async create(files: Record<string, string>): Promise<void> {
    const ts = this.tsDir();
    await mkdir(join(this.dir, ts));
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, ts, name), content);
    await symlink(ts, join(this.dir, '..data'));
    for (const name of Object.keys(files)) await symlink(join('..data', name), join(this.dir, name));
    this.current = ts;
  }

  /** An update: new timestamped dir, `..data_tmp` renamed over `..data`, old dir removed. */
  async update(files: Record<string, string>): Promise<void> {
    const ts = this.tsDir();
    await mkdir(join(this.dir, ts));
    for (const [name, content] of Object.entries(files)) await writeFile(join(this.dir, ts, name), content);
    await symlink(ts, join(this.dir, '..data_tmp'));
    await rename(join(this.dir, '..data_tmp'), join(this.dir, '..data'));
    if (this.current) await rm(join(this.dir, this.current), { recursive: true, force: true });
    this.current = ts;
  }
}

/** For `observe`: what a reload reading `path` at that moment would see (null when missing). */
export const readNow = (path: string) => (): string | null => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
};
