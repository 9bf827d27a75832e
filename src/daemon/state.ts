// The daemon's state directory: per target, the content hash it last
// applied, so a restart of the daemon does not reload every target again
// (written atomically: unique temp file in the same directory, fsync,
// rename, fsync the directory, mode 0600), and a marker while a reload is
// under way, so a reload cut short is done again at the next start.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeStaleTemps, writeFileAtomic } from '../integrity/atomic-write.js';

export interface TargetState {
  config_hash: string;
  saved_at: string;
}

export class StateStore {
  private ready: Promise<void> | null = null;
  private pendingReady: Promise<void> | null = null;
  /** Targets whose temp files left by a killed daemon were looked for (once per target and process). */
  private readonly swept = new Set<string>();
  constructor(readonly dir: string) {}

  /** A daemon killed during a write leaves its temp file; without this they pile up, one per crash. */
  private async sweep(target: string): Promise<void> {
    if (this.swept.has(target)) return;
    this.swept.add(target);
    await removeStaleTemps(this.file(target));
  }

  private file(target: string): string {
    // Target names are restricted to [A-Za-z0-9_.-] by the config schema; never "." or "..".
    return join(this.dir, 'targets', `${target}.json`);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= mkdir(join(this.dir, 'targets'), { recursive: true, mode: 0o700 }).then(
      () => undefined,
      (err: unknown) => {
        this.ready = null;
        throw err;
      },
    );
    return this.ready;
  }

  /** The stored state, or null when there is none (or it is unreadable: treated as none). */
  async read(target: string): Promise<TargetState | null> {
    await this.sweep(target);
    let text: string;
    try {
      text = await readFile(this.file(target), 'utf8');
    } catch {
      return null;
    }
    try {
      const v = JSON.parse(text) as Partial<TargetState>;
      return typeof v.config_hash === 'string' ? { config_hash: v.config_hash, saved_at: String(v.saved_at ?? '') } : null;
    } catch {
      return null;
    }
  }

  /** Beside `targets/` (which holds only state files): `pending/<name>`. */
  private pendingFile(target: string): string {
    return join(this.dir, 'pending', target);
  }

  /**
   * Marks a reload of `target` as begun: until clearPending (after the new
   * hash is recorded), a daemon that stops or dies leaves the marker, and its
   * next start reloads the target. Only its existence counts, so it is not
   * fsynced: it must survive the daemon's death, which the page cache does.
   */
  async markPending(target: string): Promise<void> {
    await this.ensureDir();
    this.pendingReady ??= mkdir(join(this.dir, 'pending'), { mode: 0o700 }).then(
      () => undefined,
      (err: unknown) => {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
        this.pendingReady = null;
        throw err;
      },
    );
    await this.pendingReady;
    await writeFile(this.pendingFile(target), `${JSON.stringify({ pid: process.pid, began_at: new Date().toISOString() })}\n`, { mode: 0o600 });
  }

  async clearPending(target: string): Promise<void> {
    await rm(this.pendingFile(target), { force: true });
  }

  /** When a reload of `target` began and its result was never recorded, or null. */
  async pending(target: string): Promise<{ began_at: string } | null> {
    let text: string;
    try {
      text = await readFile(this.pendingFile(target), 'utf8');
    } catch {
      return null;
    }
    try {
      return { began_at: String((JSON.parse(text) as { began_at?: unknown }).began_at ?? '') };
    } catch {
      // Cut short by the crash it records: still a reload that began.
      return { began_at: '' };
    }
  }

  async write(target: string, hash: string): Promise<void> {
    await this.ensureDir();
    await this.sweep(target);
    const state: TargetState = { config_hash: hash, saved_at: new Date().toISOString() };
    await writeFileAtomic(this.file(target), `${JSON.stringify(state)}\n`, { mode: 0o600 });
  }
}
