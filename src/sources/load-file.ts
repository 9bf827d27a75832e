// One file from disk to a config value: read (bounded, consistent) → verify
// the exact bytes → decode → parse → normalize/expand. Used by fileSource and
// by dirSource for each fragment.
import type { BigIntStats } from 'node:fs';
import type { PathSegment } from '../shared/paths.js';
import type { LoadContext, SourceFile } from '../shared/types.js';
import { freezeStable } from '../shared/hash.js';
import { mentionsVariables, normalizeValue, type EnvOption } from './normalize.js';
import type { TypedText } from './scalar.js';
import { decodeText, loadParser, parseConfigText, type ConfigFormat } from './parse.js';
import { positionFinder, type Position } from './positions.js';
import { RACY_WINDOW_MS, readConfigBytes, sameStat, throwIfAborted } from './read.js';

export interface FileLoadOptions {
  env?: EnvOption | undefined;
  maxBytes?: number | undefined;
  /** The last parse of each file, reused when the same bytes come again. */
  memo?: ParseMemo | undefined;
  /**
   * Return the memo's normalized value, deep-frozen and shared between loads,
   * when no `${VAR}` in the file can change it (dirSource, whose merge copies
   * what it changes). Otherwise every load builds a fresh value.
   */
  share?: boolean | undefined;
}

/**
 * Parse results by path, keyed by content hash: a reload of an unchanged file
 * (SIGHUP, API) skips the parser, the largest cost of a pass. Holds the raw
 * parse only; normalizing (and `${VAR}` expansion) runs on every load and
 * builds a fresh value, so nothing a caller gets can alter the memo.
 *
 * Each entry also keeps the stat of the bytes it was parsed from and when
 * they were read, so a caller that stats the file first (dirSource, over
 * thousands of fragments) can skip reading it at all: see `loadConfigFile`.
 */
export type ParseMemo = Map<string, MemoEntry>;

interface MemoEntry {
  sha256: string;
  format: ConfigFormat;
  parsed: Record<string, unknown>;
  /** The exact bytes parsed: verified again while unchanged, and where schema errors find their line. */
  bytes: Buffer;
  /** The path's stat when the bytes were read, and Date.now() just before the read began. */
  stat: BigIntStats;
  readAt: number;
  /** False when a string holds `${`: the value is normalized again on every load. */
  constant?: boolean;
  /** With `share` and `constant`: the load's result, its value deep-frozen, the same object every load. */
  shared?: LoadedFile;
}

export interface LoadedFile {
  value: Record<string, unknown>;
  file: SourceFile;
  format: ConfigFormat;
  /** The exact bytes the value was parsed from. */
  bytes: Buffer;
  /** Strings that were one `${VAR}`, typed from the variable's text (see normalize.ts). */
  typed?: TypedText[];
}

/**
 * Whether a memo entry still describes the file whose stat is `st`: same
 * device, inode, size, mtime and ctime, and that ctime clearly older than
 * the read (git's "racy" rule). Every write sets ctime to the current time,
 * but the kernel's clock is coarse: a write in the same tick as the read
 * could leave every stat field equal. A file changed within RACY_WINDOW_MS
 * before it was read is therefore read again until its entry is old enough.
 */
function stillValid(entry: MemoEntry, st: BigIntStats): boolean {
  return sameStat(entry.stat, st) && Number(st.ctimeMs) < entry.readAt - RACY_WINDOW_MS;
}

/**
 * The file's value from the memo, without reading it, when `st` (the path's
 * stat, taken by the caller just now) shows it unchanged since it was read;
 * otherwise null. A load that verifies signatures must still verify
 * `bytes` (loadConfigFile does).
 */
export function memoizedFile(path: string, format: ConfigFormat, options: FileLoadOptions, st: BigIntStats): LoadedFile | null {
  const memo = options.memo?.get(path);
  if (memo === undefined || memo.format !== format || !stillValid(memo, st)) return null;
  return loadedFrom(path, memo, options);
}

/**
 * Loads one file. With `st` and a memo entry it shows unchanged, nothing is
 * read: the memo's parse is used (and, when signatures are checked, the
 * bytes kept with it are verified again).
 */
export async function loadConfigFile(path: string, format: ConfigFormat, options: FileLoadOptions, ctx: LoadContext, st?: BigIntStats): Promise<LoadedFile> {
  const reused = st === undefined ? null : memoizedFile(path, format, options, st);
  if (reused !== null) {
    if (ctx.verify) await ctx.verify(path, reused.bytes);
    throwIfAborted(ctx.signal, path);
    return reused;
  }
  const memo = options.memo?.get(path);
  const readAt = Date.now();
  const { bytes, sha256, stat } = await readConfigBytes(path, { maxBytes: options.maxBytes, signal: ctx.signal });
  // The same buffer is verified and then parsed: no second read in between.
  if (ctx.verify) await ctx.verify(path, bytes);
  throwIfAborted(ctx.signal, path);
  const same = memo !== undefined && memo.sha256 === sha256 && memo.format === format;
  // Parsers load with the first file of their format (import 'reloadkit' stays light).
  if (!same) await loadParser(format);
  const entry: MemoEntry = same
    ? { ...memo, bytes, stat, readAt }
    : { sha256, format, parsed: parseConfigText(path, decodeText(path, bytes), format), bytes, stat, readAt };
  options.memo?.set(path, entry);
  return loadedFrom(path, entry, options);
}

/** A fresh normalized copy of the parse, or (`share`) the entry's frozen one when the environment cannot change it. */
function loadedFrom(path: string, entry: MemoEntry, options: FileLoadOptions): LoadedFile {
  if (options.share && entry.shared) return entry.shared;
  const file = { path, sha256: entry.sha256, size: entry.bytes.length };
  const fresh = (): LoadedFile => {
    const typed: TypedText[] = [];
    const value = normalizeValue(path, entry.parsed, options.env, typed) as Record<string, unknown>;
    return { value, file, format: entry.format, bytes: entry.bytes, ...(typed.length > 0 ? { typed } : {}) };
  };
  if (!options.share) return fresh();
  entry.constant ??= !options.env || !mentionsVariables(entry.parsed);
  if (!entry.constant) return fresh();
  if (entry.shared === undefined) {
    const loaded = fresh();
    freezeStable(loaded.value);
    entry.shared = loaded;
  }
  return entry.shared;
}

/**
 * A lookup of where the value at a path is written in loaded files:
 * `file:line:col` (or its nearest written parent), or the file alone when
 * its text cannot say. Parses each file's text again, once per lookup
 * function: for error messages only, so make one per failed load.
 */
export function fileLocator(): (loaded: LoadedFile, path: readonly PathSegment[]) => string {
  const finders = new Map<LoadedFile, ((path: readonly PathSegment[]) => Position) | null>();
  return (loaded, path) => {
    let find = finders.get(loaded);
    if (find === undefined) {
      try {
        find = positionFinder(decodeText(loaded.file.path, loaded.bytes), loaded.format);
      } catch {
        find = null;
      }
      finders.set(loaded, find);
    }
    try {
      if (find) {
        const { line, col } = find(path);
        return `${loaded.file.path}:${line}:${col}`;
      }
    } catch {
      // A text the position scan cannot follow: the file is all we can say.
    }
    return loaded.file.path;
  };
}
