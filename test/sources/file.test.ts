import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileSource } from '../../src/index.js';
import { failure, loadCtx, put, tempDir } from './tmp.js';

const SECRET = 'hunter2-s3cr3t-value';

describe('each format parses', () => {
  test('YAML, JSON and TOML give the same plain data', async (t) => {
    const dir = await tempDir(t);
    const yaml = await put(dir, 'c.yaml', 'server:\n  port: 8080\n  hosts: [a, b]\nname: app\ndebug: false\nratio: 0.5\nnothing: null\n');
    const json = await put(dir, 'c.json', '{"server": {"port": 8080, "hosts": ["a", "b"]}, "name": "app", "debug": false, "ratio": 0.5, "nothing": null}');
    const toml = await put(dir, 'c.toml', 'name = "app"\ndebug = false\nratio = 0.5\n[server]\nport = 8080\nhosts = ["a", "b"]\n');
    const expected = { server: { port: 8080, hosts: ['a', 'b'] }, name: 'app', debug: false, ratio: 0.5 };
    for (const path of [yaml, json, toml]) {
      const loaded = await fileSource(path).load(loadCtx());
      const value = loaded.value as Record<string, unknown>;
      const { nothing, ...rest } = value;
      assert.deepEqual(rest, expected, path);
      if (!path.endsWith('.toml')) assert.equal(nothing, null);
      // Plain objects (TOML's parser makes null-prototype ones).
      assert.equal(Object.getPrototypeOf(value), Object.prototype);
      assert.equal(Object.getPrototypeOf(value.server), Object.prototype);
    }
  });

  test('.yml is YAML and extensions are case-insensitive', async (t) => {
    const dir = await tempDir(t);
    const a = await put(dir, 'a.yml', 'x: 1\n');
    const b = await put(dir, 'b.YAML', 'x: 2\n');
    assert.deepEqual((await fileSource(a).load(loadCtx())).value, { x: 1 });
    assert.deepEqual((await fileSource(b).load(loadCtx())).value, { x: 2 });
  });

  test('TOML dates become their TOML text; YAML timestamps stay strings', async (t) => {
    const dir = await tempDir(t);
    const toml = await put(dir, 'd.toml', 'at = 1979-05-27T07:32:00Z\nday = 1979-05-27\ntime = 07:32:00\n');
    assert.deepEqual((await fileSource(toml).load(loadCtx())).value, {
      at: '1979-05-27T07:32:00.000Z',
      day: '1979-05-27',
      time: '07:32:00.000',
    });
    const yaml = await put(dir, 'd.yaml', 'day: 2001-12-14\n');
    assert.deepEqual((await fileSource(yaml).load(loadCtx())).value, { day: '2001-12-14' });
  });

  test('a __proto__ key stays an ordinary key in every format', async (t) => {
    const dir = await tempDir(t);
    const files = [
      await put(dir, 'p.yaml', '__proto__:\n  polluted: true\n'),
      await put(dir, 'p.json', '{"__proto__": {"polluted": true}}'),
      await put(dir, 'p.toml', '[__proto__]\npolluted = true\n'),
    ];
    for (const path of files) {
      const value = (await fileSource(path).load(loadCtx())).value as Record<string, unknown>;
      assert.ok(Object.hasOwn(value, '__proto__'), path);
      assert.equal(Object.getPrototypeOf(value), Object.prototype);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    }
  });

  test('YAML merge keys (<<) merge, as operators write them', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'm.yaml', 'base: &base {timeout: 5, retries: 3}\nsvc:\n  <<: *base\n  retries: 9\n');
    assert.deepEqual((await fileSource(path).load(loadCtx())).value, {
      base: { timeout: 5, retries: 3 },
      svc: { timeout: 5, retries: 9 },
    });
  });

  test('a UTF-8 byte order mark is ignored', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'bom.json', '\ufeff{"a": 1}');
    assert.deepEqual((await fileSource(path).load(loadCtx())).value, { a: 1 });
  });

  test('files[] has the absolute path, size and SHA-256 of the bytes read', async (t) => {
    const dir = await tempDir(t);
    const text = 'a: 1\n';
    const path = await put(dir, 'f.yaml', text);
    const loaded = await fileSource(path).load(loadCtx());
    assert.deepEqual(loaded.files, [{ path, size: 5, sha256: createHash('sha256').update(text).digest('hex') }]);
  });
});

describe('format by extension and by option', () => {
  test('the format option overrides the extension', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'app.conf', 'a = 1\n');
    const src = fileSource(path, { format: 'toml' });
    assert.equal(src.format, 'toml');
    assert.deepEqual((await src.load(loadCtx())).value, { a: 1 });
    // JSON content in a .yaml-named file parsed as JSON: JSON rules (duplicate check) apply.
    const asJson = await put(dir, 'x.yaml', '{"a": 1, "a": 2}');
    assert.match(await failure(fileSource(asJson, { format: 'json' }).load(loadCtx())), /x\.yaml:1:10: duplicate key/);
  });

  test('an unknown extension without format fails at construction', () => {
    assert.throws(() => fileSource('/etc/app/config.conf'), /cannot tell the format of \/etc\/app\/config\.conf.*\.yaml, \.yml, \.json or \.toml/);
    assert.throws(() => fileSource('/etc/app/config'), /cannot tell the format/);
  });

  test('bad options fail at construction with a clear error', () => {
    assert.throws(() => fileSource('c.yaml', { format: 'ini' as 'yaml' }), /unknown format "ini"/);
    assert.throws(() => fileSource(''), /needs a path/);
    assert.throws(() => fileSource('c.yaml', { maxBytes: 0 }), /maxBytes must be a positive integer/);
    assert.throws(() => fileSource('c.yaml', { env: 'yes' as unknown as boolean }), /env must be/);
  });

  test('description and watchSpecs name the absolute path', () => {
    const src = fileSource('relative/config.yaml');
    assert.equal(src.description, join(process.cwd(), 'relative/config.yaml'));
    assert.deepEqual(src.watchSpecs(), [{ path: join(process.cwd(), 'relative/config.yaml') }]);
    assert.equal(src.verifiesSignatures, true);
  });
});

describe('parse errors say file:line:col and never quote the line', () => {
  const cases = [
    { name: 'bad.yaml', text: `a: 1\nb: [1, 2\npassword: ${SECRET}\n`, where: ':3:1: ' },
    { name: 'bad.json', text: `{\n  "a": 1,\n  "password": "${SECRET}" x\n}\n`, where: ':3:38: ' },
    { name: 'bad.toml', text: `a = 1\npassword = "${SECRET}" x\n`, where: ':2:35: ' },
  ];
  for (const c of cases) {
    test(c.name, async (t) => {
      const dir = await tempDir(t);
      const path = await put(dir, c.name, c.text);
      const message = await failure(fileSource(path).load(loadCtx()));
      assert.ok(message.startsWith(`${path}${c.where}`), message);
      assert.ok(!message.includes(SECRET), message);
      assert.ok(!message.includes('\n'), 'one line, no code frame');
    });
  }

  test('JSON errors V8 reports without a position still get line:col', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'tok.json', `{\n  "token": "${SECRET}",\n  "x": tru\n}`);
    const message = await failure(fileSource(path).load(loadCtx()));
    assert.equal(message, `${path}:3:8: unexpected character`);
  });

  test('a YAML block scalar header with text after it is not echoed', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'b.yaml', `password: |${SECRET}\n  x\n`);
    const message = await failure(fileSource(path).load(loadCtx()));
    assert.match(message, /b\.yaml:1:\d+: block scalar header/);
    assert.ok(!message.includes(SECRET), message);
  });

  test('a bad YAML escape is not echoed', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'e.yaml', 'password: "ab\\qcd"\n');
    const message = await failure(fileSource(path).load(loadCtx()));
    assert.match(message, /e\.yaml:1:\d+: invalid escape sequence/);
    assert.ok(!message.includes('\\q'), message);
  });
});

describe('YAML strictness', () => {
  test('duplicate keys are an error', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'd.yaml', 'a: 1\nb: 2\na: 3\n');
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}:3:1: duplicate key`);
  });

  test('several documents in one file are an error', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'm.yaml', 'a: 1\n---\nb: 2\n');
    assert.match(await failure(fileSource(path).load(loadCtx())), /m\.yaml:2:1: more than one YAML document/);
  });

  test('one document with a leading --- is fine', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'one.yaml', '---\na: 1\n');
    assert.deepEqual((await fileSource(path).load(loadCtx())).value, { a: 1 });
  });

  test('unknown tags (!include, !!binary) are errors, not silent strings', async (t) => {
    const dir = await tempDir(t);
    const inc = await put(dir, 'i.yaml', 'a: 1\nb: !include other.yaml\n');
    assert.equal(await failure(fileSource(inc).load(loadCtx())), `${inc}:2:4: unsupported YAML tag`);
    const bin = await put(dir, 'bin.yaml', 'a: !!binary aGVsbG8=\n');
    assert.match(await failure(fileSource(bin).load(loadCtx())), /bin\.yaml:1:4: unsupported YAML tag/);
    const str = await put(dir, 's.yaml', 'a: !!str 5\n');
    assert.deepEqual((await fileSource(str).load(loadCtx())).value, { a: '5' });
  });

  test('collection keys are an error', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'k.yaml', 'a: 1\n? [x, y]\n: 2\n');
    assert.match(await failure(fileSource(path).load(loadCtx())), /k\.yaml:2:3: keys must be scalars/);
  });

  test('an alias to an undefined anchor is an error with its position', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'al.yaml', 'a: 1\nb: *nope\n');
    assert.match(await failure(fileSource(path).load(loadCtx())), /al\.yaml:2:4: alias to an anchor that is not defined/);
  });

  test('an alias bomb ("billion laughs") is refused with a clear error', async (t) => {
    const dir = await tempDir(t);
    const lines = ['l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
    for (let i = 1; i <= 9; i += 1)
      lines.push(
        `l${i}: &l${i} [${Array(9)
          .fill(`*l${i - 1}`)
          .join(', ')}]`,
      );
    const path = await put(dir, 'bomb.yaml', `${lines.join('\n')}\n`);
    // 9^10 ≈ 3.5 billion strings if expanded: finishing at all proves it was refused early.
    assert.match(await failure(fileSource(path).load(loadCtx())), /bomb\.yaml: YAML aliases expand too much/);
  });

  test('ordinary aliases work', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'ok.yaml', 'x: &v [1, 2]\ny: *v\n');
    assert.deepEqual((await fileSource(path).load(loadCtx())).value, { x: [1, 2], y: [1, 2] });
  });
});

describe('the top level must be a mapping', () => {
  const cases: [string, string, RegExp][] = [
    ['list.yaml', '- a\n- b\n', /not a list/],
    ['scalar.yaml', 'just text\n', /not a string/],
    ['null.yaml', '~\n', /not null/],
    ['arr.json', '[1, 2]', /not a list/],
    ['num.json', '42', /not a number/],
  ];
  for (const [name, text, expected] of cases) {
    test(name, async (t) => {
      const dir = await tempDir(t);
      const path = await put(dir, name, text);
      const message = await failure(fileSource(path).load(loadCtx()));
      assert.ok(message.startsWith(`${path}: the top level must be a mapping`), message);
      assert.match(message, expected);
    });
  }

  test('a YAML file with only comments is empty', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', '# nothing here yet\n');
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: file is empty (only comments)`);
  });
});

describe('empty and whitespace-only files', () => {
  for (const [name, text] of [
    ['empty.yaml', ''],
    ['blank.json', '  \n\t\n'],
    ['blank.toml', '\n\n'],
  ] as const) {
    test(`${name} fails as empty, never an empty config`, async (t) => {
      const dir = await tempDir(t);
      const path = await put(dir, name, text);
      assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: file is empty`);
    });
  }
});

describe('binary garbage', () => {
  test('invalid UTF-8 is a clear error with its position', async (t) => {
    const dir = await tempDir(t);
    const bytes = Buffer.concat([Buffer.from('a: 1\nb: x'), Buffer.from([0xff, 0xfe, 0x00, 0x81, 0xc3]), Buffer.from('\n')]);
    const path = await put(dir, 'bin.yaml', bytes);
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}:2:5: not valid UTF-8 text (binary file?)`);
  });

  test('NUL bytes in valid UTF-8 are refused', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'nul.json', '{"a": "x\0y"}');
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}:1:9: contains a NUL byte (binary file?)`);
  });

  test('random bytes never crash the loader', async (t) => {
    const dir = await tempDir(t);
    for (let seed = 1; seed <= 20; seed += 1) {
      const bytes = Buffer.alloc(512);
      let x = seed;
      for (let i = 0; i < bytes.length; i += 1) {
        x = (x * 1103515245 + 12345) % 2 ** 31;
        bytes[i] = x & 0xff;
      }
      for (const ext of ['yaml', 'json', 'toml']) {
        const path = await put(dir, `r${seed}.${ext}`, bytes);
        const message = await failure(fileSource(path).load(loadCtx()));
        assert.ok(message.startsWith(path), message);
      }
    }
  });
});

describe('files that cannot be read', () => {
  test('a missing file', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'nope.yaml');
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: file not found`);
  });

  test('a missing parent directory and a file used as a directory', async (t) => {
    const dir = await tempDir(t);
    assert.equal(await failure(fileSource(join(dir, 'no/c.yaml')).load(loadCtx())), `${join(dir, 'no/c.yaml')}: file not found`);
    await put(dir, 'plain', 'x');
    const under = join(dir, 'plain/c.yaml');
    assert.match(await failure(fileSource(under).load(loadCtx())), /plain\/c\.yaml: not found \(a parent path is not a directory\)/);
  });

  test('a directory where a file is expected', async (t) => {
    const dir = await tempDir(t);
    const path = join(dir, 'conf.yaml');
    await mkdir(path);
    assert.equal(await failure(fileSource(path).load(loadCtx())), `${path}: is a directory, expected a file`);
  });
});

// A reload of unchanged bytes reuses the last parse (see ParseMemo): what a
// caller gets must still be fresh, expanded again, and never stale.
describe('loading the same bytes again', () => {
  test('gives an equal but separate value: changing one load result never reaches the next', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'server:\n  hosts: [a, b]\n');
    const src = fileSource(path);
    type Value = { server: { hosts: string[] } };
    const results: Value[] = [];
    for (let i = 0; i < 3; i += 1) {
      const value = (await src.load(loadCtx())).value as Value;
      assert.deepEqual(value, { server: { hosts: ['a', 'b'] } }, `load ${i + 1}`);
      for (const earlier of results) assert.notEqual(value.server, earlier.server);
      value.server.hosts.push('mutated');
      results.push(value);
    }
  });

  test('expands ${VAR} again on every load', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'url: "http://${RK_MEMO_HOST}/"\n');
    const src = fileSource(path, { env: true });
    t.after(() => delete process.env.RK_MEMO_HOST);
    process.env.RK_MEMO_HOST = 'one';
    assert.deepEqual((await src.load(loadCtx())).value, { url: 'http://one/' });
    process.env.RK_MEMO_HOST = 'two';
    assert.deepEqual((await src.load(loadCtx())).value, { url: 'http://two/' });
  });

  test('new bytes of the same size are parsed again, and going back to old bytes gives the old value', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'x: 1\n');
    const src = fileSource(path);
    assert.deepEqual((await src.load(loadCtx())).value, { x: 1 });
    await put(dir, 'c.yaml', 'x: 2\n');
    assert.deepEqual((await src.load(loadCtx())).value, { x: 2 });
    await put(dir, 'c.yaml', 'x: 1\n');
    assert.deepEqual((await src.load(loadCtx())).value, { x: 1 });
  });

  test('a file broken after a good load fails; the good bytes again load', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'c.yaml', 'x: 1\n');
    const src = fileSource(path);
    await src.load(loadCtx());
    await put(dir, 'c.yaml', 'x: [1\n');
    assert.match(await failure(src.load(loadCtx())), /c\.yaml:\d+:\d+/);
    await put(dir, 'c.yaml', 'x: 1\n');
    assert.deepEqual((await src.load(loadCtx())).value, { x: 1 });
  });
});
