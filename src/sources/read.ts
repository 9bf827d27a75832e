// Reading a config file's bytes: bounded in size, and never half-written.
//
// A file can change while we read it (an editor or `cat >` writing in place).
// Each attempt opens the file, fstats it, reads at most `size` bytes, then
// stats the path. The read is consistent when nothing moved: exactly `size`
// bytes read and the same dev/ino/size/mtime/ctime before and after (the
// same inode: an atomic replace means there is a newer version to read; the
// same times and size: nobody wrote meanwhile). Otherwise we wait a few ms
// (growing) and re-read, for at most ~2 s, then fail with "kept changing".
//
// Stat comparison alone is ambiguous for a file changed very recently: the
// kernel stamps ctime with a coarse clock (a tick, up to 2 s on some
// filesystems), so two writes of equal size in one tick look identical. Any
// change sets ctime to "now", so a file whose ctime is older than that
// window cannot have changed unseen. For a "racy" file (ctime recent) we
// read it a second time and accept only when both reads have the same
// content hash and stat. A racy file that is EMPTY is most likely a writer
// between truncate and write: we wait for content and accept emptiness only
// after it stayed unchanged for a quiet period.
//
// What no reader can detect: a writer that pauses in the middle of writing
// a file in several chunks. Writers should write a temp file and rename it;
// the watch trigger's quiet period and the next pass cover the rest.
import { constants, type BigIntStats } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { LoadError, FileNotFoundError } from '../shared/errors.js';
import { sha256Hex as sha256 } from '../shared/hash.js';
import { errnoCode } from '../shared/errno.js';

export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/** How long a file may keep changing before a load gives up. */
const CHANGE_DEADLINE_MS = 2000;
/** A ctime this recent may hide a same-size change in the same clock tick. */
export const RACY_WINDOW_MS = 3000;
/** A just-written empty file counts as empty only after staying so this long. */
const EMPTY_QUIET_MS = 500;
const FIRST_PAUSE_MS = 1;
const MAX_PAUSE_MS = 50;

export interface ReadOptions {
  maxBytes?: number | undefined;
  signal?: AbortSignal | undefined;
}

export interface FileBytes {
  /** The exact bytes read; verified and parsed as they are. */
  bytes: Buffer;
  sha256: string;
  /** The path's stat, taken after the bytes were read and unchanged since before. */
  stat: BigIntStats;
}

interface Attempt {
  bytes: Buffer;
  stat: BigIntStats;
  consistent: boolean;
}

/** Same inode, size, mtime and ctime (to the nanosecond). */
export function sameStat(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;
}

function isRacy(st: BigIntStats): boolean {
  // Negative when ctime is in the future (clock skew): also racy.
  return Date.now() - Number(st.ctimeMs) < RACY_WINDOW_MS;
}

function formatBytes(n: number): string {
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  if (n < 1024) return `${n} bytes`;
  let v = n;
  let unit = 'bytes';
  for (const u of units) {
    if (v < 1024) break;
    v /= 1024;
    unit = u;
  }
  const shown = Number.isInteger(v) ? String(v) : v.toFixed(1);
  return `${shown} ${unit} (${n} bytes)`;
}

function tooLarge(path: string, size: number, max: number): LoadError {
  return new LoadError(`${path}: file is ${formatBytes(size)}, over the limit of ${formatBytes(max)}`);
}

function openError(path: string, err: unknown): LoadError {
  const code = errnoCode(err);
  switch (code) {
    case 'ENOENT':
      return new FileNotFoundError(path, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new LoadError(`${path}: permission denied`, { cause: err });
    case 'ENOTDIR':
      return new LoadError(`${path}: not found (a parent path is not a directory)`, { cause: err });
    case 'EISDIR':
      return new LoadError(`${path}: is a directory, expected a file`, { cause: err });
    case 'ELOOP':
      return new LoadError(`${path}: too many levels of symbolic links`, { cause: err });
    case 'ENXIO':
      return new LoadError(`${path}: not a regular file`, { cause: err });
    case 'EMFILE':
    case 'ENFILE':
      return new LoadError(`${path}: cannot open: too many open files`, { cause: err });
    default:
      return new LoadError(`${path}: cannot open (${code ?? String(err)})`, { cause: err });
  }
}

/** Reads from offset 0 until `buf` is full or EOF; returns the byte count. */
export async function readInto(fh: FileHandle, buf: Buffer): Promise<number> {
  let n = 0;
  while (n < buf.length) {
    const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
    if (bytesRead === 0) break;
    n += bytesRead;
  }
  return n;
}

async function readAttempt(path: string, max: number): Promise<Attempt> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not hang; it is refused below.
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw openError(path, err);
  }
  try {
    const before = await fh.stat({ bigint: true });
    if (before.isDirectory()) throw new LoadError(`${path}: is a directory, expected a file`);
    if (!before.isFile()) throw new LoadError(`${path}: not a regular file`);
    const size = Number(before.size);
    // Refused before reading anything: a huge (or sparse) file costs one fstat.
    if (size > max) throw tooLarge(path, size, max);
    // Never more than `size` bytes: growth shows in the stat taken after.
    // Not allocUnsafe: a pooled buffer would expose other memory via `.buffer`.
    const buf = Buffer.alloc(size);
    const n = await readInto(fh, buf);
    // The path's stat after the read: same inode (not replaced meanwhile) and
    // same size/mtime/ctime as before it (not written meanwhile).
    let after: BigIntStats | null = null;
    try {
      after = await stat(path, { bigint: true });
    } catch {
      // Removed meanwhile: the next attempt sees the newest state.
    }
    const consistent = n === size && after !== null && sameStat(before, after);
    return { bytes: buf.subarray(0, n), stat: after ?? before, consistent };
  } catch (err) {
    if (err instanceof LoadError) throw err;
    throw new LoadError(`${path}: read failed (${errnoCode(err) ?? String(err)})`, { cause: err });
  } finally {
    await fh.close().catch(() => {});
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new LoadError(`${what}: load aborted`);
}

export async function pause(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : undefined);
  } catch {
    throw new LoadError(`${what}: load aborted`);
  }
}

/**
 * Reads a whole file as one consistent version, or throws a LoadError naming
 * the path: not found, permission denied, not a regular file, too large, or
 * "config file kept changing during read".
 */
export async function readConfigBytes(path: string, options: ReadOptions = {}): Promise<FileBytes> {
  const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
  const signal = options.signal;
  const deadline = performance.now() + CHANGE_DEADLINE_MS;
  let delay = FIRST_PAUSE_MS;
  // A consistent read of a racy file, waiting to be confirmed by the next one.
  let candidate: { hash: string; stat: BigIntStats; since: number } | null = null;
  for (;;) {
    throwIfAborted(signal, path);
    const attempt = await readAttempt(path, max);
    const now = performance.now();
    let confirmAtOnce = false;
    if (attempt.consistent) {
      if (!isRacy(attempt.stat)) return { bytes: attempt.bytes, sha256: sha256(attempt.bytes), stat: attempt.stat };
      const hash = sha256(attempt.bytes);
      const confirmed = candidate !== null && candidate.hash === hash && sameStat(candidate.stat, attempt.stat);
      if (confirmed) {
        const empty = attempt.bytes.length === 0;
        if (!empty || now - candidate!.since >= EMPTY_QUIET_MS || now >= deadline) {
          return { bytes: attempt.bytes, sha256: hash, stat: attempt.stat };
        }
      } else {
        candidate = { hash, stat: attempt.stat, since: now };
        // A non-empty file is confirmed by an immediate second read.
        confirmAtOnce = attempt.bytes.length > 0;
      }
    } else {
      candidate = null;
    }
    if (now >= deadline) throw new LoadError(`${path}: config file kept changing during read`);
    if (confirmAtOnce) continue;
    await pause(delay, signal, path);
    delay = Math.min(delay * 2, MAX_PAUSE_MS);
  }
}
