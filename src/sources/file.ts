// fileSource: one YAML, JSON or TOML file.
import { resolve } from 'node:path';
import { FileNotFoundError, OptionsError } from '../shared/errors.js';
import type { ConfigSource, LoadContext, LoadedConfig, WatchSpec } from '../shared/types.js';
import { fileLocator, loadConfigFile, type ParseMemo } from './load-file.js';
import type { EnvOption } from './normalize.js';
import { checkEnv, checkMaxBytes, checkPath, checkSourceOptions } from './options.js';
import { CONFIG_FORMATS, formatFromPath, UNKNOWN_FORMAT_HINT, type ConfigFormat } from './parse.js';

export interface FileSourceOptions {
  /** Parser to use; by default chosen by the extension (.yaml/.yml, .json, .toml). */
  format?: ConfigFormat;
  /** Expand `${VAR}` in string values: `true` = process.env, or a record of variables. */
  env?: EnvOption;
  /** Largest file accepted, in bytes (default 16 MiB). */
  maxBytes?: number;
  /**
   * A missing file is an empty config (`{}`) rather than an error: for a
   * per-environment layer that may not exist (`config.production.yaml`).
   * It is still watched, so creating it starts a pass.
   */
  optional?: boolean;
}

export interface FileConfigSource extends ConfigSource {
  /** Absolute path of the file. */
  readonly path: string;
  readonly format: ConfigFormat;
  readonly verifiesSignatures: true;
  watchSpecs(): WatchSpec[];
}

/**
 * One YAML, JSON or TOML file (by extension, or `format`). A file caught
 * mid-write is read again, never parsed half written; an empty file, one
 * over `maxBytes` or one that is not UTF-8 text is refused (the pass is
 * `load_failed`). With `env`, `${VAR}` and `${VAR:-default}` in string
 * values are expanded (`$${` is a literal `${`).
 */
export function fileSource(path: string, fileOptions?: FileSourceOptions): FileConfigSource {
  const abs = resolve(checkPath('fileSource', path));
  const options = checkSourceOptions('fileSource', fileOptions, ['format', 'env', 'maxBytes', 'optional']);
  const env = checkEnv('fileSource', options.env);
  const maxBytes = checkMaxBytes('fileSource', options.maxBytes);
  if (options.optional !== undefined && typeof options.optional !== 'boolean') throw new OptionsError('fileSource: optional must be a boolean');
  const optional = options.optional === true;
  let format: ConfigFormat;
  if (options.format !== undefined) {
    if (!(CONFIG_FORMATS as readonly string[]).includes(options.format)) {
      throw new OptionsError(`fileSource: unknown format ${JSON.stringify(options.format)}; use yaml, json or toml`);
    }
    format = options.format;
  } else {
    const byExtension = formatFromPath(abs);
    if (!byExtension) throw new OptionsError(`fileSource: cannot tell the format of ${abs}; ${UNKNOWN_FORMAT_HINT}`);
    format = byExtension;
  }
  const memo: ParseMemo = new Map();
  return {
    description: abs,
    path: abs,
    format,
    verifiesSignatures: true,
    async load(ctx: LoadContext): Promise<LoadedConfig> {
      let loaded;
      try {
        loaded = await loadConfigFile(abs, format, { env, maxBytes, memo }, ctx);
      } catch (err) {
        if (optional && err instanceof FileNotFoundError) return { value: {}, files: [] };
        throw err;
      }
      let locator: ReturnType<typeof fileLocator> | null = null;
      const typed = loaded.typed;
      return {
        value: loaded.value,
        files: [loaded.file],
        locate: (path) => (locator ??= fileLocator())(loaded, path),
        ...(typed ? { typedTexts: () => typed } : {}),
      };
    },
    watchSpecs: () => [{ path: abs }],
  };
}
