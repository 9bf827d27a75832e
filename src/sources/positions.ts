// Where a setting is written in a file: the line and column of the value at
// a path (object keys and array indexes), for schema errors that name the
// line to fix. Only called when validation fails, on the exact text that was
// parsed, so the success path never pays for it. When the path is not
// written as such (a key that is missing, a value from a YAML merge key or
// inside a TOML inline table), the deepest part of it that is written is
// given: for a missing key, its parent.
import type { Document, Node as YamlNode } from 'yaml';
import type { PathSegment } from '../shared/paths.js';
import { jsonValueOffset } from './json.js';
import { lineCol, loadedYaml, type ConfigFormat } from './parse.js';

export interface Position {
  line: number;
  col: number;
}

/** A file's text, with the position lookup built on first use (one parse per text). */
export function positionFinder(text: string, format: ConfigFormat): (path: readonly PathSegment[]) => Position {
  if (format === 'json') return (path) => jsonPosition(text, path);
  let find: ((path: readonly PathSegment[]) => Position) | null = null;
  return (path) => {
    find ??= format === 'yaml' ? yamlFinder(text) : tomlFinder(text);
    return find(path);
  };
}

function jsonPosition(text: string, path: readonly PathSegment[]): Position {
  for (let n = path.length; n > 0; n -= 1) {
    const at = jsonValueOffset(text, path.slice(0, n));
    if (at >= 0) return lineCol(text, at);
  }
  return lineCol(text, Math.max(0, jsonValueOffset(text, [])));
}

// ---- YAML ------------------------------------------------------------------

function yamlFinder(text: string): (path: readonly PathSegment[]) => Position {
  // The file was parsed as YAML before a schema issue could point into it, so the parser is loaded.
  const { LineCounter, parseDocument } = loadedYaml();
  const lines = new LineCounter();
  // The options of the parse that built the value (parse.ts), so keys and merges resolve alike.
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false, stringKeys: true, resolveKnownTags: false, merge: true });
  const start = (node: unknown): number | undefined => (node as YamlNode | null)?.range?.[0];
  return (path) => {
    let node: unknown = doc.contents;
    let best = start(node) ?? 0;
    for (const seg of path) {
      const next = yamlChild(doc, node, seg);
      if (next === null) break;
      // A pair without a value (`port:`) points at its key.
      best = start(next.value) ?? start(next.key) ?? best;
      node = next.value;
    }
    const { line, col } = lines.linePos(best);
    return { line, col };
  };
}

/** The key and value nodes of `seg` under `node` (through aliases and `<<` merges), or null. */
function yamlChild(doc: Document, node: unknown, seg: PathSegment): { key: unknown; value: unknown } | null {
  const { isAlias, isMap, isScalar, isSeq } = loadedYaml();
  const target = isAlias(node) ? node.resolve(doc) : node;
  if (isSeq(target)) return typeof seg === 'number' && seg < target.items.length ? { key: null, value: target.items[seg] } : null;
  if (!isMap(target)) return null;
  let merged: { key: unknown; value: unknown } | null = null;
  // The last pair with the key wins, as in the parsed value; an own key beats a merged one.
  for (let k = target.items.length - 1; k >= 0; k -= 1) {
    const pair = target.items[k]!;
    const key = isScalar(pair.key) ? pair.key.value : undefined;
    if (key === '<<' && merged === null) {
      // `<<: [*a, *b]`: the first source has precedence.
      const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
      for (const source of sources) {
        merged = yamlChild(doc, source, seg);
        if (merged) break;
      }
    } else if (key !== undefined && key !== null && String(key) === String(seg)) {
      return { key: pair.key, value: pair.value };
    }
  }
  return merged;
}

// ---- TOML ------------------------------------------------------------------

const BARE_KEY = /^[A-Za-z0-9_-]+/;

/**
 * Reads a dotted TOML key at `from` (bare, "basic" or 'literal' parts);
 * returns its parts and where it ends, or null when there is none.
 */
function tomlKey(line: string, from: number): { parts: string[]; end: number } | null {
  const parts: string[] = [];
  let i = from;
  for (;;) {
    while (line[i] === ' ' || line[i] === '\t') i += 1;
    const c = line[i];
    if (c === '"') {
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(line.slice(i));
      if (!m) return null;
      try {
        parts.push(JSON.parse(`"${m[1]!}"`) as string);
      } catch {
        parts.push(m[1]!);
      }
      i += m[0].length;
    } else if (c === "'") {
      const close = line.indexOf("'", i + 1);
      if (close < 0) return null;
      parts.push(line.slice(i + 1, close));
      i = close + 1;
    } else {
      const m = BARE_KEY.exec(line.slice(i));
      if (!m) return null;
      parts.push(m[0]);
      i += m[0].length;
    }
    while (line[i] === ' ' || line[i] === '\t') i += 1;
    if (line[i] !== '.') return { parts, end: i };
    i += 1;
  }
}

/**
 * How a value that starts at `from` changes the bracket depth and whether
 * it opens a multi-line string, ignoring what is inside strings and comments.
 */
function scanValue(line: string, from: number, depth: number): { depth: number; openString: string | null } {
  let i = from;
  while (i < line.length) {
    const c = line[i]!;
    if (c === '#') break;
    if (line.startsWith('"""', i) || line.startsWith("'''", i)) {
      const quote = line.slice(i, i + 3);
      const close = line.indexOf(quote, i + 3);
      if (close < 0) return { depth, openString: quote };
      i = close + 3;
      continue;
    }
    if (c === '"') {
      const m = /^"(?:[^"\\]|\\.)*"/.exec(line.slice(i));
      i += m ? m[0].length : 1;
      continue;
    }
    if (c === "'") {
      const close = line.indexOf("'", i + 1);
      i = close < 0 ? line.length : close + 1;
      continue;
    }
    if (c === '[' || c === '{') depth += 1;
    else if (c === ']' || c === '}') depth -= 1;
    i += 1;
  }
  return { depth, openString: null };
}

/**
 * A line scanner over TOML text (already parsed, so valid): the position of
 * every table header, array-of-tables entry and `key = value`, by path.
 * Values inside inline tables and arrays point at the key they belong to.
 */
function tomlFinder(text: string): (path: readonly PathSegment[]) => Position {
  const at = new Map<string, Position>();
  const id = (path: readonly PathSegment[]) => JSON.stringify(path);
  at.set(id([]), { line: 1, col: 1 });
  const arrays = new Map<string, number>(); // array-of-tables path → index of its last entry
  /** A header's dotted key as a path: through an array of tables, its last entry. */
  const resolve = (parts: readonly string[]): PathSegment[] => {
    const out: PathSegment[] = [];
    for (const part of parts) {
      out.push(part);
      const last = arrays.get(id(out));
      if (last !== undefined) out.push(last);
    }
    return out;
  };
  let table: PathSegment[] = [];
  let depth = 0;
  let openString: string | null = null;
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const lineNo = index + 1;
    if (openString !== null) {
      const close = line.indexOf(openString);
      if (close < 0) return;
      const rest = scanValue(line, close + 3, depth);
      openString = rest.openString;
      depth = rest.depth;
      return;
    }
    if (depth > 0) {
      const rest = scanValue(line, 0, depth);
      depth = rest.depth;
      openString = rest.openString;
      return;
    }
    const first = line.search(/\S/);
    if (first < 0 || line[first] === '#') return;
    if (line[first] === '[') {
      const isArray = line[first + 1] === '[';
      const key = tomlKey(line, first + (isArray ? 2 : 1));
      if (!key) return;
      if (isArray) {
        const base = resolve(key.parts.slice(0, -1));
        base.push(key.parts[key.parts.length - 1]!);
        const next = (arrays.get(id(base)) ?? -1) + 1;
        arrays.set(id(base), next);
        if (next === 0) at.set(id(base), { line: lineNo, col: first + 1 });
        table = [...base, next];
      } else {
        table = resolve(key.parts);
      }
      if (!at.has(id(table))) at.set(id(table), { line: lineNo, col: first + 1 });
      return;
    }
    const key = tomlKey(line, first);
    if (!key || line[key.end] !== '=') return;
    let valueAt = key.end + 1;
    while (line[valueAt] === ' ' || line[valueAt] === '\t') valueAt += 1;
    const path: PathSegment[] = [...table];
    key.parts.forEach((part, k) => {
      path.push(part);
      const last = k === key.parts.length - 1;
      const pos = last ? { line: lineNo, col: valueAt + 1 } : { line: lineNo, col: first + 1 };
      if (!at.has(id(path))) at.set(id(path), pos);
    });
    const rest = scanValue(line, valueAt, 0);
    depth = rest.depth;
    openString = rest.openString;
  });
  return (path) => {
    for (let n = path.length; n >= 0; n -= 1) {
      const pos = at.get(id(path.slice(0, n)));
      if (pos) return pos;
    }
    return { line: 1, col: 1 };
  };
}
