// createReloader refuses every bad option before anything starts, with an
// OptionsError (code ERR_OPTIONS) whose message names the option.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { createReloader, OptionsError, onChange, type ReloaderOptions } from '../../src/index.js';
import { MemorySource } from '../helpers/memory-source.js';

const source = new MemorySource({ a: 1 });

function refused(options: unknown, names: RegExp): void {
  assert.throws(
    () => createReloader(options as ReloaderOptions<unknown>),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError, `${String(err)} is an OptionsError`);
      assert.equal(err.code, 'ERR_OPTIONS');
      assert.match(err.message, names);
      return true;
    },
  );
}

describe('createReloader options', () => {
  test('wrong types and out-of-range numbers are refused, naming the option', () => {
    refused(undefined, /options object/);
    refused({}, /^source: /);
    refused({ source: {} }, /^source: /);
    refused({ source, historySize: 0 }, /^historySize: .*got 0/);
    refused({ source, historySize: 1.5 }, /^historySize: /);
    refused({ source, applyTimeoutMs: -1 }, /^applyTimeoutMs: .*got -1/);
    refused({ source, applyTimeoutMs: 2 ** 31 }, /^applyTimeoutMs: /);
    refused({ source, onApplyFailure: 'ignore' }, /^onApplyFailure: expected 'keep-partial' or 'rollback', got "ignore"/);
    refused({ source, name: '' }, /^name: /);
    refused({ source, schema: { parse() {} } }, /^schema: not a Standard Schema validator/);
    refused({ source, hooks: { name: 'x' } }, /^hooks: expected an array/);
    refused({ source, hooks: [{ name: 'x' }] }, /^hooks\[0\] "x": needs a check, apply or afterCommit function/);
    refused({ source, hooks: [{ name: 'x', args: 'prev-next', apply() {} }] }, /^hooks\[0\] "x": args: expected 'next-prev' .*got "prev-next"/);
    refused({ source, logger: console.log }, /^logger: /);
    refused({ source, logger: true }, /^logger: .*or false/);
    refused({ source, registry: {} }, /^registry: expected a prom-client Registry, got object/);
    assert.doesNotThrow(() => createReloader({ source, logger: false }));
    refused({ source, persist: { path: '' } }, /^persist\.path: /);
  });

  test('restart-required paths: not an array, not strings, or malformed', () => {
    refused({ source, restartRequired: { paths: 'a' } }, /^restartRequired\.paths: expected an array of dotted paths, got "a"/);
    refused({ source, restartRequired: { paths: [42] } }, /^restartRequired\.paths\[0\] must be a dotted path string/);
    refused({ source, restartRequired: { paths: ['a..b'] } }, /^restartRequired\.paths: invalid path pattern "a\.\.b"/);
    refused({ source, restartRequired: { paths: ['a'], policy: 'maybe' } }, /^restartRequired\.policy: /);
  });

  test('unknown options are refused, not ignored (a typo must not silently do nothing)', () => {
    refused({ source, onApplyFailur: 'rollback' }, /^onApplyFailur: unknown option \(known: name, source/);
    refused({ source, triggers: { watcher: true } }, /^triggers\.watcher: unknown option/);
    refused({ source, restartRequired: { paths: [], polcy: 'reject' } }, /^restartRequired\.polcy: unknown option/);
    refused({ source, persist: { path: '/tmp/x', fallbak: true } }, /^persist\.fallbak: unknown option/);
    refused({ source, redact: { key: ['dsn'] } }, /^redact\.key: unknown option/);
  });

  test('hook factories refuse bad arguments the same way', () => {
    assert.throws(
      () => onChange('a', 42 as never),
      (e: unknown) => e instanceof OptionsError && /fn must be a function, got number/.test(e.message),
    );
  });

  test('good options are accepted (undefined values count as absent)', () => {
    const r = createReloader({ source, schema: z.object({ a: z.number() }), historySize: 1, applyTimeoutMs: 5, onApplyFailure: 'rollback', name: undefined });
    assert.equal(r.name, 'app');
  });
});
