// One host applying one revision to one target: the unit of work a rollout
// schedules. Steps:
//   1. drift check: the files the fleet last wrote must still be as written
//      (a hand edit under fleet.dir is reported as drift, never overwritten);
//   2. back up the exact bytes and mode of every path the revision touches;
//   3. write each file atomically (never outside fleet.dir: symlinks on the
//      way are refused), remove the files the previous revision had and this
//      one does not;
//   4. the target's usual pass (check, reload, verify), then the optional
//      health gate (every probe 2xx for `for`);
//   5. any failure: put the backed-up bytes back byte for byte, reload the
//      target to them, and report `failed` with the step and the reason.
import { lstat, mkdir, readFile, readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../shared/errors.js';
import { sha256Hex } from '../shared/hash.js';
import { httpRequest } from '../shared/http-request.js';
import { flattenLines } from '../shared/text.js';
import { writeFileAtomic } from '../integrity/atomic-write.js';
import { SIGNATURE_SUFFIX } from '../integrity/signature.js';
import type { Logger, ReloadResult, Trigger } from '../shared/types.js';
import type { Revision } from './revisions.js';

interface HealthGateOptions {
  url: string;
  /** Every probe must answer 2xx for this long. */
  forMs: number;
  intervalMs: number;
  /** Deadline of one probe. */
  timeoutMs: number;
}

/** What the fleet needs of a daemon target. */
export interface FleetTargetBinding {
  name: string;
  /** The directory whose files the fleet manages (absolute). */
  dir: string;
  /** Runs the target's pass (check, reload, verify) on what is on disk now. */
  runPass(trigger: Trigger): Promise<ReloadResult>;
  /** The content hash the target runs now. */
  configHash(): string;
  health?: HealthGateOptions | undefined;
  /** The target's `signature.public_key`: revisions must be signed by its key, and FILE.sig files are written. */
  publicKeyFile?: string | undefined;
  /** The target's timeout of one step (check, reload, verify): how long a rollout waits for this host's turn follows from it. */
  stepTimeoutMs?: number | undefined;
}

type ApplyStep = 'signature' | 'drift' | 'write' | 'pass' | 'health';

export type ApplyOutcome =
  | { status: 'done'; revision: number; config_hash: string; result: ReloadResult }
  | { status: 'failed'; revision: number; step: ApplyStep; reason: string; restored: boolean; config_hash: string }
  | { status: 'drift'; revision: number; paths: string[]; reason: string; config_hash: string };

/** What the host last applied to a target (kept in the state directory). */
export interface AppliedRecord {
  revision: number;
  /** Relative path → SHA-256 of what the fleet wrote. */
  files: Record<string, string>;
  applied_at: string;
  /** Set while an apply is in flight: a host killed mid-write finds the new files expected, not drift. */
  pending?: { revision: number; files: Record<string, string> } | undefined;
}

export interface RecordStore {
  read(target: string): Promise<AppliedRecord | null>;
  write(target: string, record: AppliedRecord): Promise<void>;
}

/** The records in `<state_dir>/fleet/<target>.json`, written atomically (0600). */
export function fileRecordStore(stateDir: string): RecordStore {
  const file = (t: string) => join(stateDir, 'fleet', `${t}.json`);
  return {
    async read(target) {
      try {
        const v = JSON.parse(await readFile(file(target), 'utf8')) as AppliedRecord;
        return typeof v.revision === 'number' && v.files && typeof v.files === 'object' ? v : null;
      } catch {
        return null;
      }
    },
    async write(target, record) {
      await mkdir(join(stateDir, 'fleet'), { recursive: true, mode: 0o700 });
      await writeFileAtomic(file(target), `${JSON.stringify(record)}\n`, { mode: 0o600 });
    },
  };
}

/** A multi-line reason (nginx prints two lines) as one line for status tables. */

const MISSING = 'missing';

async function hashOnDisk(path: string): Promise<string> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) return st.isSymbolicLink() ? 'symlink' : 'not-a-file';
    return sha256Hex(await readFile(path));
  } catch {
    return MISSING;
  }
}

/**
 * The files the fleet wrote (per `record`) that are no longer as it wrote
 * them. A file equal to the content of an apply in flight (`pending`) or to
 * `also` (the revision about to be applied) is not drift.
 */
export async function findDrift(dir: string, record: AppliedRecord, also: Record<string, string> = {}): Promise<string[]> {
  const drifted: string[] = [];
  for (const [rel, hash] of Object.entries(record.files)) {
    const now = await hashOnDisk(join(dir, rel));
    if (now !== hash && now !== record.pending?.files[rel] && also[rel] !== now) drifted.push(rel);
  }
  return drifted;
}

export function driftReason(dir: string, record: AppliedRecord, drifted: readonly string[]): string {
  return `local changes under ${dir} (${drifted.join(', ')}) differ from revision ${record.revision} as the fleet wrote it`;
}

/** The files a revision puts into fleet.dir: its own, plus FILE.sig next to each when signatures are required. */
function filesToWrite(rev: Revision, withSignatures: boolean): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  rev.files.forEach((f, i) => {
    out.set(f.path, f.bytes);
    const sig = rev.manifest.files[i]?.sig;
    if (withSignatures && sig !== undefined) out.set(f.path + SIGNATURE_SUFFIX, Buffer.from(`${sig}\n`, 'latin1'));
  });
  return out;
}

/**
 * Every directory between `dir` and the file must be a real directory (or
 * not exist yet): a symlink on the way could lead outside fleet.dir. The
 * file itself must be a regular file or absent. Returns the directories to
 * create, outermost first.
 */
async function checkInside(dir: string, rel: string): Promise<string[]> {
  const parts = rel.split('/');
  const missing: string[] = [];
  let at = dir;
  for (let i = 0; i < parts.length - 1; i += 1) {
    at = join(at, parts[i]!);
    const st = await lstat(at).catch(() => null);
    if (st === null) {
      missing.push(at);
      continue;
    }
    if (missing.length > 0 || !st.isDirectory() || st.isSymbolicLink()) {
      throw new Error(`${rel}: ${at} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; nothing is written outside fleet.dir`);
    }
  }
  const st = await lstat(join(dir, rel)).catch(() => null);
  if (st && !st.isFile())
    throw new Error(`${rel}: ${join(dir, rel)} is ${st.isSymbolicLink() ? 'a symlink' : 'not a regular file'}; the fleet writes only regular files`);
  return missing;
}

interface Backup {
  /** Relative path → bytes and mode before the apply, or null when the file did not exist. */
  files: Map<string, { bytes: Buffer; mode: number } | null>;
  /** Directories the apply created (removed again on restore when empty). */
  createdDirs: string[];
}

async function backup(dir: string, paths: Iterable<string>): Promise<Backup> {
  const files = new Map<string, { bytes: Buffer; mode: number } | null>();
  for (const rel of paths) {
    const full = join(dir, rel);
    const st = await lstat(full).catch(() => null);
    files.set(rel, st?.isFile() ? { bytes: await readFile(full), mode: st.mode & 0o7777 } : null);
  }
  return { files, createdDirs: [] };
}

async function restore(dir: string, b: Backup): Promise<void> {
  for (const [rel, was] of b.files) {
    const full = join(dir, rel);
    if (was === null) await unlink(full).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    else await writeFileAtomic(full, was.bytes, { mode: was.mode });
  }
  for (const d of [...b.createdDirs].reverse()) {
    if ((await readdir(d).catch(() => ['?'])).length === 0) await rmdir(d).catch(() => {});
  }
}

/** Every probe 2xx for `forMs`; the first other answer (or error) fails the gate. */
async function healthGate(h: HealthGateOptions, signal?: AbortSignal): Promise<void> {
  const end = Date.now() + h.forMs;
  for (let probe = 1; ; probe += 1) {
    signal?.throwIfAborted();
    let status: number;
    try {
      // A connection per probe: each probe sees the server as it is after the reload.
      status = (await httpRequest(new URL(h.url), { timeoutMs: h.timeoutMs, bodyCap: 0 })).status;
    } catch (err) {
      throw new Error(`health gate: GET ${h.url} failed (probe ${probe}): ${errorMessage(err)}`, { cause: err });
    }
    if (status < 200 || status > 299) throw new Error(`health gate: GET ${h.url} answered ${status} (probe ${probe})`);
    if (Date.now() >= end) return;
    await new Promise((r) => setTimeout(r, Math.min(h.intervalMs, Math.max(0, end - Date.now()))));
  }
}

export interface ApplyOptions {
  target: FleetTargetBinding;
  revision: Revision;
  records: RecordStore;
  logger: Logger;
  /** Set when the target requires signatures: the revision was verified, and FILE.sig files are written. */
  writeSignatures?: boolean;
  signal?: AbortSignal;
  /** How long the health gate must pass, instead of the target's `health.for` (a rollout's `--health-wait`). */
  healthForMs?: number | undefined;
}

/**
 * Applies one revision to one target on this host (see the file comment).
 * Never throws for a failure of the revision: the outcome says what happened.
 */
export async function applyRevision(o: ApplyOptions): Promise<ApplyOutcome> {
  const { target, revision: rev, records, logger } = o;
  const n = rev.manifest.revision;
  const t0 = performance.now();
  const ms = (from: number) => Math.round((performance.now() - from) * 10) / 10;
  const dir = target.dir;
  const log = { unit: target.name, fleet_revision: n };
  const wanted = filesToWrite(rev, o.writeSignatures ?? false);
  const wantedHashes = Object.fromEntries([...wanted].map(([p, b]) => [p, sha256Hex(b)]));
  const record = await records.read(target.name);

  // 1. Drift: what the fleet wrote last must still be there, unchanged (or be the pending revision's content).
  if (record) {
    const drifted = await findDrift(dir, record, wantedHashes);
    if (drifted.length > 0) {
      const reason = `${driftReason(dir, record, drifted)}; not overwritten`;
      logger.warn({ ...log, paths: drifted }, 'fleet: drift; revision not applied');
      return { status: 'drift', revision: n, paths: drifted, reason, config_hash: target.configHash() };
    }
  }
  const previous = record?.files ?? {};
  const removed = Object.keys(previous).filter((p) => !wanted.has(p));
  const failed = async (step: ApplyStep, reason: string, b: Backup | null): Promise<ApplyOutcome> => {
    let restored = false;
    let why = reason;
    if (b) {
      try {
        await restore(dir, b);
        const back = await target.runPass('api');
        restored = true;
        if (back.status !== 'full_success') why += `; reloading the restored files ended ${back.status}${back.error ? `: ${back.error}` : ''}`;
      } catch (err) {
        why += `; restoring the previous files failed: ${errorMessage(err)}`;
      }
      // The previous revision is what the fleet's files are again.
      await records.write(target.name, { ...(record ?? { revision: 0, files: {}, applied_at: '' }), pending: undefined }).catch(() => {});
    }
    logger.error({ ...log, step, restored, err: why }, 'fleet: revision failed; previous files restored');
    return { status: 'failed', revision: n, step, reason: flattenLines(why), restored, config_hash: target.configHash() };
  };

  // 2. Checks and backup before the first byte is written.
  let b: Backup;
  try {
    await mkdir(dir, { recursive: true });
    const created: string[] = [];
    for (const rel of wanted.keys()) for (const d of await checkInside(dir, rel)) if (!created.includes(d)) created.push(d);
    for (const rel of removed) await checkInside(dir, rel);
    b = await backup(dir, [...wanted.keys(), ...removed]);
    b.createdDirs = created;
  } catch (err) {
    return failed('write', errorMessage(err), null);
  }

  // 3. Write.
  try {
    await records.write(target.name, { ...(record ?? { revision: 0, files: {}, applied_at: '' }), pending: { revision: n, files: wantedHashes } });
    for (const d of b.createdDirs) await mkdir(d).catch((err: NodeJS.ErrnoException) => (err.code === 'EEXIST' ? undefined : Promise.reject(err)));
    for (const [rel, bytes] of wanted) await writeFileAtomic(join(dir, rel), bytes, { mode: b.files.get(rel)?.mode ?? 0o644 });
    for (const rel of removed) await unlink(join(dir, rel)).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
  } catch (err) {
    return failed('write', `writing the files failed: ${errorMessage(err)}`, b);
  }

  // 4. The target's pass, then the gate.
  const writeMs = ms(t0);
  const tPass = performance.now();
  let result: ReloadResult;
  try {
    result = await target.runPass('api');
  } catch (err) {
    return failed('pass', errorMessage(err), b);
  }
  if (result.status !== 'full_success') {
    return failed('pass', `${result.status}${result.error || result.load_error ? `: ${result.error ?? result.load_error}` : ''}`, b);
  }
  const passMs = ms(tPass);
  if (target.health) {
    try {
      await healthGate(o.healthForMs === undefined ? target.health : { ...target.health, forMs: o.healthForMs }, o.signal);
    } catch (err) {
      return failed('health', errorMessage(err), b);
    }
  }
  await records.write(target.name, { revision: n, files: wantedHashes, applied_at: new Date().toISOString() });
  logger.info({ ...log, files: wanted.size, removed: removed.length, write_ms: writeMs, pass_ms: passMs, duration_ms: ms(t0) }, 'fleet: revision applied');
  return { status: 'done', revision: n, config_hash: result.config_hash, result };
}
