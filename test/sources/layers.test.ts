// layers([...]) and envSource: a base file, a conf.d directory and the
// environment merged in order, with errors and `changed_from` naming the
// layer (file:line:col, $VARIABLE) that set a value; values from the
// environment typed as YAML would, unless the schema wants the text.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { z } from 'zod';
import { createReloader, dirSource, envSource, fileSource, layers, OptionsError, type ConfigSource, type LoadContext } from '../../src/index.js';
import { atomicSave } from '../triggers/watch-helpers.js';
import { waitFor } from '../helpers/wait.js';
import { failure, loadCtx, put, tempDir } from './tmp.js';

/** base.yaml + conf.d/ + APP_* from `env` (a record the test changes between loads). */
async function layered(t: TestContext, env: Record<string, string | undefined>) {
  const dir = await tempDir(t);
  const base = await put(dir, 'base.yaml', 'server:\n  port: 80\n  host: base\n  maxConnections: 10\nbackends: [a, b]\nlog: {level: info}\n');
  const confd = join(dir, 'conf.d');
  await mkdir(confd);
  await put(confd, '10-port.yaml', '# the port\nserver:\n  port: 8080\n');
  const source = layers([fileSource(base), dirSource(confd), envSource({ prefix: 'APP_', separator: '__', env })]);
  return { dir, base, confd, source };
}

const schema = z.object({
  server: z.object({ port: z.number().int(), host: z.string(), maxConnections: z.number() }),
  backends: z.array(z.string()),
  log: z.object({ level: z.enum(['debug', 'info', 'warn']) }),
  password: z.string().optional(),
  beta: z.boolean().default(false),
});

describe('layers: merged in order, like dirSource', () => {
  test('objects deep-merged, arrays and scalars replaced; the environment last', async (t) => {
    const env: Record<string, string> = { APP_LOG__LEVEL: 'debug', APP_BACKENDS: '["c"]', APP_BETA: 'true', OTHER_X: '1' };
    const { source, base, confd } = await layered(t, env);
    const loaded = await source.load(loadCtx());
    assert.deepEqual(loaded.value, {
      server: { port: 8080, host: 'base', maxConnections: 10 },
      backends: ['c'],
      log: { level: 'debug' },
      beta: true,
    });
    assert.deepEqual(
      loaded.files.map((f) => f.path),
      [base, join(confd, '10-port.yaml')],
    );
    assert.equal(source.description, `layers(${base}, ${join(confd, '*.{yaml,yml,json,toml}')}, environment APP_*)`);
  });

  test('watchSpecs are the union of the layers’; the environment adds none', async (t) => {
    const { source, base, confd } = await layered(t, {});
    assert.deepEqual(
      source.watchSpecs().map((s) => s.path),
      [base, confd],
    );
    assert.deepEqual(envSource({ prefix: 'APP_' }).watchSpecs(), []);
  });

  test('an environment key takes the spelling the files use (case, `_` and `-` aside); an unknown one is lower-cased', async (t) => {
    const { source } = await layered(t, { APP_SERVER__MAX_CONNECTIONS: '99', APP_SERVER__NEW_KEY: 'x' });
    const value = (await source.load(loadCtx())).value as { server: Record<string, unknown> };
    assert.deepEqual(value.server, { port: 8080, host: 'base', maxConnections: 99, new_key: 'x' });
  });

  test('a missing optional file is an empty layer; created later, it counts', async (t) => {
    const dir = await tempDir(t);
    await put(dir, 'base.yaml', 'a: 1\nb: 1\n');
    const source = layers([fileSource(join(dir, 'base.yaml')), fileSource(join(dir, 'production.yaml'), { optional: true })]);
    assert.deepEqual((await source.load(loadCtx())).value, { a: 1, b: 1 });
    await put(dir, 'production.yaml', 'b: 2\n');
    assert.deepEqual((await source.load(loadCtx())).value, { a: 1, b: 2 });
    assert.match(await failure(fileSource(join(dir, 'absent.yaml')).load(loadCtx())), /absent\.yaml: file not found$/);
  });
});

describe('values from the environment are typed as YAML would, unless the schema wants the text', () => {
  test('numbers, booleans, null, JSON lists; empty stays empty; text stays text', async () => {
    const env = {
      APP_A: '8080',
      APP_B: 'true',
      APP_C: 'null',
      APP_D: '1.5',
      APP_E: '[1, "x"]',
      APP_F: '',
      APP_G: 'hello: world',
      APP_H: '0x1F',
      APP_I: '12345678901234567890',
    };
    const { value } = await envSource({ prefix: 'APP_', env }).load(loadCtx());
    assert.deepEqual(value, { a: 8080, b: true, c: null, d: 1.5, e: [1, 'x'], f: '', g: 'hello: world', h: 31, i: '12345678901234567890' });
  });

  test('with a schema: a number where it wants a number, the text where it wants a string (a password 0123 stays 0123)', async (t) => {
    const { source } = await layered(t, { APP_SERVER__PORT: '9090', APP_PASSWORD: '0123', APP_SERVER__HOST: 'true' });
    const r = createReloader({ source, schema });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.current().server, { port: 9090, host: 'true', maxConnections: 10 });
    assert.equal(r.current().password, '0123');
  });

  test('`${VAR}` alone in a file is typed the same way; inside other text it is text', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'port: ${PORT}\nsecret: "${PASS}"\nurl: http://h:${PORT}/\n');
    const env = { PORT: '8080', PASS: '123456' };
    assert.deepEqual((await fileSource(path, { env }).load(loadCtx())).value, { port: 8080, secret: 123456, url: 'http://h:8080/' });
    const r = createReloader({ source: fileSource(path, { env }), schema: z.object({ port: z.number(), secret: z.string(), url: z.string() }) });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.current(), { port: 8080, secret: '123456', url: 'http://h:8080/' });
  });

  test('a value the schema refuses both ways is reported as typed', async (t) => {
    const { source } = await layered(t, { APP_SERVER__PORT: 'eighty' });
    const r = createReloader({ source, schema });
    t.after(() => r.close());
    await assert.rejects(r.start(), /\$APP_SERVER__PORT: server\.port: Invalid input: expected number, received string/);
  });
});

describe('errors and changes name the layer that set the value', () => {
  test('a schema error on a value from the environment names the variable; from a fragment, its file:line:col', async (t) => {
    const env: Record<string, string | undefined> = { APP_LOG__LEVEL: 'loud' };
    const { source, confd } = await layered(t, env);
    const r = createReloader({ source, schema });
    t.after(() => r.close());
    await assert.rejects(r.start(), (err: Error) => {
      assert.match(err.message, /: schema validation failed: \$APP_LOG__LEVEL: log\.level: Invalid option/);
      return true;
    });
    env.APP_LOG__LEVEL = undefined;
    const fixed = createReloader({ source, schema });
    t.after(() => fixed.close());
    await fixed.start();
    await put(confd, '10-port.yaml', '# the port\nserver:\n  port: "8080"\n');
    const result = await fixed.reload();
    assert.equal(result.status, 'load_failed');
    assert.match(result.load_error!, new RegExp(`${join(confd, '10-port.yaml')}:3:9: server\\.port: Invalid input: expected number`));
  });

  test('a missing key points at its parent in the last file that has it, not at the variable that also set something under it', async (t) => {
    const { source, confd } = await layered(t, { APP_SERVER__HOST: 'env' });
    const r = createReloader({ source, schema: schema.extend({ server: schema.shape.server.extend({ tls: z.object({ cert: z.string() }) }) }) });
    t.after(() => r.close());
    await assert.rejects(
      r.start(),
      new RegExp(`failed: ${join(confd, '10-port.yaml')}:3:3: server\\.tls: Invalid input: expected object, received undefined$`),
    );
  });

  test('changed_from: the fragment, the variable, the base file', async (t) => {
    const env: Record<string, string | undefined> = {};
    const { source, base, confd } = await layered(t, env);
    const r = createReloader({ source, schema });
    t.after(() => r.close());
    await r.start();
    env.APP_LOG__LEVEL = 'warn';
    await put(confd, '10-port.yaml', 'server:\n  port: 8081\n');
    await put(base.replace(/base\.yaml$/, ''), 'base.yaml', 'server:\n  port: 80\n  host: other\n  maxConnections: 10\nbackends: [a, b]\nlog: {level: info}\n');
    const result = await r.reload();
    assert.equal(result.status, 'full_success', result.error);
    assert.deepEqual(result.changed_from, {
      'server.port': join(confd, '10-port.yaml'),
      'server.host': base,
      'log.level': '$APP_LOG__LEVEL',
    });
  });

  test('a layer that fails names itself: a file by its line, a custom source by its description', async (t) => {
    const { base, source: good } = await layered(t, {});
    await put(base.replace('base.yaml', ''), 'base.yaml', 'server: [\n');
    assert.match(await failure(good.load(loadCtx())), new RegExp(`^${base}:2:1: `));
    const custom: ConfigSource = {
      description: 'consul:app',
      load: () => Promise.reject(new Error('connection refused')),
    };
    assert.equal(await failure(layers([envSource({ prefix: 'APP_', env: {} }), custom]).load(loadCtx())), 'consul:app: connection refused');
    const notAMap: ConfigSource = { description: 'odd', load: async () => ({ value: [1], files: [] }) };
    assert.equal(await failure(layers([notAMap]).load(loadCtx())), 'odd: a layer must give a mapping of settings, not a list');
  });

  test('bad environment names are load errors naming the variable', async () => {
    const load = (env: Record<string, string>) => failure(envSource({ prefix: 'APP_', env }).load(loadCtx()));
    assert.equal(await load({ APP_SERVER: 'x', APP_SERVER__PORT: '1' }), 'environment variables APP_SERVER and APP_SERVER__PORT both set server');
    assert.equal(await load({ APP_A__B: '1', APP_A: 'x' }), 'environment variables APP_A and APP_A__B both set a');
    assert.equal(await load({ APP_SERVER____PORT: '1' }), 'environment variable APP_SERVER____PORT: an empty part between "__" separators');
    assert.equal(await load({ APP_: '1' }), 'environment variable APP_: names no setting');
    await assert.rejects(load({ APP_OK: '1' }));
  });

  test('bad options are OptionsErrors', () => {
    assert.throws(
      () => envSource({} as never),
      (e: unknown) => e instanceof OptionsError && /prefix must be a non-empty string/.test(e.message),
    );
    assert.throws(() => envSource({ prefix: 'A', separator: '' }), OptionsError);
    assert.throws(() => envSource({ prefix: 'A', sep: '_' } as never), /: envSource: unknown option "sep"/);
    assert.throws(() => layers([]), /layers needs a non-empty list of sources/);
    assert.throws(() => layers([{} as never]), /layers: sources\[0\] is not a source/);
    assert.throws(() => fileSource('/x.yaml', { optional: 'yes' as never }), /optional must be a boolean/);
  });
});

describe('signatures through layers', () => {
  test('ctx.verify reaches every file of every layer, with the bytes parsed', async (t) => {
    const { source, base, confd } = await layered(t, { APP_X: '1' });
    const seen: string[] = [];
    const verify: LoadContext['verify'] = (path) => void seen.push(path);
    await source.load(loadCtx({ verify }));
    assert.deepEqual(seen, [base, join(confd, '10-port.yaml')]);
    assert.equal(source.verifiesSignatures, true);
  });

  test('a layer that does not verify makes the whole unverifiable: a reloader requiring signatures refuses it', async (t) => {
    const dir = await tempDir(t);
    const base = await put(dir, 'base.yaml', 'a: 1\n');
    const custom: ConfigSource = { description: 'consul:app', load: async () => ({ value: {}, files: [] }) };
    const source = layers([fileSource(base), custom]);
    assert.equal(source.verifiesSignatures, false);
    const key = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n';
    assert.throws(
      () => createReloader({ source, signature: { publicKey: key } }),
      (e: unknown) => e instanceof OptionsError && /does not verify them/.test(e.message),
    );
  });
});

describe('watching layers', () => {
  test('triggers.watch watches every file layer: an edit in the base file and one in conf.d each make one pass', async (t) => {
    const { source, base, confd } = await layered(t, { APP_LOG__LEVEL: 'debug' });
    const r = createReloader({ source, schema, triggers: { watch: { debounceMs: 20 } } });
    t.after(() => r.close());
    await r.start();
    await atomicSave(join(confd, '10-port.yaml'), 'server:\n  port: 8081\n');
    await waitFor(() => r.current().server.port === 8081, 'the conf.d edit applied');
    await atomicSave(base, 'server:\n  port: 80\n  host: edited\n  maxConnections: 10\nbackends: [a]\nlog: {level: info}\n');
    await waitFor(() => r.current().server.host === 'edited', 'the base edit applied');
    const passes = r.history().filter((h) => h.status === 'full_success');
    assert.deepEqual(
      passes.map((h) => [h.trigger, h.changed_from]),
      [
        ['watch', { 'server.port': join(confd, '10-port.yaml') }],
        ['watch', { 'server.host': base }],
      ],
    );
    // backends[1] was removed: it is in changed, with no layer to name.
    assert.deepEqual(passes[1]!.changed.sort(), ['backends[1]', 'server.host']);
    // The environment still wins over the base file's new level.
    assert.equal(r.current().log.level, 'debug');
  });
});
