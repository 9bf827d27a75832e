// Dotted paths: `server.port`, `backends[0].url`, `labels["a.b"]`.
import { OptionsError } from './errors.js';
// Patterns add `*` (any key or index) and `[*]` (any index).

export type PathSegment = string | number;

const IDENT = /^[A-Za-z_$][\w$-]*$/;

export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export type PatternSegment = { key: string } | { index: number } | { any: 'key-or-index' } | { any: 'index' };

/** Parses `a.b[*].c`, `database.*`, `x["y.z"]`; throws on malformed input. */
export function parsePattern(pattern: string): PatternSegment[] {
  const segs: PatternSegment[] = [];
  let i = 0;
  const n = pattern.length;
  const fail = (why: string): never => {
    throw new OptionsError(`invalid path pattern ${JSON.stringify(pattern)}: ${why}`);
  };
  if (n === 0) fail('empty');
  while (i < n) {
    const ch = pattern[i];
    if (ch === '[') {
      const close = pattern.indexOf(']', i);
      if (close < 0) fail('unclosed [');
      const inner = pattern.slice(i + 1, close);
      if (inner === '*') segs.push({ any: 'index' });
      else if (/^\d+$/.test(inner)) segs.push({ index: Number(inner) });
      else if (inner.startsWith('"')) {
        try {
          segs.push({ key: JSON.parse(inner) as string });
        } catch {
          fail(`bad quoted key ${inner}`);
        }
      } else fail(`bad index [${inner}]`);
      i = close + 1;
      if (i < n && pattern[i] === '.') i += 1;
      continue;
    }
    let end = i;
    while (end < n && pattern[end] !== '.' && pattern[end] !== '[') end += 1;
    const word = pattern.slice(i, end);
    if (word === '') fail('empty segment');
    segs.push(word === '*' ? { any: 'key-or-index' } : { key: word });
    i = end;
    if (i < n && pattern[i] === '.') {
      i += 1;
      if (i === n) fail('trailing dot');
    }
  }
  return segs;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Children of a container as [segment, value] pairs; empty for scalars. */
export function childSegments(v: unknown): PathSegment[] {
  if (Array.isArray(v)) return v.map((_, i) => i);
  if (isPlainObject(v)) return Object.keys(v);
  return [];
}

export function child(v: unknown, seg: PathSegment): unknown {
  if (Array.isArray(v)) return typeof seg === 'number' ? v[seg] : undefined;
  if (isPlainObject(v)) return typeof seg === 'string' && Object.hasOwn(v, seg) ? v[seg] : undefined;
  return undefined;
}
