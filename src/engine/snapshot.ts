// Snapshots: deep-frozen configs, their canonical hash, and leaf diffs.
import { createHash } from 'node:crypto';
import { child, childSegments, formatPath, isPlainObject, type PathSegment } from './paths.js';

/** Freezes a value and everything reachable from it; returns it for chaining. */
export function deepFreeze<T>(value: T): T {
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Map) {
      for (const [k, val] of v) {
        visit(k);
        visit(val);
      }
    } else if (v instanceof Set) {
      for (const val of v) visit(val);
    } else if (ArrayBuffer.isView(v)) {
      // Typed arrays with elements cannot be frozen; callers get them as-is.
      return;
    }
    for (const key of Reflect.ownKeys(v)) {
      visit((v as Record<PropertyKey, unknown>)[key]);
    }
    Object.freeze(v);
  };
  visit(value);
  return value;
}

/**
 * Canonical JSON: object keys sorted, `undefined` members dropped, Dates as
 * ISO strings, bigints and non-finite numbers tagged so they hash distinctly.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  const stack = new Set<object>();
  const write = (v: unknown): void => {
    if (v === null || v === undefined) {
      parts.push('null');
      return;
    }
    switch (typeof v) {
      case 'string':
        parts.push(JSON.stringify(v));
        return;
      case 'boolean':
        parts.push(v ? 'true' : 'false');
        return;
      case 'number':
        parts.push(Number.isFinite(v) ? JSON.stringify(v) : JSON.stringify(`#num:${String(v)}`));
        return;
      case 'bigint':
        parts.push(JSON.stringify(`#bigint:${v.toString()}`));
        return;
      case 'function':
      case 'symbol':
        parts.push('null');
        return;
      default:
        break;
    }
    const obj = v as object;
    if (stack.has(obj)) throw new TypeError('config contains a cycle');
    stack.add(obj);
    try {
      if (obj instanceof Date) {
        parts.push(JSON.stringify(Number.isNaN(obj.getTime()) ? '#date:invalid' : obj.toISOString()));
      } else if (Array.isArray(obj)) {
        parts.push('[');
        obj.forEach((item, i) => {
          if (i > 0) parts.push(',');
          write(item);
        });
        parts.push(']');
      } else if (obj instanceof Map) {
        write(Object.fromEntries([...obj.entries()].map(([k, val]) => [String(k), val])));
      } else if (obj instanceof Set) {
        write([...obj]);
      } else if (!isPlainObject(obj) && typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
        write((obj as { toJSON: () => unknown }).toJSON());
      } else {
        const rec = obj as Record<string, unknown>;
        const keys = Object.keys(rec)
          .filter((k) => rec[k] !== undefined)
          .sort();
        parts.push('{');
        keys.forEach((k, i) => {
          if (i > 0) parts.push(',');
          parts.push(JSON.stringify(k), ':');
          write(rec[k]);
        });
        parts.push('}');
      }
    } finally {
      stack.delete(obj);
    }
  };
  write(value);
  return parts.join('');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** SHA-256 (hex) of the canonical JSON of a config. */
export function configHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
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
  const out: string[] = [];
  const walk = (a: unknown, b: unknown, path: PathSegment[]): void => {
    const ca = isContainer(a);
    const cb = isContainer(b);
    const bothSameKind = ca && cb && Array.isArray(a) === Array.isArray(b);
    if (bothSameKind || (ca && b === undefined) || (cb && a === undefined)) {
      const segs = new Set<PathSegment>([...childSegments(a), ...childSegments(b)]);
      if (segs.size === 0) {
        if (!deepEqual(a, b)) out.push(formatPath(path));
        return;
      }
      for (const seg of segs) walk(child(a, seg), child(b, seg), [...path, seg]);
      return;
    }
    if (!deepEqual(a, b)) out.push(path.length === 0 ? '' : formatPath(path));
  };
  walk(prev, next, []);
  return out.filter((p) => p !== '');
}
