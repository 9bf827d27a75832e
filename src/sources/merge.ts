// Merging the parts of a config (dirSource's fragments, layers' sources) and
// telling, afterwards, which part set a value.
import { child, isPlainObject, type PathSegment } from '../shared/paths.js';
import { defineOwn } from './normalize.js';

/**
 * Deep-merges `next` into `target`, a fresh object owned by the load:
 * objects merge key by key, anything else (arrays, scalars, null) from
 * `next` replaces what was there. A part's value may be frozen and shared
 * between loads (see loadConfigFile): an object two parts both set is
 * copied before the second is merged into it, so no part's value is changed.
 */
export function mergeInto(target: Record<string, unknown>, next: Record<string, unknown>): Record<string, unknown> {
  for (const key of Object.keys(next)) {
    const before = Object.hasOwn(target, key) ? target[key] : undefined;
    const after = next[key];
    if (isPlainObject(before) && isPlainObject(after)) {
      const owned = Object.isFrozen(before) ? { ...before } : before;
      if (owned !== before) defineOwn(target, key, owned);
      mergeInto(owned, after);
    } else defineOwn(target, key, after);
  }
  return target;
}

/** Whether `value` has something at `path`. */
export function holds(value: unknown, path: readonly PathSegment[]): boolean {
  let v = value;
  for (const seg of path) {
    v = child(v, seg);
    if (v === undefined) return false;
  }
  return true;
}

const LINEAR_LOOKUPS = 16;

/**
 * A lookup of the part that set the value at a path of the merged config (a
 * path present in it): the last part that has it. A later part that
 * replaced an object with a scalar would have removed the path from the
 * merged config, so the last part holding it is the one whose value
 * survived. After a few lookups, parts are indexed by top-level key, so
 * looking up many paths among thousands of parts stays cheap.
 */
export function setterLookup<P>(parts: readonly P[], valueOf: (part: P) => unknown): (path: readonly PathSegment[]) => P | undefined {
  let byKey: Map<string, P[]> | null = null;
  let lookups = 0;
  return (path) => {
    if (path.length === 0) return parts[parts.length - 1];
    // A few lookups (one edit's changes) scan; many pay for the index once.
    if (byKey === null && (lookups += 1) <= LINEAR_LOOKUPS) {
      for (let i = parts.length - 1; i >= 0; i -= 1) if (holds(valueOf(parts[i]!), path)) return parts[i];
      return undefined;
    }
    if (byKey === null) {
      byKey = new Map();
      for (const part of parts) {
        const v = valueOf(part);
        if (!isPlainObject(v)) continue;
        for (const key of Object.keys(v)) {
          const list = byKey.get(key);
          if (list) list.push(part);
          else byKey.set(key, [part]);
        }
      }
    }
    const candidates = byKey.get(String(path[0])) ?? [];
    for (let i = candidates.length - 1; i >= 0; i -= 1) {
      if (holds(valueOf(candidates[i]!), path)) return candidates[i];
    }
    return undefined;
  };
}

/**
 * A copy of `next` whose keys take the spelling of the key `base` already
 * has at the same place when they compare equal by `loose` (and only one
 * does), at every level: `maxconnections` from an environment variable
 * meets `maxConnections` from a file. Other keys stay as they are.
 */
export function respell(base: unknown, next: Record<string, unknown>, loose: (key: string) => string): Record<string, unknown> {
  const spellings = new Map<string, string | null>();
  if (isPlainObject(base)) {
    for (const key of Object.keys(base)) {
      const k = loose(key);
      spellings.set(k, spellings.has(k) ? null : key);
    }
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(next)) {
    const spelled = isPlainObject(base) && Object.hasOwn(base, key) ? key : (spellings.get(loose(key)) ?? key);
    const value = next[key];
    defineOwn(out, spelled, isPlainObject(value) ? respell(isPlainObject(base) ? base[spelled] : undefined, value, loose) : value);
  }
  return out;
}
