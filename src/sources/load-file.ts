// One file from disk to a config value: read (bounded, consistent) → verify
// the exact bytes → decode → parse → normalize/expand. Used by fileSource and
// by dirSource for each fragment.
import type { LoadContext, SourceFile } from '../shared/types.js';
import { normalizeValue, type EnvOption } from './normalize.js';
import { decodeText, loadParser, parseConfigText, type ConfigFormat } from './parse.js';
import { readConfigBytes, throwIfAborted } from './read.js';

export interface FileLoadOptions {
  env?: EnvOption | undefined;
  maxBytes?: number | undefined;
  /** The last parse of each file, reused when the same bytes come again. */
  memo?: ParseMemo | undefined;
}

/**
 * Parse results by path, keyed by content hash: a reload of an unchanged file
 * (SIGHUP, API) skips the parser, the largest cost of a pass. Holds the raw
 * parse only; normalizing (and `${VAR}` expansion) runs on every load and
 * builds a fresh value, so nothing a caller gets can alter the memo.
 */
export type ParseMemo = Map<string, { sha256: string; format: ConfigFormat; parsed: Record<string, unknown> }>;

export interface LoadedFile {
  value: Record<string, unknown>;
  file: SourceFile;
}

export async function loadConfigFile(path: string, format: ConfigFormat, options: FileLoadOptions, ctx: LoadContext): Promise<LoadedFile> {
  const { bytes, sha256 } = await readConfigBytes(path, { maxBytes: options.maxBytes, signal: ctx.signal });
  // The same buffer is verified and then parsed: no second read in between.
  if (ctx.verify) await ctx.verify(path, bytes);
  throwIfAborted(ctx.signal, path);
  const memo = options.memo?.get(path);
  const reuse = memo !== undefined && memo.sha256 === sha256 && memo.format === format;
  if (!reuse) await loadParser(format);
  const parsed = reuse ? memo.parsed : parseConfigText(path, decodeText(path, bytes), format);
  options.memo?.set(path, { sha256, format, parsed });
  const value = normalizeValue(path, parsed, options.env) as Record<string, unknown>;
  return { value, file: { path, sha256, size: bytes.length } };
}
