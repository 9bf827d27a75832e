// Redaction: values under keys that look secret never leave the process in
// logs, results, status or errors. Structured values are redacted by key;
// free text (error messages) by replacing every known secret value.
import { isPlainObject } from '../shared/paths.js';
import type { Logger } from '../shared/types.js';

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

  /**
   * The `redact` option: `keys` add to the default secret-looking names;
   * `defaults: false` uses only `keys`.
   */
  static fromOptions(options?: { keys?: readonly (string | RegExp)[] | undefined; defaults?: boolean | undefined }): Redactor {
    const extra = options?.keys ?? [];
    return new Redactor(options?.defaults === false ? extra : [...DEFAULT_SECRET_KEYS, ...extra]);
  }

  constructor(keys: readonly (string | RegExp)[] = DEFAULT_SECRET_KEYS) {
    // Patterns test normalised names; a g/y flag would make test() stateful.
    this.patterns = keys.map((k) =>
      typeof k === 'string' ? new RegExp(`^${escapeRegExp(normalize(k))}$`) : new RegExp(k.source, k.flags.replace(/[gy]/g, '')),
    );
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
      if (typeof v === 'string') {
        // A password inside a URL (`postgres://app:pw@db`) is a secret whatever its key.
        for (const m of v.matchAll(URL_USERINFO)) {
          const pw = m[0].slice(m[1]!.length, -1);
          if (pw.length >= MIN_TEXT_SECRET) out.add(pw);
        }
      } else if (Array.isArray(v)) v.forEach(walk);
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

  /** Replaces every occurrence of a secret value, and every URL password, in a message. */
  redactText(text: string, secrets: ReadonlySet<string>): string {
    const out = redactUrlCredentials(text);
    if (secrets.size === 0) return out;
    return out.replace(secretMatcher(secrets), REDACTED);
  }
}

/** One alternation of every secret, longest first (a secret containing another is replaced whole); cached per set. */
const matchers = new WeakMap<ReadonlySet<string>, RegExp>();
function secretMatcher(secrets: ReadonlySet<string>): RegExp {
  let re = matchers.get(secrets);
  if (!re) {
    const alternatives = [...secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
    re = new RegExp(alternatives.join('|'), 'g');
    matchers.set(secrets, re);
  }
  return re;
}

function normalize(key: string): string {
  return key.toLowerCase().replace(/[-_\s.]/g, '');
}

// ---- free text: credentials in URLs ------------------------------------

/** `scheme://user:password@host`: the password part of a URL's userinfo. */
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/?#@]*:)[^\s/?#@]+@/gi;

/** Masks the password of every `scheme://user:password@` in a text. */
export function redactUrlCredentials(text: string): string {
  return text.replace(URL_USERINFO, `$1${REDACTED}@`);
}

// ---- schema issues -------------------------------------------------------

/**
 * Some validators put the received value in the message (valibot:
 * `Expected string but received "hunter2"`). For an issue under a secret key
 * the value is removed from the message whatever its length; the generic
 * value redaction only catches values of 4+ characters.
 */
export function redactIssueMessage(redactor: Redactor, message: string, path: readonly (string | number)[], root: unknown): string {
  if (!path.some((seg) => typeof seg === 'string' && redactor.isSecretKey(seg))) return message;
  let value: unknown = root;
  for (const seg of path) {
    if (value === null || typeof value !== 'object') {
      value = undefined;
      break;
    }
    value = (value as Record<string | number, unknown>)[seg];
  }
  const forms = new Set<string>();
  const addForms = (v: unknown): void => {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') {
      const s = String(v);
      if (s !== '') forms.add(s);
      if (typeof v === 'string') forms.add(JSON.stringify(v));
    } else if (Array.isArray(v)) v.forEach(addForms);
    else if (isPlainObject(v)) Object.values(v).forEach(addForms);
  };
  addForms(value);
  let out = message;
  for (const f of [...forms].sort((a, b) => b.length - a.length)) {
    // Short values only where they stand alone, so "3" does not eat ">=30".
    const re = f.length >= MIN_TEXT_SECRET ? new RegExp(escapeRegExp(f), 'g') : new RegExp(`(?<![\\w"'])${escapeRegExp(f)}(?![\\w"'])`, 'g');
    out = out.replace(re, REDACTED);
  }
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- structured values in log lines -------------------------------------

const MAX_LOG_DEPTH = 12;

/**
 * A copy of a log line's fields: values under secret keys replaced, every
 * string scrubbed of known secret values and URL passwords, Errors reduced
 * to their (scrubbed) message.
 */
export function redactLogFields(redactor: Redactor, fields: Record<string, unknown>, secrets: ReadonlySet<string>): Record<string, unknown> {
  const seen = new Set<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactor.redactText(v, secrets);
    if (v === null || typeof v !== 'object') return v;
    if (depth > MAX_LOG_DEPTH) return '[too deep]';
    if (seen.has(v)) return '[circular]';
    seen.add(v);
    try {
      if (v instanceof Error) {
        const out: Record<string, unknown> = { type: v.name, message: redactor.redactText(v.message, secrets) };
        const code = (v as { code?: unknown }).code;
        if (typeof code === 'string') out.code = code;
        return out;
      }
      if (Array.isArray(v)) return v.map((x) => walk(x, depth + 1));
      if (v instanceof Date) return v;
      if (v instanceof Map) return walk(Object.fromEntries(v), depth);
      if (v instanceof Set) return walk([...v], depth);
      const out: Record<string, unknown> = {};
      for (const [k, val] of Object.entries(v)) out[k] = redactor.isSecretKey(k) && val !== undefined ? REDACTED : walk(val, depth + 1);
      return out;
    } finally {
      seen.delete(v);
    }
  };
  return walk(fields, 0) as Record<string, unknown>;
}

type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/**
 * Wraps a logger so every line passes through redaction: by key (structured
 * fields) and by value (`secrets()` gives the secret values currently known,
 * e.g. those of the configs in play).
 */
export function redactingLogger(logger: Logger, redactor: Redactor, secrets: () => ReadonlySet<string>): Logger {
  const wrap = (level: LogLevel) => (obj: Record<string, unknown>, msg?: string) => {
    const known = secrets();
    const fields = obj && typeof obj === 'object' ? redactLogFields(redactor, obj, known) : {};
    if (msg === undefined) logger[level](fields);
    else logger[level](fields, redactor.redactText(String(msg), known));
  };
  const out = {} as Logger;
  for (const level of LOG_LEVELS) out[level] = wrap(level);
  return out;
}
