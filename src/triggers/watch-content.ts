// What the watched paths hold, as the watcher compares it from one check to
// the next: for a file its SHA-256 ('file:<hex>'), else 'missing', 'other',
// 'error:<code>'; for a directory tree one such state per file. A file
// watched by name is hashed at every check; a tree's files are hashed again
// when their stat key (inode, size, mtime, ctime) changed, when a burst named
// them (an edit within one timestamp tick keeps the key) and at the rescan.
// It also keeps each path's stat key at the last check, which the fast path
// compares with (same inode: written in place, not replaced).
import { errorCode, hashFile, statKey, type ResolvedKind, type Tree, type TreeFile } from './watch-paths.js';

/** A resolved watch path, as far as its content is concerned. */
export interface ContentTarget {
  /** The path as watched (events name it). */
  path: string;
  kind: ResolvedKind | 'tree';
  /** Real path of the file; null when missing or unresolvable. */
  real: string | null;
  code?: string;
  /** For kind 'tree': its files. */
  tree?: Tree;
}

/** Which files a check must hash again even when their stat key is the one cached. */
export interface DirtyPaths {
  /** Every file (the periodic rescan). */
  full: boolean;
  dirty: ReadonlySet<string>;
  dirtyDirs: ReadonlySet<string>;
}

interface CachedHash {
  key: string;
  hash: string;
}

/** Files hashed at once at most, so a large tree does not open thousands of files together. */
const BATCH = 32;

export class ContentIndex {
  /** Per path: stat key at the last check ('missing' when absent). */
  private committedKeys = new Map<string, string>();
  private hashCache = new Map<string, CachedHash>();

  /** A path's stat key at the last check ('missing' when it was absent; undefined when not looked at). */
  committedKey(path: string): string | undefined {
    return this.committedKeys.get(path);
  }

  /** Starts a check: what it records replaces the index when `commit()` is called. */
  begin(dirtyPaths: DirtyPaths): ContentLook {
    return new ContentLook(this.hashCache, dirtyPaths, (keys, cache) => {
      this.committedKeys = keys;
      this.hashCache = cache;
    });
  }
}

/** One check's look at the content: entry ('' = the path itself, else a file relative to it) → state. */
export class ContentLook {
  private readonly keys = new Map<string, string>();
  private readonly cache = new Map<string, CachedHash>();

  constructor(
    private readonly previous: ReadonlyMap<string, CachedHash>,
    private readonly dirtyPaths: DirtyPaths,
    private readonly onCommit: (keys: Map<string, string>, cache: Map<string, CachedHash>) => void,
  ) {}

  async fingerprint(t: ContentTarget): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (t.kind !== 'tree') {
      out.set('', await this.fileState(t.path, t.kind, t.real, t.code, true));
      return out;
    }
    out.set('', 'dir');
    const files = t.tree!.files;
    for (let i = 0; i < files.length; i += BATCH) {
      await Promise.all(
        files.slice(i, i + BATCH).map(async (f) => {
          out.set(f.rel, await this.fileState(f.path, f.kind, f.real, f.code, this.isDirty(f)));
        }),
      );
    }
    return out;
  }

  /** The index now holds what this look recorded. */
  commit(): void {
    this.onCommit(this.keys, this.cache);
  }

  private isDirty(f: TreeFile): boolean {
    const d = this.dirtyPaths;
    return d.full || d.dirty.has(f.path) || (f.real !== null && d.dirty.has(f.real)) || d.dirtyDirs.has(f.path.slice(0, f.path.lastIndexOf('/')) || '/');
  }

  private async fileState(target: string, kind: ResolvedKind | 'tree', real: string | null, code: string | undefined, forceHash: boolean): Promise<string> {
    if (kind === 'missing' || real === null) {
      this.keys.set(target, 'missing');
      return kind === 'error' ? `error:${code ?? 'EUNKNOWN'}` : 'missing';
    }
    if (kind !== 'file') return kind;
    const sk = await statKey(target);
    if (!sk) {
      this.keys.set(target, 'missing');
      return 'missing';
    }
    this.keys.set(target, sk.key);
    if (!sk.isFile) return 'other';
    const cached = this.previous.get(real);
    if (!forceHash && cached && cached.key === sk.key) {
      this.cache.set(real, cached);
      return `file:${cached.hash}`;
    }
    try {
      const hash = await hashFile(real, sk.size);
      this.cache.set(real, { key: sk.key, hash });
      return `file:${hash}`;
    } catch (err) {
      const c = errorCode(err);
      return c === 'ENOENT' ? 'missing' : `error:${c}`;
    }
  }
}
