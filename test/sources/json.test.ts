import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findJsonError, MAX_JSON_DEPTH } from '../../src/sources/json.js';

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('JSON syntax checker', () => {
  test('accepts everything JSON.stringify produces', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.constantFrom(undefined, 0, 2, '\t'), (value, indent) => {
        assert.equal(findJsonError(JSON.stringify(value, null, indent)), null);
      }),
      { numRuns: 500 },
    );
  });

  test('agrees with JSON.parse on mutated JSON (except duplicate keys, which it refuses)', () => {
    const mutated = fc
      .tuple(fc.jsonValue(), fc.nat(), fc.constantFrom('delete', 'insert', 'replace'), fc.constantFrom(...'{}[],:"\\ 0-e.tfn\n\u0001x'))
      .map(([value, at, op, ch]) => {
        const s = JSON.stringify(value);
        const i = s.length === 0 ? 0 : at % s.length;
        if (op === 'delete') return s.slice(0, i) + s.slice(i + 1);
        if (op === 'insert') return s.slice(0, i) + ch + s.slice(i);
        return s.slice(0, i) + ch + s.slice(i + 1);
      });
    fc.assert(
      fc.property(fc.oneof(mutated, fc.string()), (text) => {
        const error = findJsonError(text);
        if (error?.message === 'duplicate key') return;
        assert.equal(error === null, parses(text), `checker ${JSON.stringify(error)} vs JSON.parse on ${JSON.stringify(text)}`);
        if (error) assert.ok(error.offset >= 0 && error.offset <= text.length);
      }),
      { numRuns: 3000 },
    );
  });

  test('points at the first error', () => {
    const cases: [string, number, string][] = [
      ['{"a": }', 6, 'unexpected character'],
      ['{"a": 1,}', 8, "trailing comma before '}'"],
      ['[1, 2,]', 6, "trailing comma before ']'"],
      ['{"a" 1}', 5, "expected ':' after property name"],
      ['{"a": "x', 6, 'unterminated string'],
      ['{"a": 01}', 7, 'invalid number'],
      ['{"a": 1} x', 9, 'unexpected content after the end of the JSON value'],
      ['{a: 1}', 1, 'expected a double-quoted property name'],
      ['{"a": "\\q"}', 7, 'invalid escape sequence in string'],
      ['{"a": "x\ny"}', 8, 'unterminated string (newline inside a string)'],
      ['{"a": 1, "b": 2, "a": 3}', 17, 'duplicate key'],
      ['{"a": 1, "\\u0061": 2}', 9, 'duplicate key'],
      ['[1, 2', 5, 'unexpected end of input'],
      ['', 0, 'unexpected end of input'],
    ];
    for (const [text, offset, message] of cases) {
      assert.deepEqual(findJsonError(text), { offset, message }, text);
    }
  });

  test('bounds nesting instead of overflowing the stack', () => {
    const deep = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);
    assert.deepEqual(findJsonError(deep), { offset: MAX_JSON_DEPTH, message: `nested deeper than ${MAX_JSON_DEPTH} levels` });
    const ok = '['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH);
    assert.equal(findJsonError(ok), null);
    assert.doesNotThrow(() => findJsonError('['.repeat(200_000)));
  });
});
