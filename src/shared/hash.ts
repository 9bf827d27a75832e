// Canonical JSON and SHA-256: the one place content and configs are hashed.
import { isPlainObject } from './paths.js';

/** Hex SHA-256 of bytes or of a string's UTF-8. */
export function sha256Hex(data: string | Uint8Array): string {
  // node:crypto loads on first use, not with `import 'reloadkit'` (several ms of start-up).
  return process.getBuiltinModule('node:crypto').createHash('sha256').update(data).digest('hex');
}

/**
 * Plain data frozen all the way down and shared between configs (a source's
 * unchanged part, e.g. dirSource's fragments): the engine does not freeze it
 * again, and canonicalJson keeps the text of the outermost such object it
 * meets (`null` until then), so hashing a config costs what changed.
 */
const stableTexts = new WeakMap<object, string | null>();

/**
 * Deep-freezes plain data (objects, arrays, primitives: what the config
 * parsers give) and registers it as stable; anything else under it (a Map, a
 * class instance, a getter) leaves that part and its parents unregistered.
 */
export function freezeStable<T>(value: T): T {
  const seen = new Set<object>();
  const visit = (v: unknown): boolean => {
    if (v === null || typeof v !== 'object') return typeof v !== 'function';
    if (stableTexts.has(v)) return true;
    if (seen.has(v)) return false; // met twice (shared or a cycle): not registered
    seen.add(v);
    let plain = Array.isArray(v) || isPlainObject(v);
    for (const key of Reflect.ownKeys(v)) {
      const desc = Object.getOwnPropertyDescriptor(v, key)!;
      if (!('value' in desc) || !visit(desc.value)) plain = false;
    }
    Object.freeze(v);
    if (plain) stableTexts.set(v, null);
    return plain;
  };
  visit(value);
  return value;
}

/** Whether `obj` was registered by freezeStable (frozen all the way down, never changing). */
export function isStable(obj: object): boolean {
  return stableTexts.has(obj);
}

/**
 * Canonical JSON: object keys sorted, `undefined` members dropped, Dates as
 * ISO strings, bigints and non-finite numbers tagged so they hash distinctly.
 */
export function canonicalJson(value: unknown): string {
  const w = new CanonicalWriter();
  w.write(value);
  return w.parts.join('');
}

/** JSON of a value that is not an object (functions and symbols write as null, like JSON). */
function primitiveJson(v: string | number | boolean | bigint | symbol | ((...args: never[]) => unknown)): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : JSON.stringify(`#num:${String(v)}`);
    case 'bigint':
      return JSON.stringify(`#bigint:${v.toString()}`);
    default:
      return 'null';
  }
}

class CanonicalWriter {
  readonly parts: string[] = [];
  private readonly stack = new Set<object>();
  /** Inside a stable object whose text is being built: its parts are not kept apart. */
  private withinStable = false;

  write(v: unknown): void {
    if (v === null || v === undefined) {
      this.parts.push('null');
      return;
    }
    if (typeof v !== 'object') {
      this.parts.push(primitiveJson(v as Parameters<typeof primitiveJson>[0]));
      return;
    }
    const stable = this.withinStable ? undefined : stableTexts.get(v);
    if (stable === undefined) this.writeObject(v);
    else if (stable !== null) this.parts.push(stable);
    else this.writeStable(v);
  }

  /** A stable object met for the first time: its text is kept for the next hash. */
  private writeStable(obj: object): void {
    const from = this.parts.length;
    this.withinStable = true;
    try {
      this.writeObject(obj);
    } finally {
      this.withinStable = false;
    }
    const text = this.parts.splice(from).join('');
    stableTexts.set(obj, text);
    this.parts.push(text);
  }

  private writeObject(obj: object): void {
    if (this.stack.has(obj)) throw new TypeError('config contains a cycle');
    this.stack.add(obj);
    try {
      if (obj instanceof Date) {
        this.parts.push(JSON.stringify(Number.isNaN(obj.getTime()) ? '#date:invalid' : obj.toISOString()));
      } else if (Array.isArray(obj)) {
        this.parts.push('[');
        obj.forEach((item, i) => {
          if (i > 0) this.parts.push(',');
          this.write(item);
        });
        this.parts.push(']');
      } else if (obj instanceof Map) {
        this.write(Object.fromEntries([...obj.entries()].map(([k, val]) => [String(k), val])));
      } else if (obj instanceof Set) {
        this.write([...obj]);
      } else if (!isPlainObject(obj) && typeof (obj as { toJSON?: unknown }).toJSON === 'function') {
        this.write((obj as { toJSON: () => unknown }).toJSON());
      } else {
        this.writeRecord(obj as Record<string, unknown>);
      }
    } finally {
      this.stack.delete(obj);
    }
  }

  /** Keys sorted, `undefined` members dropped. */
  private writeRecord(rec: Record<string, unknown>): void {
    const keys = Object.keys(rec)
      .filter((k) => rec[k] !== undefined)
      .sort();
    this.parts.push('{');
    keys.forEach((k, i) => {
      if (i > 0) this.parts.push(',');
      this.parts.push(JSON.stringify(k), ':');
      this.write(rec[k]);
    });
    this.parts.push('}');
  }
}

/** SHA-256 (hex) of the canonical JSON of a config. */
export function configHash(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}
