// Last known good config: after start() and after every committed pass the
// validated config is written as
//   {"generation":N,"config_hash":"…","saved_at":"RFC3339","config":{…}}
// atomically (see atomic-write.ts), mode 0600. It is only ever written from a
// committed snapshot, so an unvalidated config never reaches it (writing
// before validating would let a broken config become the fallback).
//
// The file holds the real config, secrets included: it must, to be usable.
// Mode 0600 and a directory only the service user can write protect it, and
// reading it back refuses a file that others could have written.
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FallbackConfig, UnitExtension } from '../engine/plugins.js';
import type { Logger } from '../shared/types.js';
import { errorMessage } from '../shared/errors.js';
import { removeStaleTemps, writeFileAtomic } from './atomic-write.js';
import { canonicalJson, configHash } from '../shared/hash.js';
import { describeErrno } from '../shared/errno.js';

export interface PersistOptions {
  /** Where the last known good config is written (JSON). */
  path: string;
  /** Start from the persisted config when the source is broken at start (default false). */
  fallback?: boolean;
}

interface PersistedConfig {
  generation: number;
  config_hash: string;
  saved_at: string;
  config: unknown;
}

/** What persisting needs from a snapshot. */
export interface PersistableSnapshot {
  readonly generation: number;
  readonly hash: string;
  readonly config: unknown;
}

export const PERSIST_FILE_MODE = 0o600;
/** A persisted config larger than this is not ours (sources are limited to 16 MiB). */
const MAX_PERSIST_BYTES = 64 * 1024 * 1024;

/**
 * The file's text. The config is written as canonical JSON, the form its
 * `config_hash` is computed over, so a reader can check the hash.
 */
export function serializePersisted(snapshot: PersistableSnapshot, savedAt: Date = new Date()): string {
  return (
    `{"generation":${snapshot.generation},"config_hash":${JSON.stringify(snapshot.hash)},` +
    `"saved_at":${JSON.stringify(savedAt.toISOString())},"config":${canonicalJson(snapshot.config)}}\n`
  );
}

export type ReadPersistedResult = { ok: true; persisted: PersistedConfig } | { ok: false; reason: string };

/** Checks the shape and the hash of a persisted file's text. */
export function parsePersisted(text: string): ReadPersistedResult {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not valid JSON (truncated or edited?)' };
  }
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) return { ok: false, reason: 'not a JSON object' };
  const d = doc as Record<string, unknown>;
  if (typeof d.generation !== 'number' || !Number.isInteger(d.generation) || d.generation < 0) {
    return { ok: false, reason: 'missing or invalid "generation"' };
  }
  if (typeof d.config_hash !== 'string' || !/^[0-9a-f]{64}$/.test(d.config_hash)) {
    return { ok: false, reason: 'missing or invalid "config_hash"' };
  }
  if (typeof d.saved_at !== 'string' || Number.isNaN(Date.parse(d.saved_at))) {
    return { ok: false, reason: 'missing or invalid "saved_at"' };
  }
  if (!('config' in d)) return { ok: false, reason: 'missing "config"' };
  if (configHash(d.config) !== d.config_hash) {
    return { ok: false, reason: 'config does not match its config_hash (corrupted or edited)' };
  }
  return { ok: true, persisted: { generation: d.generation, config_hash: d.config_hash, saved_at: d.saved_at, config: d.config } };
}

/**
 * Reads a persisted config for a fallback start. Refuses anything another
 * user could have written: a regular file owned by us, not group/other
 * writable, within the size limit, whose hash matches.
 */
export async function readPersisted(path: string): Promise<ReadPersistedResult> {
  let fh;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' ? 'file not found' : `cannot open: ${describeErrno(err)}` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { ok: false, reason: 'not a regular file' };
    const uid = process.getuid?.();
    if (uid !== undefined && st.uid !== uid) return { ok: false, reason: `owned by uid ${st.uid}, not by this process (uid ${uid})` };
    if ((st.mode & 0o022) !== 0) {
      return { ok: false, reason: `writable by group or others (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')})` };
    }
    if (st.size > MAX_PERSIST_BYTES) return { ok: false, reason: `too large (${st.size} bytes)` };
    const text = await fh.readFile('utf8');
    return parsePersisted(text);
  } catch (err) {
    return { ok: false, reason: `cannot read: ${describeErrno(err)}` };
  } finally {
    await fh.close().catch(() => {});
  }
}

export interface PersistStatus {
  path: string;
  /** Successful writes since start. */
  saves: number;
  /** Failed writes since start. */
  failures: number;
  /** The last write's error, or null when the last write succeeded (or none ran). */
  lastError: string | null;
  /** Generation of the last snapshot written, or null. */
  lastSavedGeneration: number | null;
}

/**
 * Writes snapshots in commit order, one write at a time; while a write runs
 * only the newest pending snapshot is kept (an older one is superseded).
 * A failure is logged and counted, the old file stays intact, and the pass
 * that produced the snapshot is unaffected.
 */
export class PersistStore {
  readonly path: string;
  private logger: Logger;
  private unit: string;
  private onFailure: ((error: string) => void) | undefined;
  private pending: PersistableSnapshot | null = null;
  private running: Promise<void> | null = null;
  private cleaned = false;
  private readonly state: PersistStatus;

  constructor(options: { path: string; unit: string; logger: Logger; onFailure?: (error: string) => void }) {
    this.path = options.path;
    this.unit = options.unit;
    this.logger = options.logger;
    this.onFailure = options.onFailure;
    this.state = { path: options.path, saves: 0, failures: 0, lastError: null, lastSavedGeneration: null };
  }

  /** Reports to a unit: its name and (redacting) logger, failures to its observers. */
  attachTo(unit: string, logger: Logger, onFailure: (error: string) => void): void {
    this.unit = unit;
    this.logger = logger;
    this.onFailure = onFailure;
  }

  status(): PersistStatus {
    return { ...this.state };
  }

  /** Logged when the file cannot serve as the start fallback. */
  warnUnusable(reason: string, loadError: string): void {
    this.logger.warn({ unit: this.unit, path: this.path, reason, load_error: loadError }, 'no usable last known good config');
  }
  /** Queues a snapshot to be written; returns at once. */
  save(snapshot: PersistableSnapshot): void {
    this.pending = snapshot;
    this.running ??= this.drain().finally(() => {
      this.running = null;
    });
  }

  /** Resolves when every queued snapshot was written (or failed). */
  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    if (!this.cleaned) {
      this.cleaned = true;
      const removed = await removeStaleTemps(this.path);
      if (removed.length > 0) this.logger.debug({ unit: this.unit, removed }, 'removed temp files left by a crashed writer');
    }
    while (this.pending) {
      const snap = this.pending;
      this.pending = null;
      try {
        await writeFileAtomic(this.path, serializePersisted(snap), { mode: PERSIST_FILE_MODE });
        const recovered = this.state.lastError !== null;
        this.state.saves += 1;
        this.state.lastError = null;
        this.state.lastSavedGeneration = snap.generation;
        if (recovered) this.logger.info({ unit: this.unit, path: this.path, generation: snap.generation }, 'last known good config saved again');
      } catch (err) {
        const message = errorMessage(err);
        this.state.failures += 1;
        this.state.lastError = message;
        this.logger.error(
          { unit: this.unit, path: this.path, generation: snap.generation, failures: this.state.failures, err: message },
          'cannot save the last known good config; the reload itself is not affected',
        );
        try {
          this.onFailure?.(message);
        } catch {
          // An observer's failure must not stop persisting.
        }
      }
    }
  }
}

/**
 * The last-known-good extension of a unit: writes each committed config
 * (not one the unit started from the file itself), offers the file as the
 * start fallback when `fallback` is set, and flushes at close.
 */
export function lastKnownGood(options: PersistOptions, logger: Logger): UnitExtension & { readonly store: PersistStore } {
  const store = new PersistStore({ path: options.path, unit: '', logger });
  return {
    store,
    attach: (ctx) => store.attachTo(ctx.unit, ctx.logger, (error) => ctx.notify((o) => o.persistFailure?.(ctx.unit, error))),
    ...(options.fallback ? { fallback: (loadError: string) => persistedFallback(store, loadError) } : {}),
    // A fallback start keeps the persisted file as it is: it is already that config, with its own saved_at.
    committed: (snapshot, { fromFallback }) => {
      if (!fromFallback) store.save(snapshot);
    },
    close: () => store.flush(),
  };
}

/** The persisted file as a start config, if it can be trusted and parsed. */
async function persistedFallback(store: PersistStore, loadError: string): Promise<FallbackConfig | null> {
  const read = await readPersisted(store.path);
  if (!read.ok) {
    store.warnUnusable(read.reason, loadError);
    return null;
  }
  return {
    value: read.persisted.config,
    description: `last known good config from ${read.persisted.saved_at} (${store.path}, generation ${read.persisted.generation})`,
  };
}
