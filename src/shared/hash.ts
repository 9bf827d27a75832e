// Canonical JSON and SHA-256: the one place content and configs are hashed.
import { isPlainObject } from './paths.js';

/** Hex SHA-256 of bytes or of a string's UTF-8. */
export function sha256Hex(data: string | Uint8Array): string {
  // node:crypto loads on first use, not with `import 'reloadkit'` (several ms of start-up).
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(data).digest('hex');
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

/** SHA-256 (hex) of the canonical JSON of a config. */
export function configHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
