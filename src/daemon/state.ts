// The daemon's state directory: per target, the content hash it last
// applied, so a restart of the daemon does not reload every target again
// Written atomically: unique temp file in the same directory,
// fsync, rename, fsync the directory, mode 0600.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { removeStaleTemps, writeFileAtomic } from '../integrity/atomic-write.js';

export interface TargetState {
  config_hash: string;
  saved_at: string;
}

export class StateStore {
  private ready: Promise<void> | null = null;
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

  async write(target: string, hash: string): Promise<void> {
    await this.ensureDir();
    await this.sweep(target);
    const state: TargetState = { config_hash: hash, saved_at: new Date().toISOString() };
    await writeFileAtomic(this.file(target), `${JSON.stringify(state)}\n`, { mode: 0o600 });
  }
}
