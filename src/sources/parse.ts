// Bytes → text → value for YAML, JSON and TOML. Every error is a LoadError
// `<file>:<line>:<col>: <short message>` (or `<file>: <message>` when there
// is no position), never with the code frame the parsers like to append:
// the offending line may hold a secret.
import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path';
import type { Document } from 'yaml';
import type * as YamlModule from 'yaml';
import type * as TomlModule from 'smol-toml';
import { errorMessage, LoadError } from '../shared/errors.js';
import { isPlainObject } from '../shared/paths.js';
import { findJsonError, MAX_JSON_DEPTH } from './json.js';

export const CONFIG_FORMATS = ['yaml', 'json', 'toml'] as const;
export type ConfigFormat = (typeof CONFIG_FORMATS)[number];

// The YAML and TOML parsers load on first use (loadParser), not with the
// package: together they were two thirds of `import 'reloadkit'`, and a
// service reading JSON, or only YAML, should not pay for the other.
let isAlias: typeof YamlModule.isAlias;
let isCollection: typeof YamlModule.isCollection;
let isMap: typeof YamlModule.isMap;
let isScalar: typeof YamlModule.isScalar;
let isSeq: typeof YamlModule.isSeq;
let Lexer: typeof YamlModule.Lexer;
let LineCounter: typeof YamlModule.LineCounter;
let parseDocument: typeof YamlModule.parseDocument;
let visit: typeof YamlModule.visit;
let parseToml: typeof TomlModule.parse;
let TomlError: typeof TomlModule.TomlError;
const loaded = new Set<ConfigFormat>(['json']);
let yamlModule: typeof YamlModule | null = null;

/** The yaml module once loadParser('yaml') ran (a YAML file was parsed); positions.ts reads node ranges with it. */
export function loadedYaml(): typeof YamlModule {
  if (!yamlModule) throw new Error('the yaml parser is not loaded yet (await loadParser first)');
  return yamlModule;
}

/** Loads the parser of a format, once; parseConfigText needs it loaded. */
export async function loadParser(format: ConfigFormat): Promise<void> {
  if (loaded.has(format)) return;
  if (format === 'yaml') {
    yamlModule = await import('yaml');
    ({ isAlias, isCollection, isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, visit } = yamlModule);
  } else {
    ({ parse: parseToml, TomlError } = await import('smol-toml'));
  }
  loaded.add(format);
}

const EXTENSIONS: Record<string, ConfigFormat> = { '.yaml': 'yaml', '.yml': 'yaml', '.json': 'json', '.toml': 'toml' };

export function formatFromPath(path: string): ConfigFormat | undefined {
  return EXTENSIONS[extname(path).toLowerCase()];
}

export const UNKNOWN_FORMAT_HINT = 'use .yaml, .yml, .json or .toml, or set the `format` option';

/** 1-based line and column (UTF-16 units, as editors and the parsers count) of an offset. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let at = text.indexOf('\n'); at !== -1 && at < offset; at = text.indexOf('\n', at + 1)) {
    line += 1;
    lineStart = at + 1;
  }
  return { line, col: offset - lineStart + 1 };
}

function positioned(file: string, line: number, col: number, message: string): LoadError {
  return new LoadError(`${file}:${line}:${col}: ${message}`);
}

/** Index of the first byte that does not start or continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i += 1;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b >= 0xe0 && b <= 0xef) [need, min] = [2, 0x800];
    else if (b >= 0xf0 && b <= 0xf4) [need, min] = [3, 0x10000];
    else return i;
    let cp = b & (0xff >> (need + 2));
    for (let k = 1; k <= need; k += 1) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Decodes strict UTF-8 and drops a leading BOM. Binary data (invalid UTF-8,
 * NUL bytes) and empty or whitespace-only files are errors, never a config.
 */
export function decodeText(file: string, bytes: Buffer): string {
  if (!isUtf8(bytes)) {
    const bad = Math.max(0, firstInvalidUtf8(bytes));
    const valid = bytes.subarray(0, bad).toString('utf8');
    const { line, col } = lineCol(valid, valid.length);
    throw positioned(file, line, col, 'not valid UTF-8 text (binary file?)');
  }
  let text = bytes.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const nul = text.indexOf('\0');
  if (nul !== -1) {
    const { line, col } = lineCol(text, nul);
    throw positioned(file, line, col, 'contains a NUL byte (binary file?)');
  }
  if (text.trim() === '') throw new LoadError(`${file}: file is empty`);
  return text;
}

// yaml messages that quote the source text get a fixed wording instead.
const YAML_MESSAGES: Record<string, string> = {
  DUPLICATE_KEY: 'duplicate key',
  MULTIPLE_DOCS: 'more than one YAML document (---) in the file; a config file holds exactly one',
  BAD_DQ_ESCAPE: 'invalid escape sequence in a double-quoted string',
  NON_STRING_KEY: 'keys must be scalars, not lists or mappings',
  TAG_RESOLVE_FAILED: 'unsupported YAML tag',
};

function yamlMessage(code: string, message: string): string {
  const fixed = YAML_MESSAGES[code];
  if (fixed) return fixed;
  if (message.startsWith('Maximum call stack size exceeded')) return 'nested too deeply';
  if (message.startsWith('Block scalar header includes extra characters')) {
    return 'block scalar header (| or >) followed by extra characters';
  }
  const first = message.split('\n', 1)[0] ?? message;
  return first.length > 200 ? `${first.slice(0, 200)}…` : first;
}

const OPEN_FLOW = new Set(['[', '{']);
const CLOSE_FLOW = new Set([']', '}']);
// Lexer tokens that are not source text (yaml's CST.BOM, DOCUMENT, FLOW_END, SCALAR).
const NOT_SOURCE = new Set(['\u{FEFF}', '\x02', '\x18', '\x1f']);

/**
 * Offset of the first flow collection (`[`, `{`) nested deeper than the
 * JSON limit, or -1. The parser builds its whole tree (about 1 KB per level)
 * before anything can refuse it: a 16 MiB file of `[` took 4 GB and killed
 * the process. The lexer is exact about quotes and comments but costs time,
 * so it only runs when there are enough brackets to go that deep. `lexer`:
 * yaml's Lexer, for a caller that imports yaml itself (this module loads it
 * on first use).
 */
export function tooDeepFlowAt(text: string, lexer: typeof YamlModule.Lexer = Lexer): number {
  let brackets = 0;
  for (let i = 0; i < text.length && brackets <= MAX_JSON_DEPTH; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) brackets += 1;
  }
  if (brackets <= MAX_JSON_DEPTH) return -1;
  let depth = 0;
  let offset = 0;
  for (const token of new lexer().lex(text)) {
    if (OPEN_FLOW.has(token)) {
      depth += 1;
      if (depth > MAX_JSON_DEPTH) return offset;
    } else if (CLOSE_FLOW.has(token)) {
      depth -= 1;
    }
    if (!NOT_SOURCE.has(token)) offset += token.length;
  }
  return -1;
}

/** Anchors plus aliases a document may have: yaml resolves each alias by a scan of them all (quadratic). */
const MAX_YAML_ALIAS_NODES = 10_000;
/** Entries a document with aliases may expand to: its size in bytes, and at least this. */
const MIN_EXPANSION_BUDGET = 1_000_000;

interface YamlInspection {
  /** Offset of the first key that repeats an earlier key of its mapping, or -1. */
  duplicateAt: number;
  /** Anchors plus aliases. */
  aliasNodes: number;
  /** Entries once every alias (and merge) is expanded; Infinity past the budget or for a cycle. */
  expanded: number;
}

/**
 * One walk over the parsed document, before anything is built from it:
 *
 * - Duplicate keys, with one Set per mapping. yaml's own check (`uniqueKeys`)
 *   compares each key with every earlier one: a 1 MB mapping took 14 s to
 *   parse, 16 MiB about an hour. Keys are strings (`stringKeys`), so equal
 *   values are equal keys.
 * - The size the document expands to, each alias or `<<` merge counting its
 *   anchor's size again (memoized, so this is linear). yaml's maxAliasCount
 *   stops "billion laughs" but allows 99 aliases of one huge mapping (an
 *   800 KB file became 5 million entries, 450 MB; merges are copied by yaml
 *   itself), and its alias lookup is quadratic in the number of anchors and
 *   aliases (16 000 aliases: 5 s), hence both limits.
 */
function inspectYaml(doc: Document, budget: number): YamlInspection {
  let duplicateAt = -1;
  let aliasNodes = 0;
  const anchors = new Map<string, unknown>();
  const sizes = new Map<unknown, number>();
  const open = new Set<unknown>();
  const size = (node: unknown): number => {
    if (node === null || typeof node !== 'object') return 1;
    if (isAlias(node)) {
      aliasNodes += 1;
      const target = anchors.get(node.source);
      if (target === undefined) return 1; // unresolved: toJS reports it with its position
      if (open.has(target)) return Infinity; // an alias inside its own anchor: endless
      return sizes.get(target) ?? 1;
    }
    const anchored = (isScalar(node) || isCollection(node)) && typeof node.anchor === 'string';
    if (anchored) {
      aliasNodes += 1;
      anchors.set(node.anchor!, node);
      open.add(node);
    }
    let n = 1;
    if (isMap(node)) {
      const seen = new Set<unknown>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          if (seen.has(pair.key.value) && duplicateAt < 0) duplicateAt = pair.key.range?.[0] ?? 0;
          seen.add(pair.key.value);
        }
        n += size(pair.key) + size(pair.value);
        if (n > budget) break;
      }
    } else if (isSeq(node)) {
      for (const item of node.items) {
        n += size(item);
        if (n > budget) break;
      }
    }
    if (anchored) {
      open.delete(node);
      sizes.set(node, n);
    }
    return n;
  };
  const total = size(doc.contents);
  return { duplicateAt, aliasNodes, expanded: total > budget ? Infinity : total };
}

function parseYaml(file: string, text: string): unknown {
  const lines = new LineCounter();
  const deep = tooDeepFlowAt(text);
  if (deep >= 0) {
    const { line, col } = lineCol(text, deep);
    throw positioned(file, line, col, `nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false, // no code frame in messages
    uniqueKeys: false, // checked below, in linear time
    stringKeys: true, // `? [a, b]: x` is an error, not a stringified key
    resolveKnownTags: false, // no !!binary Buffers, !!set Sets or !!timestamp Dates
    merge: true, // `<<: *defaults`, as operators write it
  });
  // Unknown tags (`!include`, `!secret`) would silently become strings.
  let problem: { pos: [number, number]; code: string; message: string } | undefined =
    doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  // The first problem in the file, as yaml would have reported a duplicate key among its errors.
  const inspected = inspectYaml(doc, Math.max(MIN_EXPANSION_BUDGET, text.length));
  const duplicate = inspected.duplicateAt;
  if (duplicate >= 0 && (problem === undefined || duplicate < problem.pos[0])) {
    problem = { pos: [duplicate, duplicate], code: 'DUPLICATE_KEY', message: 'duplicate key' };
  }
  if (problem) {
    const { line, col } = lines.linePos(problem.pos[0]);
    throw positioned(file, line, col, yamlMessage(problem.code, problem.message));
  }
  if (doc.contents === null) throw new LoadError(`${file}: file is empty (only comments)`);
  if (inspected.aliasNodes > MAX_YAML_ALIAS_NODES) {
    throw new LoadError(`${file}: more than ${MAX_YAML_ALIAS_NODES} YAML anchors and aliases; refused`);
  }
  if (inspected.expanded === Infinity) {
    throw new LoadError(`${file}: YAML aliases expand too much (possible "billion laughs" document); refused`);
  }
  try {
    // Expansion is bounded above, so yaml's own per-anchor alias limit (100) is not
    // needed: it refused a config with 100 `<<: *defaults` merges.
    return doc.toJS({ maxAliasCount: -1 });
  } catch (err) {
    const message = errorMessage(err);
    const unresolved = /^Unresolved alias.*: (.+)$/.exec(message);
    if (unresolved) {
      let at = -1;
      visit(doc, {
        Alias(_, node) {
          if (node.source === unresolved[1] && node.range) {
            at = node.range[0];
            return visit.BREAK;
          }
          return undefined;
        },
      });
      const what = 'alias to an anchor that is not defined before it';
      if (at >= 0) {
        const { line, col } = lines.linePos(at);
        throw positioned(file, line, col, what);
      }
      throw new LoadError(`${file}: ${what}`);
    }
    throw new LoadError(`${file}: ${yamlMessage('', message)}`);
  }
}

function parseJson(file: string, text: string): unknown {
  const syntax = findJsonError(text);
  if (syntax) {
    const { line, col } = lineCol(text, syntax.offset);
    throw positioned(file, line, col, syntax.message);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // Unreachable unless the checker and V8 disagree; V8's text quotes input, so drop it.
    const at = /at position (\d+)/.exec(errorMessage(err));
    if (at) {
      const { line, col } = lineCol(text, Number(at[1]));
      throw positioned(file, line, col, 'invalid JSON');
    }
    throw new LoadError(`${file}: invalid JSON`);
  }
}

function parseTomlText(file: string, text: string): unknown {
  try {
    return parseToml(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n', 1)[0] ?? '';
      throw positioned(file, err.line, err.column, first.replace(/^Invalid TOML document: /, ''));
    }
    throw new LoadError(`${file}: ${yamlMessage('', errorMessage(err))}`);
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return `a ${typeof v}`;
}

/** Parses one file's text (its parser loaded by loadParser); the top level must be a mapping. */
export function parseConfigText(file: string, text: string, format: ConfigFormat): Record<string, unknown> {
  if (!loaded.has(format)) throw new Error(`the ${format} parser is not loaded yet (await loadParser first)`);
  let value: unknown;
  try {
    value = format === 'yaml' ? parseYaml(file, text) : format === 'json' ? parseJson(file, text) : parseTomlText(file, text);
  } catch (err) {
    if (err instanceof LoadError) throw err;
    // A parser's own failure (e.g. stack overflow on absurd nesting).
    throw new LoadError(`${file}: cannot parse ${format}: ${yamlMessage('', errorMessage(err))}`, { cause: err });
  }
  if (!isPlainObject(value)) {
    throw new LoadError(`${file}: the top level must be a mapping of settings (key: value), not ${describeValue(value)}`);
  }
  return value;
}
