// envSource: settings from environment variables, usually the last layer of
// `layers([...])`. `APP_SERVER__PORT=8080` with prefix `APP_` sets
// `server.port`: the prefix is removed, the rest split at the separator
// (default `__`), each part lower-cased. Values are read as YAML reads a
// plain scalar (`8080` a number, `true` a boolean, `null` null), or as JSON
// when they are a list or an object; where the schema refuses that, the text
// itself is tried (see engine/validate.ts), so a string setting keeps
// `0123`. Variables are read at every load, but a process's environment
// does not change from outside: nothing watches it; changing it takes a
// restart (or `reload()` after the process changed its own process.env).
import { LoadError, OptionsError, refuseUnknownKeys } from '../shared/errors.js';
import { isPlainObject, type PathSegment } from '../shared/paths.js';
import type { ConfigSource, LoadedConfig, WatchSpec } from '../shared/types.js';
import { defineOwn } from './normalize.js';
import { readEnvText, type TypedText } from './scalar.js';

export interface EnvSourceOptions {
  /** Only variables whose name starts with this, e.g. `APP_` (required). */
  prefix: string;
  /** Separates the levels of a path in a name (default `__`): `APP_SERVER__PORT` is `server.port`. */
  separator?: string;
  /** The variables to read (default: process.env, read at every load). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface EnvConfigSource extends ConfigSource {
  readonly prefix: string;
  readonly separator: string;
  /** Nothing to verify: no file is read. */
  readonly verifiesSignatures: true;
  watchSpecs(): WatchSpec[];
}

/** A key as env names and config keys are compared: lower case, without `_` and `-`. */
export function looseKey(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

interface Setting {
  name: string;
  path: string[];
  text: string;
}

function checkOptions(options: unknown): { prefix: string; separator: string; env: EnvSourceOptions['env'] } {
  if (options === null || typeof options !== 'object') throw new OptionsError('envSource needs options: { prefix, separator?, env? }');
  const { prefix, separator = '__', env } = options as Partial<EnvSourceOptions>;
  refuseUnknownKeys('envSource', options, ['prefix', 'separator', 'env']);
  if (typeof prefix !== 'string' || prefix === '') throw new OptionsError('envSource: prefix must be a non-empty string, e.g. "APP_"');
  if (typeof separator !== 'string' || separator === '') throw new OptionsError('envSource: separator must be a non-empty string, e.g. "__"');
  if (env !== undefined && (env === null || typeof env !== 'object' || Array.isArray(env))) {
    throw new OptionsError('envSource: env must be a record of variables');
  }
  return { prefix, separator, env };
}

/** The environment sources made here: layers respells their keys. */
const envSources = new WeakSet<ConfigSource>();

export function isEnvSource(source: ConfigSource): boolean {
  return envSources.has(source);
}

export function envSource(options: EnvSourceOptions): EnvConfigSource {
  const { prefix, separator, env } = checkOptions(options);

  const settings = (): Setting[] => {
    const vars = env ?? process.env;
    const out: Setting[] = [];
    for (const name of Object.keys(vars).sort()) {
      const text = vars[name];
      if (!name.startsWith(prefix) || text === undefined) continue;
      const parts = name.slice(prefix.length).split(separator);
      if (parts.some((p) => p === '')) {
        throw new LoadError(`environment variable ${name}: ${name === prefix ? 'names no setting' : `an empty part between "${separator}" separators`}`);
      }
      out.push({ name, path: parts.map((p) => p.toLowerCase()), text });
    }
    return out;
  };

  const source: EnvConfigSource = {
    description: `environment ${prefix}*`,
    prefix,
    separator,
    verifiesSignatures: true,
    async load(): Promise<LoadedConfig> {
      const list = settings();
      const value: Record<string, unknown> = {};
      const typed: TypedText[] = [];
      const setAt = new Map<string, string>(); // path → the variable that set it, for conflicts
      for (const s of list) {
        let node = value;
        s.path.forEach((key, k) => {
          const sofar = s.path.slice(0, k + 1).join('.');
          if (k === s.path.length - 1) {
            const other = setAt.get(sofar) ?? [...setAt].find(([p]) => p.startsWith(`${sofar}.`))?.[1];
            if (other !== undefined) throw new LoadError(`environment variables ${other} and ${s.name} both set ${sofar}`);
            const v = readEnvText(s.text);
            defineOwn(node, key, v);
            setAt.set(sofar, s.name);
            if (v !== s.text) typed.push({ path: s.path, text: s.text });
            return;
          }
          const owner = setAt.get(sofar);
          if (owner !== undefined) throw new LoadError(`environment variables ${owner} and ${s.name} both set ${sofar}`);
          if (!isPlainObject(node[key])) defineOwn(node, key, {});
          node = node[key] as Record<string, unknown>;
        });
      }
      const byPath = (path: readonly PathSegment[]): Setting | undefined => {
        const want = path.map((p) => looseKey(String(p))).join('.');
        return list.find((s) => s.path.map(looseKey).join('.') === want);
      };
      const where = (path: readonly PathSegment[]) => {
        const s = byPath(path);
        return s && `$${s.name}`;
      };
      return { value, files: [], locate: where, origin: where, typedTexts: () => typed };
    },
    watchSpecs: () => [],
  };
  envSources.add(source);
  return source;
}
