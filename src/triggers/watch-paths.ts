// Path work for the watcher: resolution that records every directory entry
// it depended on (so a symlink swap anywhere on the way is seen), tree walks,
// stat keys and content hashes. POSIX paths only.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, isAbsolute, relative } from 'node:path';
import { sha256Hex } from '../shared/hash.js';

/** A directory entry a resolution looked up: `dir` is a real path. */
interface Interest {
  dir: string;
  name: string;
}

export type ResolvedKind = 'file' | 'dir' | 'other' | 'missing' | 'error';

export interface Resolution {
  kind: ResolvedKind;
  /** Real path of what the path names; null when missing or unresolvable. */
  real: string | null;
  /** errno code for `error` (and ENOTDIR for `missing` through a file). */
  code?: string;
  /**
   * Entries whose change can change what the path resolves to: the last
   * component, every symlink on the way (in any directory) and, when
   * something is missing, the first missing component (its directory is the
   * nearest existing ancestor).
   */
  interests: Interest[];
}

/** Linux gives up after 40 links; so do we. */
const MAX_LINKS = 40;

export function errorCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'EUNKNOWN';
}

/** `dir/name` without a double slash at the root. */
export const childOf = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/**
 * Resolves `path` (absolute) component by component like the kernel does,
 * following symlinks, and records the lookups a change could affect.
 * Regular directories above the last component are not recorded: their
 * deletion reaches us as the deletion of their children.
 */
export async function resolveWatched(path: string): Promise<Resolution> {
  const interests: Interest[] = [];
  const todo = path.split('/');
  let cur = '/';
  let links = 0;
  // The lstat()s of every prefix are started at once (one round trip to the
  // thread pool instead of one per component), then consumed in order.
  const looked = new Map<string, Promise<Stats | NodeJS.ErrnoException>>();
  const prefetch = (): void => {
    let p = cur;
    for (const c of todo) {
      if (c === '' || c === '.') continue;
      if (c === '..') break;
      p = childOf(p, c);
      if (!looked.has(p))
        looked.set(
          p,
          lstat(p).catch((err: NodeJS.ErrnoException) => err),
        );
    }
  };
  prefetch();
  while (todo.length > 0) {
    const c = todo.shift()!;
    if (c === '' || c === '.') continue;
    if (c === '..') {
      cur = dirname(cur);
      prefetch();
      continue;
    }
    const last = !todo.some((t) => t !== '' && t !== '.');
    const next = childOf(cur, c);
    const st = await (looked.get(next) ?? lstat(next).catch((err: NodeJS.ErrnoException) => err));
    if (st instanceof Error) {
      interests.push({ dir: cur, name: c });
      const code = errorCode(st);
      if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing', real: null, interests };
      return { kind: 'error', real: null, code, interests };
    }
    if (st.isSymbolicLink()) {
      interests.push({ dir: cur, name: c });
      if (++links > MAX_LINKS) return { kind: 'error', real: null, code: 'ELOOP', interests };
      let target: string;
      try {
        target = await readlink(next);
      } catch (err) {
        return { kind: 'error', real: null, code: errorCode(err), interests };
      }
      if (isAbsolute(target)) cur = '/';
      todo.unshift(...target.split('/'));
      prefetch();
      continue;
    }
    if (last) {
      interests.push({ dir: cur, name: c });
      const kind: ResolvedKind = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : 'other';
      return { kind, real: next, interests };
    }
    if (!st.isDirectory()) {
      // A file where a directory should be: wait for it to become one.
      interests.push({ dir: cur, name: c });
      return { kind: 'missing', real: null, code: 'ENOTDIR', interests };
    }
    cur = next;
  }
  return { kind: 'dir', real: cur, interests };
}

export interface TreeFile {
  /** Path relative to the tree root, `/`-separated. */
  rel: string;
  /** The entry's path under the (real) root; events name it. */
  path: string;
  /** Real path of the content (differs for symlinked entries). */
  real: string | null;
  kind: ResolvedKind;
  code?: string;
  /** For symlinked entries: the lookups their resolution depended on. */
  interests?: Interest[];
}

export interface Tree {
  /** Every directory of the tree, root first (real paths). */
  dirs: string[];
  files: TreeFile[];
}

/**
 * Lists a directory tree: subdirectories (when `recursive`) and the files
 * `filter` accepts. Symlinked files are resolved (and their lookups
 * recorded); symlinked directories are not descended, which rules out loops.
 */
export async function walkTree(root: string, recursive: boolean, filter: ((rel: string) => boolean) | undefined): Promise<Tree> {
  const tree: Tree = { dirs: [], files: [] };
  const visit = async (dir: string): Promise<void> => {
    tree.dirs.push(dir);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return; // Vanished or unreadable: the next check sees it from above.
    }
    const subdirs: string[] = [];
    for (const e of entries) {
      const path = childOf(dir, e.name);
      const rel = relative(root, path);
      if (e.isDirectory()) {
        if (recursive) subdirs.push(path);
        continue;
      }
      if (filter && !filter(rel)) continue;
      if (e.isSymbolicLink()) {
        const r = await resolveWatched(path);
        if (r.kind === 'dir') continue;
        tree.files.push({ rel, path, real: r.real, kind: r.kind, interests: r.interests, ...(r.code ? { code: r.code } : {}) });
      } else {
        tree.files.push({ rel, path, real: path, kind: e.isFile() ? 'file' : 'other' });
      }
    }
    for (const s of subdirs) await visit(s);
  };
  await visit(root);
  tree.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return tree;
}

export interface StatKey {
  /** `dev:ino`: which file. */
  id: string;
  /** `dev:ino:size:mtimeNs:ctimeNs`: which file in which state. */
  key: string;
  isFile: boolean;
  size: bigint;
}

/** stat (following symlinks) reduced to what tells two looks apart; null when it fails. */
export async function statKey(path: string): Promise<StatKey | null> {
  try {
    const s = await stat(path, { bigint: true });
    const id = `${s.dev}:${s.ino}`;
    return { id, key: `${id}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`, isFile: s.isFile(), size: s.size };
  } catch {
    return null;
  }
}

const SMALL_FILE = 1 << 20;

/** SHA-256 (hex) of a file's bytes; streams large files. */
export async function hashFile(path: string, sizeHint: bigint | number = 0): Promise<string> {
  if (Number(sizeHint) <= SMALL_FILE) {
    return sha256Hex(await readFile(path));
  }
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
