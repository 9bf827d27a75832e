// The daemon's own config as a source for the `reloadkit` unit: the YAML
// file parsed and validated with line-numbered errors (or the built-in
// `--nginx` config), with flag/env overrides applied on top.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ConfigSource, LoadContext, LoadedConfig } from '../types.js';
import { ConfigError, nginxZeroConfig, parseConfigText, type ConfigOverrides } from './config.js';

export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export function ownConfigSource(path: string | null, overrides: ConfigOverrides): ConfigSource {
  if (path === null) {
    return {
      description: 'the built-in --nginx config',
      verifiesSignatures: true,
      load: async () => ({ value: nginxZeroConfig(overrides), files: [] }),
    };
  }
  return {
    description: path,
    verifiesSignatures: true,
    async load(ctx: LoadContext): Promise<LoadedConfig> {
      let bytes: Buffer;
      try {
        bytes = await readFile(path);
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message;
        throw new ConfigError(path, [`${path}: cannot read the config file: ${why}`]);
      }
      if (bytes.length > MAX_CONFIG_BYTES) throw new ConfigError(path, [`${path}: larger than ${MAX_CONFIG_BYTES} bytes`]);
      // The signature (when required) covers exactly the bytes that are parsed.
      if (ctx.verify) await ctx.verify(path, bytes);
      const value = parseConfigText(bytes.toString('utf8'), path, overrides);
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      return { value, files: [{ path, sha256, size: bytes.length }] };
    },
    watchSpecs: () => [{ path }],
  };
}
