// dirSource: every file in a directory matching a pattern (non-recursive),
// merged in name order. Objects are deep-merged; arrays and scalars from a
// later file replace earlier ones. Each load starts from nothing, so a
// removed fragment's settings are gone. Fragments are regular files or
// symlinks to them (a Kubernetes ConfigMap mount); subdirectories are skipped.
// The directory is listed before and after reading; when the set of names
// changed, or a fragment vanished between listing and reading, the load
// starts over (bounded, ~2 s), so a load never mixes two states of the set.
// A fragment is read again only when its stat (device, inode, size, mtime,
// ctime) changed since it was read, or it changed shortly before that read
// (see loadConfigFile): an edit in a directory of 10,000 fragments reads one.
// An unchanged fragment's value is the same deep-frozen object every load
// (unless `${VAR}` in it may expand differently): the merged config is fresh
// at its top and wherever two fragments meet, and shares the rest.
import { statSync, type BigIntStats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { join, resolve, sep } from 'node:path';
import { LoadError, FileNotFoundError } from '../shared/errors.js';
import type { ConfigSource, LoadContext, LoadedConfig, WatchSpec } from '../shared/types.js';
import { compileGlob } from './glob.js';
import { fileLocator, loadConfigFile, memoizedFile, type FileLoadOptions, type LoadedFile, type ParseMemo } from './load-file.js';
import { mergeInto, setterLookup } from './merge.js';
import type { EnvOption } from './normalize.js';
import { checkEnv, checkMaxBytes, checkPath, checkSourceOptions } from './options.js';
import { formatFromPath } from './parse.js';
import { pause, throwIfAborted } from './read.js';

export const DEFAULT_FRAGMENT_PATTERN = '*.{yaml,yml,json,toml}';

/** Bound on re-listing a directory whose fragments keep appearing or vanishing. */
const CHANGE_DEADLINE_MS = 2000;
/** Fragments stat'ed between two turns of the event loop. */
const STAT_SLICE = 256;

export interface DirSourceOptions {
  /** Which names are fragments: `*`, `?` and `{a,b}` (default `*.{yaml,yml,json,toml}`). */
  pattern?: string;
  /** Expand `${VAR}` in string values: `true` = process.env, or a record of variables. */
  env?: EnvOption;
  /** Largest fragment accepted, in bytes (default 16 MiB each). */
  maxBytes?: number;
}

export interface DirConfigSource extends ConfigSource {
  /** Absolute path of the directory. */
  readonly dir: string;
  readonly pattern: string;
  readonly verifiesSignatures: true;
  watchSpecs(): WatchSpec[];
}

function dirError(dir: string, err: unknown): LoadError {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') return new LoadError(`${dir}: directory not found`, { cause: err });
  if (code === 'ENOTDIR') return new LoadError(`${dir}: not a directory`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new LoadError(`${dir}: permission denied`, { cause: err });
  return new LoadError(`${dir}: cannot list directory (${code ?? String(err)})`, { cause: err });
}

/**
 * A fragment's stat, synchronously: through the thread pool, 10,000 stats
 * took 100-150 ms (a round trip each), synchronously 25-75 ms. Any error but
 * "not found" is left to the careful reader, which names it.
 */
function statOrError(path: string): BigIntStats | 'missing' | 'error' {
  try {
    return statSync(path, { bigint: true, throwIfNoEntry: false }) ?? 'missing';
  } catch {
    return 'error';
  }
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}

/** The fragments' names, sorted by code unit (C-locale `ls` order): zero-pad numeric prefixes. */
async function listFragments(abs: string, matches: (name: string) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(abs);
  } catch (err) {
    throw dirError(abs, err);
  }
  return names.filter(matches).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A symlink whose target does not exist (not a fragment removed meanwhile). */
async function isDangling(path: string): Promise<boolean> {
  const link = await lstat(path).catch(() => null);
  return (
    link !== null &&
    link.isSymbolicLink() &&
    (await stat(path).then(
      () => false,
      () => true,
    ))
  );
}

/** Loads every listed fragment of `abs` (`prefix` is `abs` with a trailing separator), or names the one that vanished meanwhile. */
async function loadFragments(
  abs: string,
  prefix: string,
  names: readonly string[],
  fileOptions: FileLoadOptions,
  ctx: LoadContext,
): Promise<LoadedConfig | { missing: string }> {
  const merged: Record<string, unknown> = {};
  const parts: LoadedFile[] = [];
  for (let i = 0; i < names.length; i += 1) {
    // Synchronous stats, in slices that let the event loop run between them.
    if (i > 0 && i % STAT_SLICE === 0) await yieldToEventLoop();
    throwIfAborted(ctx.signal, abs);
    const name = names[i]!;
    const path = prefix + name; // join() normalizes: 5 ms over 10,000 names
    try {
      const st = statOrError(path);
      if (st === 'missing') return { missing: path };
      if (st !== 'error' && !st.isFile()) continue;
      const format = formatFromPath(name);
      if (!format)
        throw new LoadError(`${path}: cannot tell the format from the extension; use .yaml, .yml, .json or .toml (or a pattern that matches only those)`);
      // A fragment whose stat is unchanged since it was read is not read again (see loadConfigFile).
      const stat = st === 'error' ? undefined : st;
      const reused = stat !== undefined && !ctx.verify ? memoizedFile(path, format, fileOptions, stat) : null;
      const loaded = reused ?? (await loadConfigFile(path, format, fileOptions, ctx, stat));
      mergeInto(merged, loaded.value);
      parts.push(loaded);
    } catch (err) {
      if (err instanceof FileNotFoundError || (err as NodeJS.ErrnoException | null)?.code === 'ENOENT') return { missing: path };
      throw err;
    }
  }
  return mergedConfig(merged, parts);
}

/** The merged fragments as one loaded config: each path located in the fragment whose value won. */
function mergedConfig(merged: Record<string, unknown>, parts: LoadedFile[]): LoadedConfig {
  if (parts.length === 0) return { value: null, files: [] };
  let locator: ReturnType<typeof fileLocator> | null = null;
  const setBy = setterLookup(parts, (p) => p.value);
  return {
    value: merged,
    files: parts.map((p) => p.file),
    locate(path) {
      const part = setBy(path);
      return part && (locator ??= fileLocator())(part, path);
    },
    origin: (path) => setBy(path)?.file.path,
    // Values typed from `${VAR}` in the fragments whose value is the one merged.
    typedTexts: () => parts.flatMap((part) => (part.typed ?? []).filter((t) => setBy(t.path) === part)),
  };
}

/**
 * Every fragment of a directory (default `*.{yaml,yml,json,toml}`, a
 * `conf.d/`), merged in name order: objects deep-merged, arrays and scalars
 * replaced by later files. Each fragment is read like `fileSource` reads
 * its file (`env` and `maxBytes` apply to each). A directory with no
 * matching fragment is refused (`load_failed`), never an empty config.
 */
export function dirSource(dir: string, dirOptions?: DirSourceOptions): DirConfigSource {
  const abs = resolve(checkPath('dirSource', dir));
  const options = checkSourceOptions('dirSource', dirOptions, ['pattern', 'env', 'maxBytes']);
  const pattern = options.pattern ?? DEFAULT_FRAGMENT_PATTERN;
  const matches = compileGlob(pattern);
  const env = checkEnv('dirSource', options.env);
  const maxBytes = checkMaxBytes('dirSource', options.maxBytes);
  const memo: ParseMemo = new Map();
  const fileOptions = { env, maxBytes, memo, share: true };
  const prefix = abs.endsWith(sep) ? abs : abs + sep;

  return {
    description: join(abs, pattern),
    dir: abs,
    pattern,
    verifiesSignatures: true,
    async load(ctx: LoadContext): Promise<LoadedConfig> {
      const deadline = performance.now() + CHANGE_DEADLINE_MS;
      let delay = 1;
      for (;;) {
        throwIfAborted(ctx.signal, abs);
        const names = await listFragments(abs, matches);
        const loaded = await loadFragments(abs, prefix, names, fileOptions, ctx);
        // A fragment added or removed while reading: the set read may be mixed.
        if ('files' in loaded && sameNames(names, await listFragments(abs, matches))) {
          if (loaded.files.length === 0) throw new LoadError(`no config fragments matching ${pattern} in ${abs}`);
          // Fragments gone from the directory leave the memo too.
          const current = new Set(loaded.files.map((f) => f.path));
          for (const path of memo.keys()) if (!current.has(path)) memo.delete(path);
          return loaded;
        }
        if (performance.now() >= deadline) {
          // Kept dangling for the whole wait (a ConfigMap update dangles one only briefly).
          if ('missing' in loaded && (await isDangling(loaded.missing))) {
            throw new LoadError(`${loaded.missing}: file not found (dangling symbolic link)`);
          }
          throw new LoadError(`${abs}: directory kept changing during read`);
        }
        await pause(delay, ctx.signal, abs);
        delay = Math.min(delay * 2, 50);
      }
    },
    // `..data` is the symlink a Kubernetes ConfigMap mount swaps on update.
    watchSpecs: () => [{ path: abs, filter: (rel: string) => rel === '..data' || matches(rel) }],
  };
}
