import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileSource } from '../../src/index.js';
import { failure, loadCtx, put, tempDir } from './tmp.js';

describe('${VAR} expansion', () => {
  test('expands string values from a given record, in nested objects and lists', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'db:\n  url: "postgres://${DB_HOST}:${DB_PORT}/app"\nhosts: ["${A}", plain, "x-${A}-y"]\nport: 5432\n');
    const { value } = await fileSource(path, { env: { DB_HOST: 'db.internal', DB_PORT: '6543', A: 'one' } }).load(loadCtx());
    assert.deepEqual(value, { db: { url: 'postgres://db.internal:6543/app' }, hosts: ['one', 'plain', 'x-one-y'], port: 5432 });
  });

  test('env: true reads process.env at each load', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.json', '{"who": "${RELOADKIT_TEST_WHO}"}');
    const src = fileSource(path, { env: true });
    process.env.RELOADKIT_TEST_WHO = 'first';
    t.after(() => delete process.env.RELOADKIT_TEST_WHO);
    assert.deepEqual((await src.load(loadCtx())).value, { who: 'first' });
    process.env.RELOADKIT_TEST_WHO = 'second';
    assert.deepEqual((await src.load(loadCtx())).value, { who: 'second' });
  });

  test('works for TOML too', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.toml', '[server]\nhost = "${HOST}"\n');
    assert.deepEqual((await fileSource(path, { env: { HOST: 'h' } }).load(loadCtx())).value, { server: { host: 'h' } });
  });

  test('without env, ${VAR} stays literal', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "${HOME}"\n');
    assert.deepEqual((await fileSource(path).load(loadCtx())).value, { a: '${HOME}' });
  });

  test('keys are never expanded', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', '"${K}": v\n');
    assert.deepEqual((await fileSource(path, { env: { K: 'x' } }).load(loadCtx())).value, { '${K}': 'v' });
  });
});

describe('unset variables', () => {
  test('an unset variable names the variable, the file and the dotted path', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'backends:\n  - name: a\n    url: "${BACKEND_URL}"\n');
    assert.equal(
      await failure(fileSource(path, { env: {} }).load(loadCtx())),
      `${path}: environment variable BACKEND_URL is not set (used at backends[0].url)`,
    );
  });

  test('every unset variable is listed', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "${ONE}"\nb:\n  "odd.key": "${TWO}"\n');
    const message = await failure(fileSource(path, { env: { OTHER: 'x' } }).load(loadCtx()));
    assert.equal(message, `${path}: environment variable ONE is not set (used at a); environment variable TWO is not set (used at b["odd.key"])`);
  });

  test('a record entry that is undefined counts as unset', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "${GONE}"\n');
    assert.match(await failure(fileSource(path, { env: { GONE: undefined } }).load(loadCtx())), /GONE is not set/);
  });

  test('an empty variable is set (expands to "")', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "x${EMPTY}y"\n');
    assert.deepEqual((await fileSource(path, { env: { EMPTY: '' } }).load(loadCtx())).value, { a: 'xy' });
  });
});

describe('defaults and escapes', () => {
  test('${VAR:-default} uses the default when unset or empty', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "${UNSET:-fallback}"\nb: "${EMPTY:-fb}"\nc: "${SET:-unused}"\nd: "${UNSET:-}"\n');
    const { value } = await fileSource(path, { env: { EMPTY: '', SET: 'yes' } }).load(loadCtx());
    assert.deepEqual(value, { a: 'fallback', b: 'fb', c: 'yes', d: '' });
  });

  test('$${ is a literal ${; lone $ and $NAME stay as written', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "$${HOME}"\nb: "cost: $5, $HOME"\nc: "$$${X}"\n');
    const { value } = await fileSource(path, { env: { X: 'x' } }).load(loadCtx());
    assert.deepEqual(value, { a: '${HOME}', b: 'cost: $5, $HOME', c: '$${X}' });
  });

  test('expanded text is never expanded again', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: "${OUTER}"\n');
    const { value } = await fileSource(path, { env: { OUTER: '${INNER}', INNER: 'leak' } }).load(loadCtx());
    assert.deepEqual(value, { a: '${INNER}' });
  });

  test('a malformed reference is an error, not left in place, and the value is not echoed', async (t) => {
    const dir = await tempDir(t);
    const unterminated = await put(dir, 'u.yaml', 'password: "abc${xyz-secret"\n');
    const m1 = await failure(fileSource(unterminated, { env: {} }).load(loadCtx()));
    assert.equal(m1, `${unterminated}: unterminated \${ at password (write $\${ for a literal \${)`);
    const badName = await put(dir, 'b.yaml', 'a: "${not valid}"\n');
    assert.match(await failure(fileSource(badName, { env: {} }).load(loadCtx())), /b\.yaml: invalid \$\{…\} reference at a/);
  });
});

describe('injection', () => {
  test('a value with a newline and YAML syntax stays one string and adds no keys', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'user: "${USER_NAME}"\nadmin: false\n');
    const evil = 'bob"\nadmin: true\nextra: 1 #';
    const { value } = await fileSource(path, { env: { USER_NAME: evil } }).load(loadCtx());
    assert.deepEqual(value, { user: evil, admin: false });
  });

  test('a value with JSON syntax stays one string in a JSON file', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.json', '{"user": "${U}", "admin": false}');
    const evil = '", "admin": true, "x": "';
    assert.deepEqual((await fileSource(path, { env: { U: evil } }).load(loadCtx())).value, { user: evil, admin: false });
  });

  test('an aliased YAML string is expanded once per place it appears', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'a: &x "$${LITERAL}"\nb: *x\n');
    // Expanding a shared value twice would turn the literal ${LITERAL} into a lookup.
    const { value } = await fileSource(path, { env: { LITERAL: 'boom' } }).load(loadCtx());
    assert.deepEqual(value, { a: '${LITERAL}', b: '${LITERAL}' });
  });
});
