// Schema errors say where the value is written: `file:line:col: path:
// message`, and for a missing key where its parent is. Real files, real
// zod schemas, through createReloader as a service would see them.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { z } from 'zod';
import { createReloader, dirSource, fileSource, type ConfigSource, type LoadedConfig } from '../../src/index.js';
import { jsonValueOffset } from '../../src/sources/json.js';
import { positionFinder } from '../../src/sources/positions.js';
import { put, tempDir } from './tmp.js';

const schema = z.object({
  server: z.object({ port: z.number().int(), host: z.string() }),
  backends: z.array(z.object({ url: z.string() })).default([]),
});

/** The load_error of a reload after the file(s) went bad (start on a good config first). */
async function refusal(t: TestContext, source: ConfigSource, write: () => Promise<unknown>): Promise<string> {
  const r = createReloader({ source, schema });
  t.after(() => r.close());
  await r.start();
  await write();
  const result = await r.reload();
  assert.equal(result.status, 'load_failed');
  return result.load_error!;
}

const good = { yaml: 'server:\n  port: 80\n  host: a\n', json: '{"server": {"port": 80, "host": "a"}}', toml: '[server]\nport = 80\nhost = "a"\n' };

describe('schema errors with their line', () => {
  test('YAML: a wrong type points at the value; a missing key at its parent; a list item at the item', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'config.yaml', good.yaml);
    const message = await refusal(t, fileSource(path), () =>
      put(dir, 'config.yaml', '# service\nserver:\n  port: eighty\nbackends:\n  - url: http://a\n  - url: 42\n'),
    );
    assert.equal(
      message,
      `${path}: schema validation failed: ` +
        `${path}:3:9: server.port: Invalid input: expected number, received string; ` +
        `${path}:3:3: server.host: Invalid input: expected string, received undefined; ` +
        `${path}:6:10: backends[1].url: Invalid input: expected string, received number`,
    );
  });

  test('YAML: a value from an alias or a `<<` merge points where it is written', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'config.yaml', good.yaml);
    const message = await refusal(t, fileSource(path), () => put(dir, 'config.yaml', 'defaults: &d\n  port: "80"\n  host: a\nserver:\n  <<: *d\n'));
    assert.match(message, new RegExp(`${path}:2:9: server\\.port: Invalid input: expected number`));
  });

  test('a missing top-level key points at the start of the document', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'config.yaml', good.yaml);
    const message = await refusal(t, fileSource(path), () => put(dir, 'config.yaml', '\n\nbackends: []\n'));
    assert.match(message, new RegExp(`: ${path}:3:1: server: Invalid input: expected object, received undefined$`));
  });

  test('JSON: positions of nested values and list items', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'config.json', good.json);
    const message = await refusal(t, fileSource(path), () =>
      put(dir, 'config.json', '{\n  "server": {"port": "80",\n    "host": "a"},\n  "backends": [{"url": "x"}, {"url": 1}]\n}\n'),
    );
    assert.match(message, new RegExp(`${path}:2:22: server\\.port: .*; ${path}:4:38: backends\\[1\\]\\.url: `));
  });

  test('TOML: tables, dotted keys, arrays of tables; inside an inline table, its key', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'config.toml', good.toml);
    const message = await refusal(t, fileSource(path), () =>
      put(
        dir,
        'config.toml',
        'title = """\n[server]\nport = 1\n"""\n\n[server]\nhost = "a"\nport = "80"\n\n[[backends]]\nurl = "x"\n\n[[backends]]\nurl = 2\n',
      ),
    );
    assert.match(message, new RegExp(`${path}:8:8: server\\.port: .*; ${path}:14:7: backends\\[1\\]\\.url: `));
    await put(dir, 'config.toml', good.toml);
    const inline = await refusal(t, fileSource(path), () => put(dir, 'config.toml', 'server.host = "a"\nserver.port = [\n  1,\n]\n'));
    assert.match(inline, new RegExp(`${path}:2:15: server\\.port: `));
  });

  test('dirSource: the fragment that set the value, or for a missing key the last fragment with its parent', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-base.yaml', good.yaml);
    const message = await refusal(t, dirSource(dir), async () => {
      await put(dir, '10-base.yaml', 'server:\n  port: 80\n');
      await put(dir, '20-port.yaml', '# override\nserver:\n  port: "8080"\n');
    });
    const base = `${dir}/10-base.yaml`;
    const port = `${dir}/20-port.yaml`;
    assert.match(message, new RegExp(`^${dir}/\\*\\.\\{yaml,yml,json,toml\\}: schema validation failed: `));
    assert.match(message, new RegExp(`${port}:3:9: server\\.port: Invalid input: expected number`));
    assert.match(message, new RegExp(`${port}:3:3: server\\.host: Invalid input: expected string`));
    assert.doesNotMatch(message, new RegExp(base));
  });

  test('a source without locate, or whose locate throws, gives the message without positions', async (t) => {
    for (const locate of [undefined, () => assert.fail('a bug in the source')]) {
      const source: ConfigSource = {
        description: 'custom',
        load: async (): Promise<LoadedConfig> => ({ value: { server: { port: 'x', host: 'a' } }, files: [], ...(locate ? { locate } : {}) }),
      };
      const r = createReloader({ source, schema });
      t.after(() => r.close());
      await assert.rejects(r.start(), /custom: schema validation failed: server\.port: Invalid input: expected number, received string/);
    }
  });

  test('locate is called only when validation fails', async (t) => {
    let calls = 0;
    let value: unknown = { server: { port: 1, host: 'a' } };
    const source: ConfigSource = {
      description: 'custom',
      load: async () => ({ value, files: [], locate: (path) => `custom:${++calls}:${path.join('.')}` }),
    };
    const r = createReloader({ source, schema });
    t.after(() => r.close());
    await r.start();
    assert.equal((await r.reload()).status, 'full_success');
    assert.equal(calls, 0);
    value = { server: { port: 'x', host: 'a' } };
    assert.match((await r.reload()).load_error!, /schema validation failed: custom:1:server\.port: server\.port: /);
  });

  test('at most 50 issues are located; the rest are listed as before', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'many.yaml', 'v: ["1"]\n');
    const r = createReloader({ source: fileSource(path), schema: z.object({ v: z.array(z.string()) }) });
    t.after(() => r.close());
    await r.start();
    await put(dir, 'many.yaml', `v: [${Array.from({ length: 60 }, (_, i) => i).join(', ')}]\n`);
    const issues = (await r.reload()).load_error!.split('; ');
    assert.equal(issues.length, 60);
    assert.equal(issues.filter((i) => i.includes(`${path}:1:`)).length, 50);
    assert.match(issues[59]!, /^v\[59\]: Invalid input: expected string/);
  });
});

describe('position lookups', () => {
  test('JSON: the value at a path, -1 when it is not there', () => {
    const text = '{"a": [1, {"b": "x"}], "c": {"": null}, "e\\u0021": true}';
    assert.equal(jsonValueOffset(text, []), 0);
    assert.equal(text.slice(jsonValueOffset(text, ['a', 1, 'b'])), '"x"}], "c": {"": null}, "e\\u0021": true}');
    assert.equal(text.slice(jsonValueOffset(text, ['c', ''])).slice(0, 4), 'null');
    assert.equal(text.slice(jsonValueOffset(text, ['e!'])).slice(0, 4), 'true');
    assert.equal(jsonValueOffset(text, ['a', 2]), -1);
    assert.equal(jsonValueOffset(text, ['z']), -1);
  });

  test('TOML: multi-line strings and arrays do not shift what follows; quoted keys and arrays of tables inside tables', () => {
    const text = [
      'a = """',
      'b = 1',
      '"""',
      "list = ['[', ']', '{',", // an array over two lines whose strings hold brackets
      '  "x"]',
      '[t."quoted.key"]',
      "'lit' = 1 # comment [",
      '[[t.arr]]',
      'x = 1',
      '[[t.arr]]',
      'x = 2',
      '[t.arr.sub]',
      'y = 3',
    ].join('\n');
    const find = positionFinder(text, 'toml');
    assert.deepEqual(find(['b']), { line: 1, col: 1 }, 'not a key: inside a string');
    assert.deepEqual(find(['list']), { line: 4, col: 8 });
    assert.deepEqual(find(['t', 'quoted.key', 'lit']), { line: 7, col: 9 });
    assert.deepEqual(find(['t', 'arr', 0, 'x']), { line: 9, col: 5 });
    assert.deepEqual(find(['t', 'arr', 1, 'x']), { line: 11, col: 5 });
    assert.deepEqual(find(['t', 'arr', 1, 'sub', 'y']), { line: 13, col: 5 });
    assert.deepEqual(find(['t', 'arr', 1, 'missing']), { line: 10, col: 1 });
  });
});
