// Detached Ed25519 signatures end to end: real key files from keygen(), real
// config files signed by signFile(), loaded by fileSource/dirSource through
// createReloader.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { createReloader, type ConfigSource } from '../../src/index.js';
import { dirSource, fileSource } from '../../src/sources/index.js';
import { Unit } from '../../src/engine/unit.js';
import { keygen, PRIVATE_KEY_FILE, PUBLIC_KEY_FILE, signFile, signatureFor } from '../../src/integrity/keys.js';
import { createVerifier, decodeSignature } from '../../src/integrity/signature.js';
import { capturedLogger, tempDir } from './support.js';
import { waitFor } from '../helpers/wait.js';
import { SignatureError } from '../../src/shared/errors.js';

const schema = z.object({ port: z.number().int(), name: z.string() });

async function signedSetup(t: Parameters<typeof tempDir>[0], yaml = 'port: 8080\nname: a\n') {
  const dir = await tempDir(t);
  const keys = await keygen(join(dir, 'keys'));
  const config = join(dir, 'config.yaml');
  await writeFile(config, yaml);
  await signFile(keys.privateKey, config);
  return { dir, keys, config };
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = bytes[at]! ^ 0x01;
  await writeFile(path, bytes);
}

describe('signed configs through createReloader', () => {
  test('a signed config is accepted; a re-signed change reloads', async (t) => {
    const { keys, config } = await signedSetup(t);
    const r = createReloader({ source: fileSource(config), schema, signature: { publicKeyFile: keys.publicKey } });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.current(), { port: 8080, name: 'a' });
    await writeFile(config, 'port: 9090\nname: a\n');
    await signFile(keys.privateKey, config);
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.equal(r.current().port, 9090);
  });

  test('one flipped byte in the config: load_failed, old config and generation kept', async (t) => {
    const { keys, config } = await signedSetup(t);
    const r = createReloader({ source: fileSource(config), schema, signature: { publicKey: await readFile(keys.publicKey, 'utf8') } });
    t.after(() => r.close());
    await r.start();
    await writeFile(config, 'port: 8081\nname: a\n');
    await signFile(keys.privateKey, config);
    assert.equal((await r.reload()).generation, 1);
    // "port: 8081" → "port: 8080": still valid YAML and schema, only the signature tells.
    await flipByte(config, 'port: 808'.length);
    assert.equal(await readFile(config, 'utf8'), 'port: 8080\nname: a\n');
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.equal(res.load_error, `signature verification failed: ${config}: bad signature`);
    assert.equal(res.generation, 1);
    assert.equal(r.generation, 1);
    assert.equal(r.current().port, 8081);
  });

  test('one flipped byte in the signature is rejected', async (t) => {
    const { keys, config } = await signedSetup(t);
    const r = createReloader({ source: fileSource(config), schema, signature: { publicKeyFile: keys.publicKey } });
    t.after(() => r.close());
    await r.start();
    await writeFile(config, 'port: 7070\nname: a\n');
    await signFile(keys.privateKey, config);
    // Flip a bit of the decoded signature and write it back as valid base64.
    const sig = decodeSignature(await readFile(`${config}.sig`))!;
    sig[10] = sig[10]! ^ 0x01;
    await writeFile(`${config}.sig`, `${sig.toString('base64')}\n`);
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.match(res.load_error ?? '', /^signature verification failed: .*config\.yaml: bad signature$/);
    assert.equal(r.generation, 0);
    assert.equal(r.current().port, 8080);
  });

  test('a missing .sig is rejected, at start and on reload', async (t) => {
    const { dir, keys, config } = await signedSetup(t);
    const unsigned = join(dir, 'unsigned.yaml');
    await writeFile(unsigned, 'port: 1\nname: u\n');
    const first = createReloader({ source: fileSource(unsigned), schema, signature: { publicKeyFile: keys.publicKey } });
    t.after(() => first.close());
    await assert.rejects(first.start(), new RegExp(`signature verification failed: ${unsigned}: missing signature`));
    await first.close();

    const r = createReloader({ source: fileSource(config), schema, signature: { publicKeyFile: keys.publicKey } });
    t.after(() => r.close());
    await r.start();
    await writeFile(config, 'port: 1\nname: b\n');
    await signFile(keys.privateKey, config);
    await import('node:fs/promises').then((fs) => fs.unlink(`${config}.sig`));
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.equal(res.load_error, `signature verification failed: ${config}: missing signature`);
    assert.equal(r.current().name, 'a');
  });

  test('a signature by another key is rejected', async (t) => {
    const { dir, config } = await signedSetup(t);
    const other = await keygen(join(dir, 'other'));
    const r = createReloader({ source: fileSource(config), schema, signature: { publicKeyFile: other.publicKey } });
    t.after(() => r.close());
    await assert.rejects(r.start(), /signature verification failed: .*config\.yaml: bad signature/);
  });

  test('malformed signature files are rejected with a reason; a trailing newline or none is fine', async (t) => {
    const { keys, config } = await signedSetup(t);
    const verify = createVerifier({ publicKeyFile: keys.publicKey });
    const bytes = await readFile(config);
    const good = (await readFile(`${config}.sig`, 'utf8')).trim();
    for (const content of [good, `${good}\n`, `${good}\r\n`]) {
      await writeFile(`${config}.sig`, content);
      await verify(config, bytes);
    }
    const malformed = [
      '',
      'not base64 at all',
      `${good}\n\n`,
      ` ${good}`,
      good.slice(0, -4), // 61 bytes
      Buffer.alloc(65).toString('base64'),
      'x'.repeat(5000),
    ];
    for (const content of malformed) {
      await writeFile(`${config}.sig`, content);
      await assert.rejects(verify(config, bytes), (err: SignatureError) => {
        assert.ok(err instanceof SignatureError);
        assert.match(err.reason, /^malformed signature/, `content ${JSON.stringify(content.slice(0, 40))}`);
        return true;
      });
    }
    await import('node:fs/promises').then((fs) => fs.rm(`${config}.sig`));
    await mkdir(`${config}.sig`);
    await assert.rejects(verify(config, bytes), /signature verification failed: .*: cannot read signature/);
  });

  test('the security event is logged once per failed pass, without key material; observers count it', async (t) => {
    const { keys, config } = await signedSetup(t);
    const log = capturedLogger();
    const unit = new Unit<unknown>({
      name: 'app',
      source: fileSource(config),
      verify: createVerifier({ publicKeyFile: keys.publicKey }),
      logger: log.logger,
    });
    const failures: [string, string, string][] = [];
    unit.observe({ signatureFailure: (u, file, reason) => failures.push([u, file, reason]) });
    await unit.start();
    await writeFile(config, 'port: 1\nname: tampered\n');
    const res = await unit.reload('api');
    assert.equal(res.status, 'load_failed');
    assert.deepEqual(failures, [['app', config, 'bad signature']]);
    const security = log.lines().filter((l) => l.event === 'security');
    assert.equal(security.length, 1);
    assert.deepEqual(
      { unit: security[0]!.unit, file: security[0]!.file, reason: security[0]!.reason, msg: security[0]!.msg, level: security[0]!.level },
      { unit: 'app', file: config, reason: 'bad signature', msg: 'signature verification failed', level: 50 },
    );
    const pemBody = (pem: string) =>
      pem
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'))
        .join('');
    const text = log.text();
    assert.ok(!text.includes(pemBody(await readFile(keys.publicKey, 'utf8'))), 'public key not logged');
    assert.ok(!text.includes(pemBody(await readFile(keys.privateKey, 'utf8'))), 'private key not logged');
    assert.ok(!text.includes((await readFile(`${config}.sig`, 'utf8')).trim()), 'signature not logged');
    await unit.close();
  });

  test('dirSource: every fragment needs its own valid signature', async (t) => {
    const dir = await tempDir(t);
    const keys = await keygen(join(dir, 'keys'));
    const conf = join(dir, 'conf.d');
    await mkdir(conf);
    await writeFile(join(conf, '10-base.yaml'), 'port: 1\nname: base\n');
    await writeFile(join(conf, '20-over.yaml'), 'port: 2\n');
    await signFile(keys.privateKey, join(conf, '10-base.yaml'));
    await signFile(keys.privateKey, join(conf, '20-over.yaml'));
    const r = createReloader({ source: dirSource(conf), schema, signature: { publicKeyFile: keys.publicKey } });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.current(), { port: 2, name: 'base' });
    await writeFile(join(conf, '30-new.yaml'), 'port: 3\n');
    const res = await r.reload();
    assert.equal(res.status, 'load_failed');
    assert.equal(res.load_error, `signature verification failed: ${join(conf, '30-new.yaml')}: missing signature`);
    assert.equal(r.current().port, 2);
    await signFile(keys.privateKey, join(conf, '30-new.yaml'));
    assert.equal((await r.reload()).status, 'full_success');
    assert.equal(r.current().port, 3);
  });
});

describe('watching signed configs', () => {
  test('re-signing after an edit starts a pass by itself (the .sig is watched); fileSource and dirSource', async (t) => {
    const dir = await tempDir(t);
    const keys = await keygen(join(dir, 'keys'));
    const config = join(dir, 'config.yaml');
    await writeFile(config, 'port: 1\nname: a\n');
    await signFile(keys.privateKey, config);
    const conf = join(dir, 'conf.d');
    await mkdir(conf);
    await writeFile(join(conf, '10.yaml'), 'port: 1\nname: d\n');
    await signFile(keys.privateKey, join(conf, '10.yaml'));
    const watch = { debounceMs: 50, rescanMs: 0 };
    const readers = [fileSource(config), dirSource(conf)].map((source, i) => ({
      r: createReloader({ name: `r${i}`, source, schema, signature: { publicKeyFile: keys.publicKey }, triggers: { watch } }),
    }));
    for (const { r } of readers) await r.start();
    t.after(() => Promise.all(readers.map(({ r }) => r.close())));

    // The edit lands first (its old signature no longer matches), the signature a moment later.
    await writeFile(config, 'port: 2\nname: a\n');
    await writeFile(join(conf, '10.yaml'), 'port: 2\nname: d\n');
    await waitFor(() => readers.every(({ r }) => r.lastResult()?.status === 'load_failed'), 'the unsigned edits to be refused');
    await signFile(keys.privateKey, config);
    await signFile(keys.privateKey, join(conf, '10.yaml'));
    await waitFor(() => readers.every(({ r }) => r.current().port === 2), 'the signature change to start a pass');
    for (const { r } of readers) {
      assert.equal(r.lastResult()?.status, 'full_success');
      assert.equal(r.lastResult()?.trigger, 'watch');
    }
  });
});

describe('signature options', () => {
  test('a custom source that does not declare verifiesSignatures is refused at createReloader', async (t) => {
    const { keys } = await signedSetup(t);
    const custom: ConfigSource = { description: 'consul:app', load: async () => ({ value: {}, files: [] }) };
    assert.throws(
      () => createReloader({ source: custom, signature: { publicKeyFile: keys.publicKey } }),
      /signatures are required but the source \(consul:app\) does not verify them/,
    );
  });

  test('a source that swallows the verification error still fails the load', async (t) => {
    const { keys, config } = await signedSetup(t);
    const sneaky: ConfigSource = {
      description: 'sneaky',
      verifiesSignatures: true,
      async load(ctx) {
        const bytes = await readFile(config);
        await Promise.resolve(ctx.verify?.(config, bytes)).catch(() => {});
        return { value: { port: 1, name: 'x' }, files: [] };
      },
    };
    await writeFile(config, 'port: 1\nname: x\n');
    const r = createReloader({ source: sneaky, signature: { publicKeyFile: keys.publicKey } });
    t.after(() => r.close());
    await assert.rejects(r.start(), /signature verification failed: .*config\.yaml: bad signature/);
  });

  test('bad key options fail at createReloader with a clear error and no key material', async (t) => {
    const { dir, keys, config } = await signedSetup(t);
    const source = fileSource(config);
    const privPem = await readFile(keys.privateKey, 'utf8');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const cases: [Parameters<typeof createReloader>[0]['signature'], RegExp][] = [
      [{ publicKeyFile: join(dir, 'nope.pub') }, /signature\.publicKeyFile: cannot read .*nope\.pub: file not found/],
      [{ publicKeyFile: keys.privateKey }, /is a private key; give the public key/],
      [{ publicKey: privPem }, /is a private key; give the public key/],
      [{ publicKey: 'hello' }, /not a PEM public key/],
      [{ publicKey: rsa }, /is a rsa key; reloadkit signatures use Ed25519/],
      [{} as { publicKey: string }, /expected \{ publicKey \} or \{ publicKeyFile \}/],
    ];
    for (const [signature, re] of cases) {
      assert.throws(
        () => createReloader({ source, signature }),
        (err: Error) => {
          assert.match(err.message, re);
          assert.ok(!err.message.includes('BEGIN'), 'no PEM in the message');
          return true;
        },
      );
    }
  });
});

describe('keygen and sign', () => {
  test('keygen writes a PKCS#8 private key 0600 and an SPKI public key; refuses to overwrite', async (t) => {
    const dir = join(await tempDir(t), 'new', 'keys');
    const paths = await keygen(dir);
    assert.equal(paths.privateKey, join(dir, PRIVATE_KEY_FILE));
    assert.equal(paths.publicKey, join(dir, PUBLIC_KEY_FILE));
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    assert.equal((await stat(paths.privateKey)).mode & 0o777, 0o600);
    assert.equal((await stat(paths.publicKey)).mode & 0o777, 0o644);
    const priv = await readFile(paths.privateKey, 'utf8');
    const pub = await readFile(paths.publicKey, 'utf8');
    assert.match(priv, /^-----BEGIN PRIVATE KEY-----\n/);
    assert.match(pub, /^-----BEGIN PUBLIC KEY-----\n/);
    await assert.rejects(keygen(dir), /reloadkit\.key already exists; refusing to overwrite/);
    assert.equal(await readFile(paths.privateKey, 'utf8'), priv);
    assert.equal(await readFile(paths.publicKey, 'utf8'), pub);
  });

  test('keygen refuses when only the public key exists, and leaves it alone', async (t) => {
    const dir = await tempDir(t);
    await writeFile(join(dir, PUBLIC_KEY_FILE), 'keep');
    await assert.rejects(keygen(dir), /reloadkit\.pub already exists/);
    assert.equal(await readFile(join(dir, PUBLIC_KEY_FILE), 'utf8'), 'keep');
    await assert.rejects(stat(join(dir, PRIVATE_KEY_FILE)), { code: 'ENOENT' });
  });

  test('sign writes CONFIG.sig (base64 of 64 bytes and a newline) over the exact bytes', async (t) => {
    const { keys, config } = await signedSetup(t);
    const text = await readFile(`${config}.sig`, 'utf8');
    assert.match(text, /^[A-Za-z0-9+/]{86}==\n$/);
    assert.equal(Buffer.from(text, 'base64').length, 64);
    const { key } = await import('../../src/integrity/keys.js').then((m) => m.loadPrivateKey(keys.privateKey));
    assert.equal(signatureFor(key, await readFile(config)), text);
  });

  test('sign: clear errors for a missing config, a non-key file; a warning for a readable key', async (t) => {
    const { dir, keys, config } = await signedSetup(t);
    await assert.rejects(signFile(keys.privateKey, join(dir, 'missing.yaml')), /cannot read .*missing\.yaml: no such file or directory \(ENOENT\)/);
    await assert.rejects(signFile(config, config), /not a PEM private key/);
    await assert.rejects(signFile(keys.publicKey, config), /not a PEM private key/);
    await assert.rejects(signFile(join(dir, 'none.key'), config), /cannot read key .*none\.key: no such file or directory \(ENOENT\)/);
    assert.deepEqual((await signFile(keys.privateKey, config)).warnings, []);
    await chmod(keys.privateKey, 0o644);
    const { warnings } = await signFile(keys.privateKey, config);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /accessible by group or others \(mode 0644\); chmod 600 it/);
  });
});
