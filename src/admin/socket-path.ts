// The admin socket's file-system lifecycle, race-free.
//
// Creation: the server listens in a fresh private directory (mkdtemp: mode
// 0700, same parent directory as the final path), so nobody else can reach
// the socket while it has the umask's mode; it gets its final mode and group
// there, and is then hard-linked to the final path. link() fails with EEXIST
// instead of replacing anything that appeared at the path in the meantime.
// The private directory stays until shutdown: libuv unlinks the path it
// listened on when the server closes, and that path must stay one nobody else
// can plant anything at.
//
// Removal (a stale socket at start, ours at shutdown): the entry is first
// renamed into the private directory (rename never follows a symlink), then
// inspected there where nobody else can swap it; a socket with the expected
// identity is unlinked, anything else is put back with link() (or rename()
// for a directory). A symlink or non-socket at the path is never deleted.
import { chmod, lstat, link, mkdir, mkdtemp, readdir, readFile, readlink, rename, rmdir, unlink } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { errorMessage, OptionsError, ReloadkitError } from '../shared/errors.js';
import { errnoCode } from '../shared/errno.js';

/** Prefix of the private directories; `reloadkit-` so an operator knows whose they are. */
export const PRIVATE_DIR_PREFIX = '.reloadkit-';
const LISTEN_NAME = 's';
/** sun_path holds 108 bytes on Linux (104 on macOS) including the NUL. */
export const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

export interface FileIdentity {
  dev: number;
  ino: number;
}

export type PathState =
  { kind: 'absent' } | { kind: 'socket'; id: FileIdentity } | { kind: 'not-socket'; what: string } | { kind: 'unreadable'; reason: string };

function describeKind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a directory';
  if (st.isFile()) return 'a regular file';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  return 'a special file';
}

/** What is at `path`, never following a symlink. */
export async function inspectPath(path: string): Promise<PathState> {
  let st: Stats;
  try {
    st = await lstat(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { kind: 'absent' };
    return { kind: 'unreadable', reason: errnoCode(err) ?? errorMessage(err) };
  }
  if (st.isSocket()) return { kind: 'socket', id: { dev: st.dev, ino: st.ino } };
  return { kind: 'not-socket', what: describeKind(st) };
}

export type ProbeResult = 'live' | 'stale' | 'gone' | { unknown: string };

/**
 * Connects once. Only ECONNREFUSED proves a socket stale; a timeout or a full
 * backlog (EAGAIN) means someone is there.
 */
export function probeSocket(path: string, timeoutMs = 1000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const sock = connect({ path });
    const timer = setTimeout(() => done('live'), timeoutMs);
    function done(r: ProbeResult): void {
      clearTimeout(timer);
      sock.destroy();
      resolve(r);
    }
    sock.once('connect', () => done('live'));
    sock.once('error', (err) => {
      const code = errnoCode(err);
      if (code === 'ECONNREFUSED') done('stale');
      else if (code === 'ENOENT') done('gone');
      else if (code === 'EAGAIN') done('live');
      else done({ unknown: code ?? errorMessage(err) });
    });
  });
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/** The outcome of `quarantineRemove`. */
export type RemoveOutcome = 'removed' | 'gone' | 'restored' | { stranded: string };

/** A 0700 directory of ours next to the socket path; see the file comment. */
export class PrivateDir {
  private seq = 0;
  private constructor(
    readonly path: string,
    readonly finalPath: string,
  ) {}

  static async create(finalPath: string): Promise<PrivateDir> {
    // The creator's pid in the name (base 36, short: a socket path has little room), so a
    // later start can tell a crashed daemon's directory from a live one's.
    const dir = await mkdtemp(join(dirname(finalPath), `${PRIVATE_DIR_PREFIX}${process.pid.toString(36)}-`));
    const pd = new PrivateDir(dir, finalPath);
    if (Buffer.byteLength(pd.listenPath) > MAX_SOCKET_PATH) {
      await rmdir(dir).catch(() => {});
      throw new ReloadkitError(
        'ERR_SOCKET_PATH',
        `admin socket path ${finalPath} is too long: its directory needs room for ${pd.listenPath.length - dirname(finalPath).length} more bytes within the ${MAX_SOCKET_PATH}-byte limit of a Unix socket path`,
      );
    }
    return pd;
  }

  /** Where the server listens before the socket is linked to its final path. */
  get listenPath(): string {
    return join(this.path, LISTEN_NAME);
  }

  /** Links the listening socket to the final path; EEXIST if anything is there. */
  async publish(): Promise<FileIdentity> {
    await link(this.listenPath, this.finalPath);
    await unlink(this.listenPath);
    const st = await lstat(this.finalPath);
    return { dev: st.dev, ino: st.ino };
  }

  /**
   * Removes the socket at the final path if (and only if) it is a socket
   * with identity `expect` (any socket when `expect` is null).
   */
  async quarantineRemove(expect: FileIdentity | null): Promise<RemoveOutcome> {
    const held = join(this.path, `held-${++this.seq}`);
    try {
      await rename(this.finalPath, held);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return 'gone';
      throw err;
    }
    const st = await lstat(held);
    if (st.isSocket() && (expect === null || sameFile(expect, { dev: st.dev, ino: st.ino }))) {
      await unlink(held);
      return 'removed';
    }
    // Not what we meant to remove: put it back without replacing anything that appeared meanwhile.
    try {
      if (st.isDirectory()) await rename(held, this.finalPath);
      else {
        await link(held, this.finalPath);
        await unlink(held);
      }
      return 'restored';
    } catch (err) {
      return { stranded: `${held} (${errnoCode(err) ?? errorMessage(err)})` };
    }
  }

  /** Removes the directory if it is empty (a stranded entry keeps it). */
  async dispose(): Promise<void> {
    await unlink(this.listenPath).catch(() => {});
    await rmdir(this.path).catch(() => {});
  }
}

/** Whether the pid in a private directory's name belongs to a live process other than this one. */
function creatorAlive(name: string): boolean | null {
  const m = /^([0-9a-z]+)-[A-Za-z0-9]{6}$/.exec(name.slice(PRIVATE_DIR_PREFIX.length));
  if (!m) return null;
  const pid = Number.parseInt(m[1]!, 36);
  // Our own pid: a previous daemon with the same pid (a restarted container) left it; ours is made after this sweep.
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errnoCode(err) === 'EPERM';
  }
}

/**
 * Private directories left by a process that died: owned by us, 0700,
 * holding only a socket nobody answers, or nothing (a daemon killed after
 * it published its socket leaves its directory empty). A directory whose
 * name carries the pid of a live process is never touched; one without a pid
 * (made by an earlier version) is removed when empty or holding a stale
 * socket. Removed best-effort; anything else is left alone.
 */
export async function removeLeftoverDirs(finalPath: string): Promise<number> {
  const parent = dirname(finalPath);
  let removed = 0;
  let entries: string[];
  try {
    entries = await readdir(parent);
  } catch {
    return 0;
  }
  const uid = process.getuid?.();
  for (const name of entries) {
    if (!name.startsWith(PRIVATE_DIR_PREFIX) || creatorAlive(name) === true) continue;
    const dir = join(parent, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory() || (st.mode & 0o777) !== 0o700 || (uid !== undefined && st.uid !== uid)) continue;
      const inside = await readdir(dir);
      if (inside.length > 1 || (inside.length === 1 && inside[0] !== LISTEN_NAME)) continue;
      if (inside.length === 1) {
        const sockPath = join(dir, LISTEN_NAME);
        const sst = await lstat(sockPath);
        if (!sst.isSocket() || (await probeSocket(sockPath)) !== 'stale') continue;
        await unlink(sockPath);
      }
      await rmdir(dir);
      removed += 1;
    } catch {
      // Best effort: a directory that changes under us is someone else's business.
    }
  }
  return removed;
}

export type DefaultDirOutcome = { ok: true; created: boolean } | { ok: false; reason: string };

/**
 * Makes sure the directory of the *built-in default* socket path exists and
 * is safe to use (`/run/reloadkit` as root, `$XDG_RUNTIME_DIR/reloadkit` or
 * `$TMPDIR/reloadkit-<uid>` otherwise): created with mode 0700 when missing
 * (its parent is never created); an existing one is used only if it is a
 * real directory (not a symlink) owned by this user and not world-writable —
 * it is never chmod-ed. In a shared /tmp, another user can create
 * `reloadkit-<uid>` first; that directory is refused, not used.
 */
export async function ensureDefaultSocketDir(dir: string): Promise<DefaultDirOutcome> {
  let created = false;
  try {
    await mkdir(dir, { mode: 0o700 });
    created = true;
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'EEXIST') return { ok: false, reason: `cannot create ${dir} (${code ?? errorMessage(err)})` };
  }
  let st: Stats;
  try {
    st = await lstat(dir);
  } catch (err) {
    return { ok: false, reason: `cannot inspect ${dir} (${errnoCode(err) ?? errorMessage(err)})` };
  }
  if (!st.isDirectory()) return { ok: false, reason: `${dir} is ${describeKind(st)}, not a directory` };
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return { ok: false, reason: `${dir} is owned by uid ${st.uid}, not by this user (uid ${uid})` };
  if (created) {
    // Ours and brand new: the umask may have taken bits off 0700 (never added any).
    if ((st.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
    return { ok: true, created };
  }
  if (st.mode & 0o002) return { ok: false, reason: `${dir} is world-writable (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})` };
  return { ok: true, created };
}

/** A group name or id → gid. Names are looked up in /etc/group. */
export async function resolveGroup(group: string | number): Promise<number> {
  if (typeof group === 'number') {
    if (!Number.isInteger(group) || group < 0) throw new OptionsError(`socket group must be a name or a non-negative id`);
    return group;
  }
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = await readFile('/etc/group', 'utf8');
  } catch {
    // Fall through to the clear error below.
  }
  for (const line of text.split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new OptionsError(`socket group "${group}" does not exist`);
}

/**
 * What a listening socket passed in as file descriptor `fd` (socket
 * activation) is bound to, from /proc (Linux): its path, `@name` for the
 * abstract namespace, or null when it cannot be told (not Linux, not a Unix
 * socket, not bound to a name).
 */
export async function passedSocketPath(fd: number): Promise<string | null> {
  let inode: string;
  try {
    const m = /^socket:\[(\d+)\]$/.exec(await readlink(`/proc/self/fd/${fd}`));
    if (!m) return null;
    inode = m[1]!;
  } catch {
    return null;
  }
  let table: string;
  try {
    table = await readFile('/proc/net/unix', 'utf8');
  } catch {
    return null;
  }
  // Num RefCount Protocol Flags Type St Inode Path (the path may hold spaces: it is the rest of the line).
  for (const line of table.split('\n').slice(1)) {
    const m = /^\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\d+)(?: (.*))?$/.exec(line);
    if (m && m[1] === inode) return m[2] === undefined || m[2] === '' ? null : m[2];
  }
  return null;
}
