// Bytes → text → value for YAML, JSON and TOML. Every error is a LoadError
// `<file>:<line>:<col>: <short message>` (or `<file>: <message>` when there
// is no position), never with the code frame the parsers like to append:
// the offending line may hold a secret.
import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path';
import { LineCounter, parseDocument, visit } from 'yaml';
import { parse as parseToml, TomlError } from 'smol-toml';
import { errorMessage, LoadError } from '../engine/errors.js';
import { isPlainObject } from '../engine/paths.js';
import { findJsonError } from './json.js';

export const CONFIG_FORMATS = ['yaml', 'json', 'toml'] as const;
export type ConfigFormat = (typeof CONFIG_FORMATS)[number];

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
  if (message.startsWith('Block scalar header includes extra characters')) {
    return 'block scalar header (| or >) followed by extra characters';
  }
  const first = message.split('\n', 1)[0] ?? message;
  return first.length > 200 ? `${first.slice(0, 200)}…` : first;
}

function parseYaml(file: string, text: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false, // no code frame in messages
    uniqueKeys: true,
    stringKeys: true, // `? [a, b]: x` is an error, not a stringified key
    resolveKnownTags: false, // no !!binary Buffers, !!set Sets or !!timestamp Dates
    merge: true, // `<<: *defaults`, as operators write it
  });
  // Unknown tags (`!include`, `!secret`) would silently become strings.
  const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
  if (problem) {
    const { line, col } = lines.linePos(problem.pos[0]);
    throw positioned(file, line, col, yamlMessage(problem.code, problem.message));
  }
  if (doc.contents === null) throw new LoadError(`${file}: file is empty (only comments)`);
  try {
    // The default alias limit (maxAliasCount 100) refuses "billion laughs" documents.
    return doc.toJS();
  } catch (err) {
    const message = errorMessage(err);
    if (message.startsWith('Excessive alias count')) {
      throw new LoadError(`${file}: YAML aliases expand too much (possible "billion laughs" document); refused`);
    }
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

/** Parses one file's text; the top level must be a mapping. */
export function parseConfigText(file: string, text: string, format: ConfigFormat): Record<string, unknown> {
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
