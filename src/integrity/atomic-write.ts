// Crash-safe file replacement: a reader of `path` sees the old content or the
// new one, never a torn mix, whatever moment the process dies at (a fixed
// temp name or a missing directory fsync would break that).
//
// Unique temp name in the same directory (same filesystem, so rename is
// atomic), created O_EXCL|O_NOFOLLOW with the final mode, written, fsynced,
// renamed over the target, then the directory fsynced so the rename itself
// survives a power loss.
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AtomicWriteError } from '../shared/errors.js';
import { describeErrno, errnoCode } from '../shared/errno.js';

const TEMP_SUFFIX = '.tmp';

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${process.getBuiltinModule('node:crypto').randomBytes(6).toString('hex')}${TEMP_SUFFIX}`);
}

function tempPattern(path: string): RegExp {
  const base = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^\\.${base}\\.(\\d+)\\.[0-9a-f]{12}\\.tmp$`);
}

/** fsync of a directory; filesystems that cannot (EINVAL, ENOTSUP) are not an error. */
export async function fsyncDirectory(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    await fh.sync();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
  } finally {
    await fh?.close().catch(() => {});
  }
}

export interface AtomicWriteOptions {
  /** Mode of the new file (applied with fchmod, so the umask cannot loosen or tighten it). */
  mode: number;
}

/**
 * Replaces `path` with `data` atomically and durably. On failure `path` is
 * untouched (unless `err.replaced`), the temp file is removed, and the error
 * says what went wrong in words (`no space left on device (ENOSPC)`).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions): Promise<void> {
  const tmp = tempName(path);
  let fh: FileHandle | undefined;
  let created = false;
  try {
    fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, options.mode);
    created = true;
    await fh.chmod(options.mode);
    await fh.writeFile(data);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
    created = false;
  } catch (err) {
    await fh?.close().catch(() => {});
    if (created) await unlink(tmp).catch(() => {});
    throw new AtomicWriteError(path, `cannot write ${path}: ${describeErrno(err)}`, errnoCode(err), false, err);
  }
  try {
    await fsyncDirectory(dirname(path));
  } catch (err) {
    throw new AtomicWriteError(
      path,
      `wrote ${path} but could not fsync its directory (${describeErrno(err)}); the new file may not survive a power loss`,
      errnoCode(err),
      true,
      err,
    );
  }
}

/**
 * Removes temp files that writers of `path` left behind when they died
 * (SIGKILL, power loss). Only files named by our pattern whose writer pid is
 * no longer alive, and only regular files: never anything else.
 */
export async function removeStaleTemps(path: string): Promise<string[]> {
  const dir = dirname(path);
  const pattern = tempPattern(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || isAlive(pid)) continue;
    const full = join(dir, name);
    try {
      if (!(await lstat(full)).isFile()) continue;
      await unlink(full);
      removed.push(full);
    } catch {
      // Gone already, or not ours to remove: leave it.
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, owned by someone else.
    return errnoCode(err) !== 'ESRCH';
  }
}
