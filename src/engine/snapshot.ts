// Snapshots: deep-frozen configs and leaf diffs (their hash: shared/hash.ts).
import { canonicalJson, isStable } from '../shared/hash.js';
import { child, childSegments, formatPath, isPlainObject, type PathSegment } from '../shared/paths.js';

/** A method that refuses: what a snapshot's Map, Set, Date or URL has instead of its mutators. */
function refusal(what: string): () => never {
  return () => {
    throw new TypeError(`cannot ${what}: config snapshots are read-only`);
  };
}

function shadowMethods(obj: object, kind: string, names: readonly string[]): void {
  for (const name of names) {
    Object.defineProperty(obj, name, { value: refusal(`call ${kind}.${name}()`), writable: false, enumerable: false, configurable: false });
  }
}

const DATE_SETTERS = Object.getOwnPropertyNames(Date.prototype).filter((n) => n.startsWith('set'));
/** href, protocol, username, password, host, hostname, port, pathname, search, hash. */
const URL_SETTERS = Object.entries(Object.getOwnPropertyDescriptors(URL.prototype)).filter(([, d]) => d.set !== undefined);
const SEARCH_PARAMS_MUTATORS = ['append', 'delete', 'set', 'sort'];

/**
 * Objects whose state lives in internal slots, which Object.freeze does not
 * reach: a frozen Map still has a working `set()`, a frozen URL a working
 * `href` setter. Each gets own properties that shadow its mutators and
 * throw a TypeError, then is frozen like any object. (Calling the
 * prototype's method on it directly, `Map.prototype.set.call(m, …)`, still
 * works: that is deliberate, never an accident.)
 */
function lockInternalState(v: object): void {
  if (!Object.isExtensible(v)) return; // frozen before (e.g. shared with an earlier snapshot)
  if (v instanceof Map || v instanceof WeakMap)
    shadowMethods(
      v,
      v instanceof Map ? 'Map' : 'WeakMap',
      ['set', 'delete', 'clear'].filter((n) => n in v),
    );
  else if (v instanceof Set || v instanceof WeakSet)
    shadowMethods(
      v,
      v instanceof Set ? 'Set' : 'WeakSet',
      ['add', 'delete', 'clear'].filter((n) => n in v),
    );
  else if (v instanceof Date) shadowMethods(v, 'Date', DATE_SETTERS);
  else if (v instanceof URL) {
    for (const [name, d] of URL_SETTERS) {
      const get = d.get!;
      Object.defineProperty(v, name, { get: () => get.call(v) as unknown, set: refusal(`set URL.${name}`), enumerable: false, configurable: false });
    }
    // The same URLSearchParams object every time; its mutators would change the URL.
    const params = v.searchParams;
    shadowMethods(params, 'URLSearchParams', SEARCH_PARAMS_MUTATORS);
    Object.freeze(params);
  }
}

/**
 * Freezes a value and everything reachable from it; returns it for chaining.
 * Plain objects, arrays and class instances are frozen (their own
 * properties); Map, Set, WeakMap, WeakSet, Date, URL (and its searchParams)
 * are frozen and their mutators throw. What cannot be made read-only stays
 * as it is: the bytes of typed arrays, Buffers, ArrayBuffers and DataViews,
 * and private `#fields` or closures inside class instances.
 */
export function deepFreeze<T>(value: T): T {
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    // Stable data (shared between configs by a source) is frozen all the way down already.
    if (v === null || typeof v !== 'object' || seen.has(v) || isStable(v)) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, val] of v) {
        visit(k);
        visit(val);
      }
    } else if (v instanceof Set) {
      for (const val of v) visit(val);
    } else if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) {
      // Typed arrays with elements cannot be frozen; callers get them as-is.
      return;
    }
    for (const key of Reflect.ownKeys(v)) {
      visit((v as Record<PropertyKey, unknown>)[key]);
    }
    lockInternalState(v);
    Object.freeze(v);
  };
  visit(value);
  return value;
}

export function deepEqual(a: unknown, b: unknown): boolean {
  // `===` so -0 equals 0, as in the canonical JSON the hash is taken of; Object.is so NaN equals NaN.
  if (a === b || Object.is(a, b)) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  return canonicalJson(a) === canonicalJson(b);
}

function isContainer(v: unknown): boolean {
  return Array.isArray(v) || isPlainObject(v);
}

/**
 * Leaf dotted paths where `next` differs from `prev`. Added or removed
 * subtrees report their leaves; a container replaced by a scalar (or the
 * reverse) reports the path itself. Never includes values.
 */
export function changedPaths(prev: unknown, next: unknown): string[] {
  return changedLeaves(prev, next).map(formatPath);
}

/** changedPaths as path segments (a change of the whole config, a scalar, is not listed). */
export function changedLeaves(prev: unknown, next: unknown): PathSegment[][] {
  const out: PathSegment[][] = [];
  const walk = (a: unknown, b: unknown, path: PathSegment[]): void => {
    const ca = isContainer(a);
    const cb = isContainer(b);
    // The same object on both sides (a subtree a source shares between loads): nothing changed under it.
    if (a === b) return;
    const bothSameKind = ca && cb && Array.isArray(a) === Array.isArray(b);
    if (bothSameKind || (ca && b === undefined) || (cb && a === undefined)) {
      const segs = new Set<PathSegment>([...childSegments(a), ...childSegments(b)]);
      if (segs.size === 0) {
        if (!deepEqual(a, b) && path.length > 0) out.push(path);
        return;
      }
      for (const seg of segs) walk(child(a, seg), child(b, seg), [...path, seg]);
      return;
    }
    if (!deepEqual(a, b) && path.length > 0) out.push(path);
  };
  walk(prev, next, []);
  return out;
}
