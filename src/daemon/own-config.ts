// The daemon's own config as a source for the `reloadkit` unit: the YAML
// file parsed and validated with line-numbered errors (or the built-in
// `--nginx` config), with flag/env overrides applied on top.
import { errorMessage, ConfigError } from '../shared/errors.js';
import { readConfigBytes } from '../sources/read.js';
import type { ConfigSource, LoadContext, LoadedConfig } from '../shared/types.js';
import { nginxZeroConfig, parseConfigText, type ConfigOverrides } from './config.js';

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
      let sha256: string;
      try {
        // Sized by fstat before reading (a 20 MiB file is refused unread; a
        // sparse 1.5 GiB one was read whole), and never read half-written.
        ({ bytes, sha256 } = await readConfigBytes(path, { maxBytes: MAX_CONFIG_BYTES, signal: ctx.signal }));
      } catch (err) {
        const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
        const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : null;
        throw new ConfigError(path, [why === null ? errorMessage(err) : `${path}: cannot read the config file: ${why}`]);
      }
      // The signature (when required) covers exactly the bytes that are parsed.
      if (ctx.verify) await ctx.verify(path, bytes);
      const value = parseConfigText(bytes.toString('utf8'), path, overrides);
      return { value, files: [{ path, sha256, size: bytes.length }] };
    },
    watchSpecs: () => [{ path }],
  };
}
