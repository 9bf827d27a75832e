// validateWithSchema with what a source tells about its values: where each
// is written (locate) and which were typed from environment text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { z } from 'zod';
import { validateWithSchema } from '../../src/engine/validate.js';

const schema = z.object({ port: z.number(), password: z.string(), hosts: z.array(z.string()).default([]), level: z.enum(['info', 'debug']).default('info') });

describe('values typed from environment text', () => {
  test('refused as typed, accepted as text: the text is the value', async () => {
    const v = await validateWithSchema(schema, { port: 80, password: 123 }, undefined, { typedTexts: () => [{ path: ['password'], text: '0123' }] });
    assert.deepEqual(v, { ok: true, value: { port: 80, password: '0123', hosts: [], level: 'info' } });
  });

  test('refused both ways: the error is about the typed value', async () => {
    const v = await validateWithSchema(schema, { port: 80, password: 'x', hosts: [1, 2] }, undefined, {
      typedTexts: () => [{ path: ['hosts'], text: '[1, 2]' }],
    });
    assert.equal(v.ok, false);
    assert.equal(
      !v.ok && v.message,
      'schema validation failed: hosts[0]: Invalid input: expected string, received number; hosts[1]: Invalid input: expected string, received number',
    );
  });

  test('the text fixes one value and another is wrong: the other is reported, the fixed one is not', async () => {
    const v = await validateWithSchema(schema, { port: 80, password: 123, level: 'loud' }, undefined, {
      typedTexts: () => [{ path: ['password'], text: '123' }],
    });
    assert.equal(!v.ok && v.message, 'schema validation failed: level: Invalid option: expected one of "info"|"debug"');
  });

  test('without typed values nothing is retried; an accepted config never asks', async () => {
    let asked = 0;
    const typedTexts = () => {
      asked += 1;
      return [{ path: ['password'], text: '1' }];
    };
    assert.equal((await validateWithSchema(schema, { port: 80, password: 1 })).ok, false);
    assert.equal((await validateWithSchema(schema, { port: 80, password: 'p' }, undefined, { typedTexts })).ok, true);
    assert.equal(asked, 0);
  });
});

describe('where a refused value is written', () => {
  test('each issue starts with where; a missing key asks for its parent; the root for a missing top-level key', async () => {
    const asked: string[] = [];
    const locate = (path: readonly (string | number)[]) => {
      asked.push(path.join('.'));
      return path.length === 0 ? 'f:1:1' : `f:${path.join('.')}`;
    };
    const v = await validateWithSchema(z.object({ a: z.object({ b: z.number(), c: z.string() }), d: z.string() }), { a: { b: 'x' } }, undefined, { locate });
    assert.equal(
      !v.ok && v.message,
      'schema validation failed: f:a.b: a.b: Invalid input: expected number, received string; f:a: a.c: Invalid input: expected string, received undefined; f:1:1: d: Invalid input: expected string, received undefined',
    );
    assert.deepEqual(asked, ['a.b', 'a', '']);
  });
});
