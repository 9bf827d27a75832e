// The daemon's own config as a source for the `reloadkit` unit: the YAML
// file parsed and validated with line-numbered errors (or the built-in
// `--nginx` config), with flag/env overrides applied on top. The unit's value
// is the config as written (so a pass's `changed` names the keys the user
// wrote); the normalized config the daemon runs on goes with it.
import { dirname, resolve } from 'node:path';
import { errorMessage, ConfigError } from '../shared/errors.js';
import { readConfigBytes } from '../sources/read.js';
import type { ConfigSource, LoadContext, LoadedConfig } from '../shared/types.js';
import {
  NGINX_ZERO_CONFIG,
  nginxZeroConfig,
  normalizeConfig,
  parseWrittenConfig,
  withOverrides,
  type ConfigOverrides,
  type DaemonConfig,
  type WrittenConfig,
} from './config.js';

export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

const NORMALIZED = Symbol('reloadkit.normalized');

/**
 * What the `reloadkit` unit holds: the config as written, with the normalized
 * config the daemon runs on attached under a symbol key. Hashes, diffs and
 * redaction see only the written keys (they walk string keys).
 */
export type OwnConfig = WrittenConfig & { readonly [NORMALIZED]: DaemonConfig };

/** The normalized config (defaults filled, paths absolute, overrides applied) of the unit's value. */
export function daemonConfigOf(own: OwnConfig): DaemonConfig {
  return own[NORMALIZED];
}

function loaded(written: WrittenConfig, config: DaemonConfig, files: LoadedConfig['files']): LoadedConfig {
  const value = Object.defineProperty({ ...written }, NORMALIZED, { value: config, enumerable: false }) as OwnConfig;
  return { value, files };
}

export function ownConfigSource(path: string | null, overrides: ConfigOverrides): ConfigSource {
  if (path === null) {
    return {
      description: 'the built-in --nginx config',
      verifiesSignatures: true,
      load: async () => loaded(withOverrides(NGINX_ZERO_CONFIG, overrides), nginxZeroConfig(overrides), []),
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
      const written = parseWrittenConfig(bytes.toString('utf8'), path);
      const config = normalizeConfig(written, dirname(resolve(path)), overrides);
      return loaded(withOverrides(written, overrides), config, [{ path, sha256, size: bytes.length }]);
    },
    watchSpecs: () => [{ path }],
  };
}
