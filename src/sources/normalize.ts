// Turns a parsed value into plain JSON-like data and, when asked, expands
// `${VAR}` in its string values.
//
// Expansion works on parsed STRING VALUES only, never on the raw text: a
// variable whose value holds a newline and `admin: true` stays one string and
// cannot add keys. Keys are never expanded. Syntax:
//   ${NAME}            the variable's value; unset → error (naming it, the file and the path)
//   ${NAME:-default}   the default when NAME is unset or empty (shell semantics);
//                      the default is literal text (no nesting, no `}`)
//   $${                a literal `${` (so `$${NAME}` stays `${NAME}`)
//   $NAME, lone `$`    literal; only the braced form expands
// Expanded text is never expanded again. A malformed `${…` is an error rather
// than silently left in place. A string that is exactly one `${…}` is typed
// as environment text is (scalar.ts: `8080` → 8080, `true` → true); the text
// is kept aside (`typed`) so that validation can try it where the schema
// refuses the typed value.
import { LoadError } from '../shared/errors.js';
import { formatPath, isPlainObject, type PathSegment } from '../shared/paths.js';
import { readEnvText, type TypedText } from './scalar.js';

/** `true` reads process.env at each load; a record is used as given (undefined = unset). */
export type EnvOption = boolean | Readonly<Record<string, string | undefined>>;

const MAX_DEPTH = 1000;
const MAX_LISTED_ISSUES = 10;
const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?$/;
/** A string that is exactly one `${…}` reference. */
const WHOLE_REFERENCE = /^\$\{[^}]*\}$/;

type Lookup = (name: string) => string | undefined;

function lookupFor(env: EnvOption | undefined): Lookup | null {
  if (env === undefined || env === false) return null;
  if (env === true) return (name) => process.env[name];
  return (name) => (Object.hasOwn(env, name) ? env[name] : undefined);
}

/** Expands one string; problems are pushed to `issues` (without echoing the value). */
function expandString(s: string, lookup: Lookup, issues: string[], where: string): string {
  if (!s.includes('$')) return s;
  let out = '';
  let i = 0;
  while (i < s.length) {
    const dollar = s.indexOf('$', i);
    if (dollar === -1) {
      out += s.slice(i);
      break;
    }
    out += s.slice(i, dollar);
    if (s.startsWith('$${', dollar)) {
      out += '${';
      i = dollar + 3;
      continue;
    }
    if (s[dollar + 1] !== '{') {
      out += '$';
      i = dollar + 1;
      continue;
    }
    const close = s.indexOf('}', dollar + 2);
    if (close === -1) {
      issues.push(`unterminated \${ at ${where} (write $\${ for a literal \${)`);
      return s;
    }
    const m = REFERENCE.exec(s.slice(dollar + 2, close));
    if (!m) {
      issues.push(`invalid \${…} reference at ${where} (names are letters, digits and _; write $\${ for a literal \${)`);
      return s;
    }
    const name = m[1]!;
    const fallback = m[2];
    let value = lookup(name);
    if (fallback !== undefined && (value === undefined || value === '')) value = fallback;
    if (value === undefined) {
      issues.push(`environment variable ${name} is not set (used at ${where})`);
      value = '';
    }
    out += value;
    i = close + 1;
  }
  return out;
}

/**
 * Copies `value` into plain data: objects with Object.prototype (TOML's are
 * null-prototype) built with own properties only (a `__proto__` key stays a
 * key), TOML dates as their TOML text, strings expanded when `env` is set.
 * Copying (not mutating) also un-shares YAML aliases, so an aliased string is
 * expanded exactly once per place it appears.
 */
export function normalizeValue(file: string, value: unknown, env?: EnvOption, typed?: TypedText[]): unknown {
  const lookup = lookupFor(env);
  const issues: string[] = [];
  const path: PathSegment[] = [];
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      if (!lookup) return v;
      const text = expandString(v, lookup, issues, formatPath(path) || '(root)');
      // A value that is one `${VAR}` and nothing else is typed as the environment's text would be.
      if (text === v || !WHOLE_REFERENCE.test(v)) return text;
      const value = readEnvText(text);
      if (value !== text) typed?.push({ path: [...path], text });
      return value;
    }
    if (v === null || typeof v !== 'object') return v;
    if (path.length >= MAX_DEPTH) throw new LoadError(`${file}: nested deeper than ${MAX_DEPTH} levels`);
    if (v instanceof Date) return v.toISOString(); // smol-toml's TomlDate prints TOML's own form
    if (Array.isArray(v)) {
      return v.map((item, index) => {
        path.push(index);
        const out = walk(item);
        path.pop();
        return out;
      });
    }
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(v)) {
        path.push(key);
        defineOwn(out, key, walk(v[key]));
        path.pop();
      }
      return out;
    }
    throw new LoadError(`${file}: unsupported value at ${formatPath(path) || '(root)'}`);
  };
  const out = walk(value);
  if (issues.length > 0) {
    const listed = issues.slice(0, MAX_LISTED_ISSUES);
    const more = issues.length > listed.length ? `; and ${issues.length - listed.length} more` : '';
    throw new LoadError(`${file}: ${listed.join('; ')}${more}`);
  }
  return out;
}

/**
 * Whether normalizing `value` could depend on the environment at load time:
 * some string value holds `${` (keys are never expanded).
 */
export function mentionsVariables(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('${');
  if (value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some(mentionsVariables);
  return Object.values(value).some(mentionsVariables);
}

/** Sets an own data property, also for the key `__proto__`. */
export function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
