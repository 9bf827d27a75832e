// createReloader refuses every bad option before anything starts, with an
// OptionsError (code ERR_OPTIONS) whose message names the option.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  createReloader,
  dirSource,
  etcdSource,
  fileSource,
  logLevelHook,
  OptionsError,
  onChange,
  tlsHook,
  validLevels,
  type ReloaderOptions,
} from '../../src/index.js';
import { MemorySource } from '../helpers/memory-source.js';

const source = new MemorySource({ a: 1 });

/** `make()` throws an OptionsError (ERR_OPTIONS) whose message matches `names`. */
function throwsOptions(make: () => unknown, names: RegExp): void {
  assert.throws(make, (err: unknown) => {
    assert.ok(err instanceof OptionsError, `${String(err)} is an OptionsError`);
    assert.equal(err.code, 'ERR_OPTIONS');
    assert.match(err.message, names);
    return true;
  });
}

function refused(options: unknown, names: RegExp): void {
  throwsOptions(() => createReloader(options as ReloaderOptions<unknown>), names);
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
    refused({ source, onApplyFailur: 'rollback' }, /^createReloader: unknown option "onApplyFailur" \(known: name, source/);
    refused({ source, triggers: { watcher: true } }, /^triggers: unknown option "watcher"/);
    refused({ source, restartRequired: { paths: [], polcy: 'reject' } }, /^restartRequired: unknown option "polcy"/);
    refused({ source, persist: { path: '/tmp/x', fallbak: true } }, /^persist: unknown option "fallbak"/);
    refused({ source, redact: { key: ['dsn'] } }, /^redact: unknown option "key"/);
  });

  test('trigger options refuse unknown keys too: a misspelt token must not leave POST /reload open', () => {
    const http = { address: '127.0.0.1:0', reload: true };
    refused({ source, triggers: { http: { ...http, tokn: 'secret' } } }, /^triggers\.http: unknown option "tokn" \(known: address, reload, token,/);
    refused({ source, triggers: { http: { ...http, allowremote: true } } }, /^triggers\.http: unknown option "allowremote"/);
    refused({ source, triggers: { socket: { path: '/tmp/reloadkit-x.sock', mod: 0o660 } } }, /^triggers\.socket: unknown option "mod"/);
    refused({ source, triggers: { socket: 42 } }, /^triggers\.socket: expected a socket path/);
    refused({ source, triggers: { socket: {} } }, /^triggers\.socket\.path: /);
    refused({ source, triggers: { http: { ...http, reload: 'yes' } } }, /^triggers\.http\.reload: expected a boolean, got "yes"/);
    assert.doesNotThrow(() => createReloader({ source, triggers: { http: { ...http, token: 'secret' }, socket: { path: '' } } }));
  });

  test('a bad HTTP address is refused by createReloader, naming triggers.http.address, not later by start()', () => {
    refused({ source, triggers: { http: { address: '127.0.0.1' } } }, /^triggers\.http\.address: .*host:port.*got "127\.0\.0\.1"/);
    refused({ source, triggers: { http: { address: 'localhost:99999' } } }, /^triggers\.http\.address: .*host:port/);
    refused({ source, triggers: { http: { address: 9111 } } }, /^triggers\.http\.address: expected host:port.*got 9111/);
    refused({ source, triggers: { http: 'nowhere' } }, /^triggers\.http: .*host:port.*got "nowhere"/);
    refused({ source, triggers: { http: true } }, /^triggers\.http: expected host:port or \{ address/);
    assert.doesNotThrow(() => createReloader({ source, triggers: { http: '' } }));
    assert.doesNotThrow(() => createReloader({ source, triggers: { http: '[::1]:0' } }));
  });

  test("a hook's own applyTimeoutMs is checked as the top-level one is, naming the hook", () => {
    refused(
      {
        source,
        hooks: [
          { name: 'ok', apply() {} },
          { name: 'slow', apply() {}, applyTimeoutMs: -1 },
        ],
      },
      /^hooks\[1\] "slow": applyTimeoutMs: .*got -1/,
    );
    refused({ source, hooks: [{ name: 'slow', apply() {}, applyTimeoutMs: 'x' }] }, /^hooks\[0\] "slow": applyTimeoutMs: .*got "x"/);
    refused({ source, hooks: [{ name: 'slow', apply() {}, applyTimeoutMs: 2 ** 31 }] }, /^hooks\[0\] "slow": applyTimeoutMs: /);
    assert.doesNotThrow(() => createReloader({ source, hooks: [{ name: 'slow', apply() {}, applyTimeoutMs: 100 }] }));
  });

  test('hook factories refuse bad arguments the same way', () => {
    throwsOptions(() => onChange('a', 42 as never), /fn must be a function, got number/);
    throwsOptions(() => onChange('a', () => {}, { chek: () => {} } as never), /^onChange: unknown option "chek" \(known: name, check\)/);
    const server = { setSecureContext() {} };
    throwsOptions(
      () => tlsHook(server, { cert: 'tls.crt', key: 'tls.key', passphrse: 'x' } as never),
      /^tlsHook "tls-certificate": unknown option "passphrse"/,
    );
    throwsOptions(
      () => tlsHook(server, { cert: 'tls.crt', key: 'tls.key', baseDir: 5 } as never),
      /^tlsHook "tls-certificate": baseDir must be a non-empty string, got number/,
    );
    throwsOptions(() => tlsHook(server, { cert: 'tls.crt', key: 'tls.key', passphrase: 42 } as never), /passphrase must be a non-empty string/);
    throwsOptions(() => tlsHook(server, undefined as never), /^tlsHook "tls-certificate": expected an options object, got undefined/);
    const logger = { level: 'info', levels: { values: { info: 30 } } };
    throwsOptions(() => logLevelHook(42 as never, 'log.level'), /^logLevelHook "log-level": logger must be a pino logger .*got number/);
    throwsOptions(() => logLevelHook({ level: 'info' } as never, 'log.level'), /logger must be a pino logger/);
    throwsOptions(() => validLevels(42 as never), /^validLevels: logger must be a pino logger .*got number/);
    assert.deepEqual(validLevels(logger), ['info', 'silent']);
    throwsOptions(() => logLevelHook(logger, 42 as never), /^logLevelHook "log-level": expected a dotted path or a selector function, got number/);
    throwsOptions(() => logLevelHook(logger, 'log.level', { nmae: 'x' } as never), /^logLevelHook: unknown option "nmae" \(known: name\)/);
    throwsOptions(() => logLevelHook(logger, 'log.level', { name: '' }), /^logLevelHook: name must be a non-empty string/);
    assert.equal(logLevelHook(logger, 'log.level', { name: 'root' }).name, 'root');
  });

  test('sources refuse unknown options (a misspelt env must not leave ${VAR} unexpanded)', () => {
    throwsOptions(() => fileSource('/tmp/app.yaml', { evn: true } as never), /^fileSource: unknown option "evn" \(known: format, env, maxBytes, optional\)/);
    throwsOptions(() => fileSource('/tmp/app.yaml', 'yaml' as never), /^fileSource: expected an options object, got string/);
    throwsOptions(() => dirSource('/tmp/conf.d', { patern: '*.yaml' } as never), /^dirSource: unknown option "patern" \(known: pattern, env, maxBytes\)/);
    throwsOptions(() => etcdSource({ endpoints: 'http://127.0.0.1:2379', key: 'k', timeout: 5 } as never), /^etcdSource: unknown option "timeout"/);
    throwsOptions(
      () => etcdSource({ endpoints: 'http://127.0.0.1:2379', key: 'k', tls: { ca: '/ca.pem' } } as never),
      /^etcdSource\.tls: unknown option "ca" \(known: caFile, certFile, keyFile\)/,
    );
    assert.equal(fileSource('/tmp/app.yaml', { env: true, format: undefined }).format, 'yaml');
    assert.equal(dirSource('/tmp/conf.d', { pattern: '*.yaml' }).pattern, '*.yaml');
  });

  test('good options are accepted (undefined values count as absent)', () => {
    const r = createReloader({ source, schema: z.object({ a: z.number() }), historySize: 1, applyTimeoutMs: 5, onApplyFailure: 'rollback', name: undefined });
    assert.equal(r.name, 'app');
  });
});
