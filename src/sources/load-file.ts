// One file from disk to a config value: read (bounded, consistent) → verify
// the exact bytes → decode → parse → normalize/expand. Used by fileSource and
// by dirSource for each fragment.
import type { LoadContext, SourceFile } from '../types.js';
import { normalizeValue, type EnvOption } from './normalize.js';
import { decodeText, parseConfigText, type ConfigFormat } from './parse.js';
import { readConfigBytes, throwIfAborted } from './read.js';

export interface FileLoadOptions {
  env?: EnvOption | undefined;
  maxBytes?: number | undefined;
}

export interface LoadedFile {
  value: Record<string, unknown>;
  file: SourceFile;
}

export async function loadConfigFile(
  path: string,
  format: ConfigFormat,
  options: FileLoadOptions,
  ctx: LoadContext,
): Promise<LoadedFile> {
  const { bytes, sha256 } = await readConfigBytes(path, { maxBytes: options.maxBytes, signal: ctx.signal });
  // The same buffer is verified and then parsed: no second read in between.
  if (ctx.verify) await ctx.verify(path, bytes);
  throwIfAborted(ctx.signal, path);
  const parsed = parseConfigText(path, decodeText(path, bytes), format);
  const value = normalizeValue(path, parsed, options.env) as Record<string, unknown>;
  return { value, file: { path, sha256, size: bytes.length } };
}
