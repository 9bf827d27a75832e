// layers: one config from several sources, merged in order like dirSource's
// fragments: objects deep-merged, arrays and scalars replaced by later
// layers. The usual shape is a base file, a conf.d directory and the
// environment:
//
//   layers([fileSource('base.yaml'), dirSource('conf.d'), envSource({ prefix: 'APP_' })])
//
// Every layer is loaded on every pass (each keeps its own caches), with the
// same signal and signature check. Errors, `changed_from` and schema errors
// name the layer (and in it the file, line or variable) that set a value.
// An environment layer's keys take the spelling the earlier layers use
// (compared without case, `_` or `-`), so `APP_SERVER__MAX_CONNECTIONS`
// overrides `server.maxConnections`.
import { errorMessage, LoadError, OptionsError, ReloadkitError } from '../shared/errors.js';
import { child, isPlainObject, type PathSegment } from '../shared/paths.js';
import type { ConfigSource, LoadContext, LoadedConfig, WatchSpec } from '../shared/types.js';
import { isEnvSource, looseKey } from './env.js';
import { holds, mergeInto, respell, setterLookup } from './merge.js';

export interface LayeredConfigSource extends ConfigSource {
  readonly layers: readonly ConfigSource[];
  watchSpecs(): WatchSpec[];
}

interface Part {
  source: ConfigSource;
  loaded: LoadedConfig;
  /** The layer's value as merged (an environment layer's keys respelled). */
  value: Record<string, unknown>;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

/** The keys of `path` as `value` spells them, matching loosely; null when it does not hold it. */
function spelledIn(value: unknown, path: readonly PathSegment[]): PathSegment[] | null {
  const out: PathSegment[] = [];
  let v = value;
  for (const seg of path) {
    const key =
      isPlainObject(v) && typeof seg === 'string' && !Object.hasOwn(v, seg) ? (Object.keys(v).find((k) => looseKey(k) === looseKey(seg)) ?? seg) : seg;
    v = child(v, key);
    if (v === undefined) return null;
    out.push(key);
  }
  return out;
}

export function layers(sources: readonly ConfigSource[]): LayeredConfigSource {
  if (!Array.isArray(sources) || sources.length === 0) throw new OptionsError('layers needs a non-empty list of sources');
  sources.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || typeof (s as Partial<ConfigSource>).load !== 'function') {
      throw new OptionsError(`layers: sources[${i}] is not a source (fileSource(), dirSource(), envSource() or an object with load())`);
    }
  });
  const list = [...sources];

  const loadLayer = async (source: ConfigSource, ctx: LoadContext): Promise<LoadedConfig> => {
    try {
      return await source.load(ctx);
    } catch (err) {
      // Our sources name the file or variable; a custom source's error gets its description.
      if (err instanceof ReloadkitError) throw err;
      throw new LoadError(`${source.description}: ${errorMessage(err)}`, { cause: err });
    }
  };

  return {
    description: `layers(${list.map((s) => s.description).join(', ')})`,
    layers: list,
    // Each layer that reads files checks their signatures; one that does not makes the whole unverifiable.
    verifiesSignatures: list.every((s) => s.verifiesSignatures === true),
    async load(ctx: LoadContext): Promise<LoadedConfig> {
      const merged: Record<string, unknown> = {};
      const parts: Part[] = [];
      for (const source of list) {
        const loaded = await loadLayer(source, ctx);
        if (!isPlainObject(loaded.value)) {
          throw new LoadError(`${source.description}: a layer must give a mapping of settings, not ${describeValue(loaded.value)}`);
        }
        const value = isEnvSource(source) ? respell(merged, loaded.value, looseKey) : loaded.value;
        mergeInto(merged, value);
        parts.push({ source, loaded, value });
      }
      const setBy = setterLookup(parts, (p) => p.value);
      return {
        value: merged,
        files: parts.flatMap((p) => p.loaded.files),
        locate(path) {
          // The layer that set a value; for a container (a missing key's parent), the last layer that can point at it.
          for (let i = parts.length - 1; i >= 0; i -= 1) {
            const part = parts[i]!;
            if (!holds(part.value, path)) continue;
            const where = part.loaded.locate?.(path);
            if (where) return where;
            const v = path.reduce<unknown>((node, seg) => child(node, seg), part.value);
            if (!isPlainObject(v) && !Array.isArray(v)) return part.source.description;
          }
          return undefined;
        },
        origin(path) {
          const part = setBy(path);
          return part && (part.loaded.origin?.(path) ?? part.source.description);
        },
        typedTexts: () =>
          parts.flatMap((part) =>
            (part.loaded.typedTexts?.() ?? []).flatMap((t) => {
              const path = spelledIn(part.value, t.path);
              return path !== null && setBy(path) === part ? [{ path, text: t.text }] : [];
            }),
          ),
      };
    },
    watchSpecs: () => list.flatMap((s) => s.watchSpecs?.() ?? []),
  };
}
