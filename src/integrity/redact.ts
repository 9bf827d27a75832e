// Redaction: values under keys that look secret never leave the process in
// logs, results, status or errors. Structured values are redacted by key;
// free text (error messages) by replacing every known secret value.
import { isPlainObject } from '../engine/paths.js';

export const REDACTED = '[REDACTED]';

/** Key names (lower-cased, `_`/`-` removed) whose values are secrets. */
export const DEFAULT_SECRET_KEYS: readonly (string | RegExp)[] = [
  /pass(word|wd|phrase)?$/,
  /secret/,
  /token/,
  /apikey/,
  /privatekey/,
  /credential/,
  /authorization/,
  /cookie/,
  // `key`, `api_key`, `tls_key`, `signing-key`… (over-redacting a cache key is the safe error)
  /key$/,
];

/** Free-text replacement only for values at least this long, so "1" or "on" never mangle messages. */
const MIN_TEXT_SECRET = 4;

export class Redactor {
  private readonly patterns: readonly RegExp[];

  constructor(keys: readonly (string | RegExp)[] = DEFAULT_SECRET_KEYS) {
    this.patterns = keys.map((k) => (typeof k === 'string' ? new RegExp(`^${normalize(k)}$`) : k));
  }

  isSecretKey(key: string): boolean {
    const n = normalize(key);
    return this.patterns.some((p) => p.test(n));
  }

  /** Every string/number value stored under a secret-looking key (recursively). */
  secretValues(...configs: unknown[]): Set<string> {
    const out = new Set<string>();
    const collectAll = (v: unknown): void => {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') {
        const s = String(v);
        if (s.length >= MIN_TEXT_SECRET) out.add(s);
      } else if (Array.isArray(v)) v.forEach(collectAll);
      else if (isPlainObject(v)) Object.values(v).forEach(collectAll);
    };
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (isPlainObject(v)) {
        for (const [k, val] of Object.entries(v)) {
          if (this.isSecretKey(k)) collectAll(val);
          else walk(val);
        }
      }
    };
    configs.forEach(walk);
    return out;
  }

  /** Replaces every occurrence of a secret value in a message. */
  redactText(text: string, secrets: ReadonlySet<string>): string {
    let out = text;
    // Longest first, so a secret containing another is replaced whole.
    for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
      if (out.includes(s)) out = out.split(s).join(REDACTED);
    }
    return out;
  }

  /** A deep copy with values under secret keys replaced. */
  redactValue<T>(value: T): T {
    const walk = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(walk);
      if (isPlainObject(v)) {
        const out: Record<string, unknown> = {};
        for (const [k, val] of Object.entries(v)) out[k] = this.isSecretKey(k) ? REDACTED : walk(val);
        return out;
      }
      return v;
    };
    return walk(value) as T;
  }
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[-_\s.]/g, '');
}
