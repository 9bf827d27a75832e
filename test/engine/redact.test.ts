// Redaction: pure logic of the Redactor, then a full reload cycle through a
// real file, a real pino logger, the admin socket and HTTP, grepping every
// byte that left the process for the secrets placed in the config.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import * as v from 'valibot';
import { createReloader, type Hook } from '../../src/index.js';
import { fileSource } from '../../src/sources/index.js';
import {
  DEFAULT_SECRET_KEYS,
  REDACTED,
  redactingLogger,
  redactIssueMessage,
  redactLogFields,
  redactUrlCredentials,
  Redactor,
} from '../../src/engine/redact.js';
import { capturedLogger, freePort, tempDir } from '../integrity/support.js';

describe('Redactor', () => {
  test('default secret-looking keys, and keys added or replaced by options', () => {
    const r = new Redactor();
    for (const k of [
      'password',
      'db_passwd',
      'passphrase',
      'client_secret',
      'api_token',
      'apiKey',
      'API-KEY',
      'private_key',
      'tls.key',
      'credentials',
      'Authorization',
      'cookie',
    ]) {
      assert.ok(r.isSecretKey(k), k);
    }
    for (const k of ['port', 'name', 'host', 'keys_count', 'url', 'dsn', 'passive']) assert.ok(!r.isSecretKey(k), k);
    const extended = Redactor.fromOptions({ keys: ['dsn', /^conn/g] });
    assert.ok(extended.isSecretKey('DSN') && extended.isSecretKey('password'));
    // A g flag must not make matching stateful: the same key twice in a row.
    assert.ok(extended.isSecretKey('conn_string') && extended.isSecretKey('conn_string'));
    assert.ok(!extended.isSecretKey('dsn2'), 'a string key matches the whole name');
    const only = Redactor.fromOptions({ keys: ['dsn'], defaults: false });
    assert.ok(only.isSecretKey('dsn') && !only.isSecretKey('password'));
    assert.ok(DEFAULT_SECRET_KEYS.length > 5);
  });

  test('secret values: under secret keys (nested, arrays, numbers) and URL passwords anywhere', () => {
    const r = new Redactor();
    const values = r.secretValues({
      db: { password: 'hunter22', replicas: [{ url: 'postgres://app:urlpass9@db/x' }] },
      auth: { token: 12345678, credentials: { user: 'bob-the-user', keys: ['k-one-1', 'k-two-2'] } },
      short: { secret: 'abc' },
      name: 'visible',
    });
    assert.deepEqual([...values].sort(), ['12345678', 'bob-the-user', 'hunter22', 'k-one-1', 'k-two-2', 'urlpass9'].sort());
  });

  test('redactText replaces known values and URL passwords, longest first', () => {
    const r = new Redactor();
    assert.equal(r.redactText('a hunter22 b hunter2222', new Set(['hunter22', 'hunter2222'])), `a ${REDACTED} b ${REDACTED}`);
    assert.equal(
      redactUrlCredentials('connect redis://:pw123@cache:6379 and https://user:p%40ss@host/x, not http://host/a:b@c'),
      `connect redis://:${REDACTED}@cache:6379 and https://user:${REDACTED}@host/x, not http://host/a:b@c`,
    );
  });

  test('schema issue messages under secret keys lose the received value, however short', () => {
    const r = new Redactor();
    const root = { db: { password: 987 }, port: 987 };
    assert.equal(
      redactIssueMessage(r, 'Invalid type: Expected string but received 987', ['db', 'password'], root),
      `Invalid type: Expected string but received ${REDACTED}`,
    );
    assert.equal(
      redactIssueMessage(r, 'Invalid length: Expected >=9870 but received "ab"', ['db', 'password'], { db: { password: 'ab' } }),
      `Invalid length: Expected >=9870 but received ${REDACTED}`,
    );
    // Not under a secret key: untouched.
    assert.equal(redactIssueMessage(r, 'Expected string but received 987', ['port'], root), 'Expected string but received 987');
  });

  test('log fields: secret keys replaced, strings scrubbed, Errors reduced, cycles and depth bounded', () => {
    const r = new Redactor();
    const cyc: Record<string, unknown> = { name: 'loop' };
    cyc.self = cyc;
    const out = redactLogFields(
      r,
      {
        unit: 'app',
        token: 'tok-value-1',
        nested: { password: { deep: 'x' }, note: 'uses hunter22 today' },
        err: Object.assign(new Error('login failed: hunter22'), { code: 'E_AUTH' }),
        list: ['hunter22', 1, null],
        cyc,
      },
      new Set(['hunter22']),
    );
    assert.deepEqual(out, {
      unit: 'app',
      token: REDACTED,
      nested: { password: REDACTED, note: `uses ${REDACTED} today` },
      err: { type: 'Error', message: `login failed: ${REDACTED}`, code: 'E_AUTH' },
      list: [REDACTED, 1, null],
      cyc: { name: 'loop', self: '[circular]' },
    });
  });

  test('redactingLogger scrubs fields and the message of every level', () => {
    const log = capturedLogger();
    const wrapped = redactingLogger(log.logger, new Redactor(), () => new Set(['s3cr3t-val']));
    wrapped.debug({ api_key: 'k' }, 'debug s3cr3t-val');
    wrapped.info({ a: 's3cr3t-val' });
    wrapped.warn({}, 'w');
    wrapped.error({ err: new Error('e s3cr3t-val') }, 'e');
    const lines = log.lines();
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, l.api_key ?? l.a ?? (l.err as { message?: string } | undefined)?.message]),
      [
        [20, `debug ${REDACTED}`, REDACTED],
        [30, undefined, REDACTED],
        [40, 'w', undefined],
        [50, 'e', `e ${REDACTED}`],
      ],
    );
    assert.ok(!log.text().includes('s3cr3t-val'));
  });
});

// ---- a full cycle ------------------------------------------------------------

function socketCommand(path: string, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ path });
    let text = '';
    sock.on('connect', () => sock.write(`${line}\n`));
    sock.on('data', (c: Buffer) => (text += c.toString()));
    sock.on('error', reject);
    sock.on('close', () => resolve(text));
  });
}

const schema = v.object({
  port: v.number(),
  name: v.string(),
  api_token: v.string(),
  dsn: v.optional(v.string()),
  db: v.object({ password: v.string(), url: v.string() }),
});
type Cfg = v.InferOutput<typeof schema>;

describe('no secret leaves the process across a full reload cycle', () => {
  test('logs, results, socket replies and HTTP bodies never contain a secret value', async (t) => {
    const dir = await tempDir(t, 'rk-red-');
    const config = join(dir, 'config.yaml');
    const socketPath = join(dir, 'admin.sock');
    const port = await freePort();
    const http = `http://127.0.0.1:${port}`;
    const adminToken = 'admin-bearer-token';

    // Every secret value ever placed in the config, by step.
    const secrets: string[] = [];
    const yaml = (step: string, name: string, extra = '') => {
      const s = { pw: `pw-${step}-Zq9`, tok: `tok-${step}-Xy8`, url: `up-${step}-Wv7`, dsn: `dsn-${step}-Uu6` };
      secrets.push(s.pw, s.tok, s.url, s.dsn);
      return (
        `port: 8080\nname: ${name}\napi_token: ${s.tok}\ndsn: ${s.dsn}\n` + `db:\n  password: ${s.pw}\n  url: postgres://app:${s.url}@db.internal/app\n${extra}`
      );
    };

    const hooks: Hook<Cfg>[] = [
      {
        name: 'db',
        check: (_old, next) => {
          if (next.name === 'reject') throw new Error(`refusing password ${next.db.password}, token ${next.api_token}, dsn ${next.dsn}`);
        },
        apply: (ctx, _old, next) => {
          ctx.logger.info({ next, conn: next.db.url }, `connecting with ${next.db.password}`);
          if (next.name === 'partial' || next.name === 'failall') throw new Error(`login failed at ${next.db.url} (${next.db.password})`);
        },
      },
      {
        name: 'cache',
        apply: (_ctx, _old, next) => (next.name === 'failall' ? { status: 'failed', error: `cache rejected ${next.api_token}` } : 'applied'),
      },
    ];

    const log = capturedLogger();
    await writeFile(config, yaml('start', 'one'));
    const r = createReloader({
      source: fileSource(config),
      schema,
      hooks,
      redact: { keys: ['dsn'] },
      logger: log.logger,
      triggers: { socket: socketPath, http: { address: `127.0.0.1:${port}`, reload: true, token: adminToken } },
    });
    t.after(() => r.close());
    await r.start();
    // The socket is private from the moment start() resolves (test/admin covers every moment and planted symlinks).
    assert.equal((await stat(socketPath)).mode & 0o777, 0o600);

    const replies: string[] = [];
    const httpGet = async (path: string) => {
      const res = await fetch(`${http}${path}`);
      replies.push(await res.text());
      return res.status;
    };
    const httpReload = async () => {
      const res = await fetch(`${http}/reload`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` } });
      const text = await res.text();
      replies.push(text);
      return JSON.parse(text) as { results: Record<string, { status: string }> };
    };
    const sockReload = async () => {
      const text = await socketCommand(socketPath, 'reload');
      replies.push(text);
      return JSON.parse(text) as { results: Record<string, { status: string }> };
    };

    const statuses: string[] = [];
    // 1. a committed change with new secrets (socket)
    await writeFile(config, yaml('ok', 'two'));
    statuses.push((await sockReload()).results.app!.status);
    // 2. a YAML syntax error on the line of a new secret (HTTP)
    await writeFile(config, yaml('syntax', 'three', `  broken: "unterminated ${'q'}\n`).replace(/password: (\S+)/, 'password: "$1'));
    statuses.push((await httpReload()).results.app!.status);
    // 3. a schema error where valibot quotes the received value (a number under a secret key)
    await writeFile(config, yaml('schema', 'four').replace(/password: \S+/, 'password: 98765432101'));
    secrets.push('98765432101');
    statuses.push((await r.reload()).status);
    // 4. a check error that embeds the secrets
    await writeFile(config, yaml('check', 'reject'));
    statuses.push((await sockReload()).results.app!.status);
    // 5. one hook fails with the secrets in its error: partial
    await writeFile(config, yaml('partial', 'partial'));
    statuses.push((await httpReload()).results.app!.status);
    // 6. every hook fails with the secrets in their errors
    await writeFile(config, yaml('failall', 'failall'));
    statuses.push((await r.reload()).status);

    assert.deepEqual(statuses, ['full_success', 'load_failed', 'load_failed', 'validation_failed', 'partial_applied', 'apply_failed']);

    replies.push(await socketCommand(socketPath, 'status'));
    for (const path of ['/status', '/reload-status', '/ready', '/ready?strict=1', '/metrics', '/metrics.json']) await httpGet(path);
    const results = JSON.stringify(r.history());
    const logs = log.text();

    // The test saw what it had to: errors carried redacted text, hook logs were written.
    assert.ok(results.includes(`refusing password ${REDACTED}, token ${REDACTED}, dsn ${REDACTED}`), results);
    assert.ok(results.includes(`login failed at postgres://app:${REDACTED}@db.internal/app (${REDACTED})`), results);
    assert.ok(results.includes(`cache rejected ${REDACTED}`));
    assert.match(results, /db\.password: Invalid type: Expected string but received \[REDACTED\]/);
    assert.ok(logs.includes(`connecting with ${REDACTED}`));
    assert.ok(log.lines().some((l) => l.msg === 'reload pass' && l.status === 'apply_failed'));
    assert.ok(
      replies.some((x) => x.includes('"status":"ready","degraded":[')),
      'ready lists the failure as degraded',
    );
    assert.ok(
      replies.some((x) => x.includes('"status":"not_ready"')),
      'strict ready reports the failure',
    );

    const everything = { logs, results, replies: replies.join('\n') };
    for (const secret of secrets) {
      for (const [where, text] of Object.entries(everything)) {
        assert.ok(!text.includes(secret), `${secret} leaked into ${where}`);
      }
    }
    await r.close();
  });
});
