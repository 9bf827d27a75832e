// One file from disk to a config value: read (bounded, consistent) → verify
// the exact bytes → decode → parse → normalize/expand. Used by fileSource and
// by dirSource for each fragment.
import type { BigIntStats } from 'node:fs';
import type { LoadContext, SourceFile } from '../shared/types.js';
import { freezeStable } from '../shared/hash.js';
import { mentionsVariables, normalizeValue, type EnvOption } from './normalize.js';
import { decodeText, parseConfigText, type ConfigFormat } from './parse.js';
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
  size: number;
  /** The path's stat when the bytes were read, and Date.now() just before the read began. */
  stat: BigIntStats;
  readAt: number;
  /** The bytes themselves, kept only when they were verified (a signature check needs them again). */
  bytes?: Buffer;
  /** The normalized value, deep-frozen (`share`), once known not to depend on the environment. */
  shared?: Record<string, unknown>;
  /** False when a string holds `${`: the value is normalized again on every load. */
  constant?: boolean;
}

export interface LoadedFile {
  value: Record<string, unknown>;
  file: SourceFile;
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
 * otherwise null. Not for loads that verify signatures (see loadConfigFile).
 */
export function memoizedFile(path: string, format: ConfigFormat, options: FileLoadOptions, st: BigIntStats): LoadedFile | null {
  const memo = options.memo?.get(path);
  if (memo === undefined || memo.format !== format || !stillValid(memo, st)) return null;
  return { value: normalized(path, memo, options), file: { path, sha256: memo.sha256, size: memo.size } };
}

/**
 * Loads one file. With `st` and a memo entry it shows unchanged, nothing is
 * read: the memo's parse is used (and, when signatures are checked, the
 * bytes kept with it are verified again).
 */
export async function loadConfigFile(path: string, format: ConfigFormat, options: FileLoadOptions, ctx: LoadContext, st?: BigIntStats): Promise<LoadedFile> {
  const memo = options.memo?.get(path);
  if (st !== undefined && memo !== undefined && (ctx.verify === undefined || memo.bytes !== undefined)) {
    const reused = memoizedFile(path, format, options, st);
    if (reused !== null) {
      if (ctx.verify && memo.bytes) await ctx.verify(path, memo.bytes);
      throwIfAborted(ctx.signal, path);
      return reused;
    }
  }
  const readAt = Date.now();
  const { bytes, sha256, stat } = await readConfigBytes(path, { maxBytes: options.maxBytes, signal: ctx.signal });
  // The same buffer is verified and then parsed: no second read in between.
  if (ctx.verify) await ctx.verify(path, bytes);
  throwIfAborted(ctx.signal, path);
  const same = memo !== undefined && memo.sha256 === sha256 && memo.format === format;
  const entry: MemoEntry = same
    ? { ...memo, stat, readAt }
    : { sha256, format, parsed: parseConfigText(path, decodeText(path, bytes), format), size: bytes.length, stat, readAt };
  if (ctx.verify) entry.bytes = bytes;
  else delete entry.bytes;
  options.memo?.set(path, entry);
  return { value: normalized(path, entry, options), file: { path, sha256, size: bytes.length } };
}

/** A fresh normalized copy of the parse, or (`share`) the entry's frozen one when the environment cannot change it. */
function normalized(path: string, entry: MemoEntry, options: FileLoadOptions): Record<string, unknown> {
  if (!options.share) return normalizeValue(path, entry.parsed, options.env) as Record<string, unknown>;
  entry.constant ??= !options.env || !mentionsVariables(entry.parsed);
  if (!entry.constant) return normalizeValue(path, entry.parsed, options.env) as Record<string, unknown>;
  entry.shared ??= freezeStable(normalizeValue(path, entry.parsed, options.env) as Record<string, unknown>);
  return entry.shared;
}
