// The files an nginx config consists of, found the way nginx finds them: the
// main file, every file an `include` names (recursively; a glob's matches in
// sorted order, never a hidden file unless the pattern spells the dot), and
// the certificates and keys nginx reads when it loads the config. This is
// the nginx target's watch set when `watch:` is absent: an edit to any of
// these files starts a pass, a new file matching an include glob does too
// (its directory is watched, filtered by the glob), and a file nginx never
// reads (conf.d/NOTES.txt, site.conf.bak) does not.
//
// The set is derived from the files themselves at every load, not from the
// last `nginx -T` dump: `nginx -T` prints nothing for a config it refuses,
// and that is exactly when the watch set must stay right. After every check,
// the files `nginx -T` did list are compared with the set (target.ts warns
// about any nginx read that is not watched).
import { closeSync, constants, fstatSync, openSync, readFileSync, type Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { sha256Hex } from '../../shared/hash.js';
import { walkTree } from '../../triggers/watch-paths.js';
import { globRegExp, tokenize } from './nginx.js';

/** An `include` with a glob: the directory it lists, and which of its entries match. */
interface IncludeGlob {
  /** The pattern as resolved (absolute). */
  pattern: string;
  /** The deepest directory without a wildcard: what is listed (and watched). */
  dir: string;
  /** Whether a wildcard is in a directory part (`sites/*\/nginx.conf`): the directory is walked. */
  recursive: boolean;
  /** Tests an absolute path against the pattern. */
  match: RegExp;
}

export interface NginxFileSet {
  /** The main config file. */
  main: string;
  /** Every file nginx reads: main, includes (glob matches too), certificates and keys; sorted. */
  files: string[];
  globs: IncludeGlob[];
  /**
   * The config files as they were read to follow their includes: their hash
   * and size (null: missing or unreadable), so a load need not read them again.
   */
  read: Map<string, { sha256: string; size: number } | null>;
}

/** Directives whose argument is a file nginx reads when it loads the config (a renewed certificate needs a reload). */
const FILE_DIRECTIVES = new Set(
  ['', 'proxy_', 'grpc_', 'uwsgi_'].flatMap((p) =>
    ['ssl_certificate', 'ssl_certificate_key', 'ssl_trusted_certificate', 'ssl_crl', 'ssl_password_file'].map((d) => p + d),
  ),
);
for (const d of ['ssl_client_certificate', 'ssl_dhparam', 'ssl_session_ticket_key', 'ssl_stapling_file']) FILE_DIRECTIVES.add(d);

/** More files than this in one config is taken for an include loop through symlinks or a mistake; the rest is not followed. */
const MAX_FILES = 100_000;

const hasWildcard = (s: string) => /[*?[]/.test(s);

function includeGlob(pattern: string): IncludeGlob {
  const parts = pattern.split('/');
  const first = parts.findIndex(hasWildcard);
  const dir = parts.slice(0, first).join('/') || '/';
  return { pattern, dir, recursive: first < parts.length - 1, match: globRegExp(pattern) };
}

/** Config files larger than this are read through the thread pool; smaller ones synchronously (see target-source.ts). */
const SYNC_MAX_FILE = 256 * 1024;
const SLICE_FILES = 256;

/**
 * A config file's bytes, or null when it cannot be read. Small files are read
 * synchronously (opened non-blocking and checked with fstat, so a FIFO never
 * blocks the loop): through the thread pool each costs several round trips,
 * and a 1,000-file config is read at every load.
 */
async function readConfig(path: string): Promise<Buffer | null> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return null;
    if (st.size <= SYNC_MAX_FILE) return readFileSync(fd);
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
  return readFile(path).catch(() => null);
}

/** The regular files a glob matches now, sorted (as nginx's glob(3) returns them). */
async function globFiles(g: IncludeGlob): Promise<string[]> {
  const out: string[] = [];
  if (!g.recursive) {
    let entries: Dirent[];
    try {
      entries = await readdir(g.dir, { withFileTypes: true });
    } catch {
      return [];
    }
    for (const e of entries) {
      const path = join(g.dir, e.name);
      if (!g.match.test(path)) continue;
      // Only a symlink needs a stat (sites-enabled/* -> ../sites-available/*).
      if (e.isFile() || (e.isSymbolicLink() && (await stat(path).catch(() => null))?.isFile())) out.push(path);
    }
  } else {
    const tree = await walkTree(g.dir, true, (rel) => g.match.test(join(g.dir, rel))).catch(() => null);
    for (const f of tree?.files ?? []) if (f.kind === 'file') out.push(f.path);
  }
  return out.sort();
}

/**
 * The file set of the nginx config whose main file is `main`. Relative
 * paths resolve against the main file's directory, as nginx resolves them.
 * A file that cannot be read is still in the set (hashed as missing; the
 * check says why); nothing here throws for a broken config.
 */
export async function nginxFileSet(main: string, signal?: AbortSignal): Promise<NginxFileSet> {
  const confDir = dirname(main);
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(confDir, p));
  const configs = new Set<string>();
  const others = new Set<string>();
  const globs = new Map<string, IncludeGlob>();
  const read = new Map<string, { sha256: string; size: number } | null>();
  const queue = [main];
  let head = 0;
  while (head < queue.length && configs.size < MAX_FILES) {
    const file = queue[head++]!;
    if (configs.has(file)) continue;
    configs.add(file);
    if (configs.size % SLICE_FILES === 0) await new Promise((r) => setImmediate(r));
    signal?.throwIfAborted();
    const bytes = await readConfig(file);
    read.set(file, bytes === null ? null : { sha256: sha256Hex(bytes), size: bytes.length });
    if (bytes === null) continue;
    const text = bytes.toString('utf8');
    // Statements at any depth: `include` works in every context.
    let stmt: string[] = [];
    for (const t of tokenize(text)) {
      if (t === '{' || t === '}') {
        stmt = [];
        continue;
      }
      if (t !== ';') {
        stmt.push(t);
        continue;
      }
      const [name, arg] = stmt;
      stmt = [];
      if (arg === undefined || arg === '') continue;
      if (name === 'include') {
        const path = abs(arg);
        if (!hasWildcard(path)) queue.push(path);
        else {
          const g = globs.get(path) ?? includeGlob(path);
          globs.set(path, g);
          queue.push(...(await globFiles(g)));
        }
      } else if (name !== undefined && FILE_DIRECTIVES.has(name) && !arg.includes('$') && !arg.startsWith('data:') && !arg.startsWith('engine:')) {
        others.add(abs(arg));
      }
    }
  }
  return { main, files: [...new Set([...configs, ...others])].sort(), globs: [...globs.values()], read };
}
