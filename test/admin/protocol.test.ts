// The wire protocol's pure parts: parsing a request line, sanitising echoed
// words, and the exact reply JSON of docs/protocol.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { hostErrorMessage, parseRequest, reloadReply, replyLine, sanitizeWord, statusReply, textError } from '../../src/admin/protocol.js';
import { ReloadkitError, ShutdownError, UnknownUnitError, type ReloadResult } from '../../src/index.js';
import pkg from '../../package.json' with { type: 'json' };

test('parseRequest: commands, case, arguments, whitespace', () => {
  assert.deepEqual(parseRequest('status'), { kind: 'status' });
  assert.deepEqual(parseRequest('reload'), { kind: 'reload' });
  assert.deepEqual(parseRequest(' reload  nginx \r'), { kind: 'reload', unit: 'nginx' });
  assert.deepEqual(parseRequest('RELOAD'), { kind: 'reload-text' });
  assert.deepEqual(parseRequest(' RELOAD  nginx \r'), { kind: 'reload-text', unit: 'nginx' });
  assert.deepEqual(parseRequest('RELOAD a b'), { kind: 'unknown', word: 'RELOAD a b' });
  assert.deepEqual(parseRequest(''), { kind: 'invalid' });
  assert.deepEqual(parseRequest(' \t\r'), { kind: 'invalid' });
  assert.deepEqual(parseRequest(Buffer.from([0xff])), { kind: 'invalid' });
  assert.deepEqual(parseRequest(Buffer.alloc(4097, 0x61)), { kind: 'invalid' });
  assert.deepEqual(parseRequest('Reload'), { kind: 'unknown', word: 'Reload' });
  assert.deepEqual(parseRequest('status now'), { kind: 'unknown', word: 'status now' });
  assert.deepEqual(parseRequest('help me please'), { kind: 'unknown', word: 'help' });
});

test('sanitizeWord: printable ASCII only, at most 32 characters', () => {
  assert.equal(sanitizeWord('ok'), 'ok');
  assert.equal(sanitizeWord('a\u0000b\u001bc\u007f\u00e9\u{1f600}'), 'a?b?c???');
  assert.equal(sanitizeWord('x'.repeat(40)), 'x'.repeat(32));
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (s) => {
      const out = sanitizeWord(s);
      assert.ok(out.length <= 32);
      assert.match(out, /^[\x20-\x7e]*$/);
    }),
  );
});

const result = (unit: string, status: ReloadResult['status'], extra: Partial<ReloadResult> = {}): ReloadResult => ({
  unit,
  generation: 1,
  status,
  trigger: 'socket',
  outcomes: [],
  requires_restart: [],
  config_hash: 'h',
  changed: [],
  started_at: 't',
  ended_at: 't',
  duration_ms: 1,
  coalesced: 0,
  ...extra,
});

test('reloadReply: ok only when every unit succeeded; the message names each failure with its reason', () => {
  const ok = { a: result('a', 'full_success') };
  assert.equal(replyLine(reloadReply(ok)), `{"status":"ok","results":${JSON.stringify(ok)}}\n`);
  const mixed = {
    reloadkit: result('reloadkit', 'full_success'),
    nginx: result('nginx', 'validation_failed', { error: 'nginx -t: unknown directive "x"' }),
    app: result('app', 'load_failed', { load_error: '/etc/app.yaml:3:1: bad' }),
    web: result('web', 'partial_applied'),
  };
  const reply = reloadReply(mixed);
  assert.deepEqual(Object.keys(reply), ['status', 'message', 'results']);
  assert.equal(reply.status, 'error');
  assert.equal(
    (reply as { message: string }).message,
    'nginx: validation_failed: nginx -t: unknown directive "x"; app: load_failed: /etc/app.yaml:3:1: bad; web: partial_applied: partial_applied',
  );
});

test("statusReply: uptime in whole seconds, units by name, reloadkit's version, then what is degraded", () => {
  const host = {
    startedAt: 1_000,
    targetCount: () => 2,
    units: () => [{ name: 'u', generation: 3, lastResult: () => null, pendingRestart: () => ['server.port'] }],
    reload: async () => ({}),
    enqueue: () => {},
    ready: () => ({ ok: true, reasons: [], degraded: ['admin socket: in use'] }),
  };
  assert.deepEqual(statusReply(host, 6_999), {
    status: 'ok',
    uptime_secs: 5,
    targets: 2,
    units: { u: { generation: 3, last_result: null, pending_restart: ['server.port'] } },
    version: pkg.version,
    degraded: ['admin socket: in use'],
  });
  assert.match(pkg.version, /^\d+\.\d+\.\d+/);
  assert.match(
    replyLine(statusReply(host, 6_999)),
    new RegExp(`^\\{"status":"ok","uptime_secs":5,.*,"version":"${pkg.version.replaceAll('.', '\\.')}","degraded":\\["admin socket: in use"\\]\\}\n$`),
  );
});

test('hostErrorMessage: ours pass through, shutdown is "shutting down", others are hidden', () => {
  assert.deepEqual(hostErrorMessage(new UnknownUnitError('a\nb')), { message: 'unknown unit: a?b', internal: false });
  assert.deepEqual(hostErrorMessage(new ShutdownError('unit "x" is closed; reload refused')), { message: 'shutting down', internal: false });
  assert.deepEqual(hostErrorMessage(new ReloadkitError('ERR_CLOSED', 'closed')), { message: 'shutting down', internal: false });
  assert.deepEqual(hostErrorMessage(new Error('/secret/path exploded')), { message: 'internal error', internal: true });
  assert.equal(textError('bad\nthing'), 'ERROR: bad thing\n');
});
