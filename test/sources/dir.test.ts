import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createReloader, dirSource, fileSource } from '../../src/index.js';
import { failure, loadCtx, loadMany, put, startChurner, tempDir } from './tmp.js';

describe('merge order', () => {
  test('fragments merge in name order; later scalars win', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '20-site.yaml', 'level: site\nonly20: true\n');
    await put(dir, '10-base.json', '{"level": "base", "only10": true}');
    await put(dir, '30-local.toml', 'level = "local"\n');
    const loaded = await dirSource(dir).load(loadCtx());
    assert.deepEqual(loaded.value, { level: 'local', only10: true, only20: true });
    assert.deepEqual(
      loaded.files.map((f) => f.path),
      ['10-base.json', '20-site.yaml', '30-local.toml'].map((n) => join(dir, n)),
    );
  });

  test('order is by code unit, not locale or number (zero-pad prefixes)', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '9-a.yaml', 'v: nine\n');
    await put(dir, '10-a.yaml', 'v: ten\n');
    await put(dir, 'B.yaml', 'w: upper\n');
    await put(dir, 'a.yaml', 'w: lower\n');
    // "10-a" < "9-a" and "B" < "a": the last of each pair wins.
    assert.deepEqual((await dirSource(dir).load(loadCtx())).value, { v: 'nine', w: 'lower' });
  });
});

describe('deep merge', () => {
  test('objects merge key by key at every depth', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'server:\n  port: 80\n  tls:\n    cert: a.pem\n    key: a.key\n');
    await put(dir, '2.yaml', 'server:\n  tls:\n    cert: b.pem\n  host: example\n');
    assert.deepEqual((await dirSource(dir).load(loadCtx())).value, {
      server: { port: 80, tls: { cert: 'b.pem', key: 'a.key' }, host: 'example' },
    });
  });

  test('arrays are replaced, not concatenated', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'backends: [a, b, c]\n');
    await put(dir, '2.yaml', 'backends: [z]\n');
    assert.deepEqual((await dirSource(dir).load(loadCtx())).value, { backends: ['z'] });
  });

  test('a scalar or null replaces an object, and an object replaces a scalar', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'a: {x: 1}\nb: 5\nc: {y: 1}\n');
    await put(dir, '2.yaml', 'a: off\nb: {z: 2}\nc: null\n');
    assert.deepEqual((await dirSource(dir).load(loadCtx())).value, { a: 'off', b: { z: 2 }, c: null });
  });

  test('a __proto__ key in a fragment merges as a plain key', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.json', '{"__proto__": {"polluted": 1}}');
    await put(dir, '2.json', '{"__proto__": {"more": 2}}');
    const value = (await dirSource(dir).load(loadCtx())).value as Record<string, unknown>;
    assert.deepEqual(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: 1, more: 2 });
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('a removed fragment', () => {
  test('its settings are gone on the next load (each load starts from scratch)', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-base.yaml', 'a: 1\nnested: {keep: 1}\n');
    const extra = await put(dir, '20-extra.yaml', 'b: 2\nnested: {extra: 1}\n');
    const src = dirSource(dir);
    assert.deepEqual((await src.load(loadCtx())).value, { a: 1, b: 2, nested: { keep: 1, extra: 1 } });
    await rm(extra);
    const after = await src.load(loadCtx());
    assert.deepEqual(after.value, { a: 1, nested: { keep: 1 } });
    assert.equal(after.files.length, 1);
  });
});

describe('what counts as a fragment', () => {
  test('unrelated files, dotfiles, editor temp files and subdirectories are ignored', async (t) => {
    const dir = await tempDir(t);
    await put(dir, 'app.yaml', 'a: 1\n');
    await put(dir, 'README.md', '# not config: [');
    await put(dir, 'app.yaml~', 'a: [broken');
    await put(dir, '.app.yaml.swp', '\0\0binary');
    await put(dir, '.hidden.yaml', 'a: hidden\n');
    await mkdir(join(dir, 'sub.yaml'));
    await put(join(dir, 'sub.yaml'), 'deep.yaml', 'a: deep\n');
    assert.deepEqual((await dirSource(dir).load(loadCtx())).value, { a: 1 });
  });

  test('a custom pattern selects fragments', async (t) => {
    const dir = await tempDir(t);
    await put(dir, 'a.json', '{"from": "json"}');
    await put(dir, 'b.yaml', 'from: yaml\n');
    assert.deepEqual((await dirSource(dir, { pattern: '*.json' }).load(loadCtx())).value, { from: 'json' });
  });

  test('a pattern matching a name with an unknown extension is a load error naming the file', async (t) => {
    const dir = await tempDir(t);
    const conf = await put(dir, 'x.conf', 'a = 1\n');
    assert.match(await failure(dirSource(dir, { pattern: '*' }).load(loadCtx())), new RegExp(`^${conf}: cannot tell the format`));
  });

  test('symlinked fragments (Kubernetes ConfigMap layout) load; a dangling one is an error', async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, '..2024_01_01'));
    await put(join(dir, '..2024_01_01'), 'app.yaml', 'a: 1\n');
    await symlink('..2024_01_01', join(dir, '..data'));
    await symlink('..data/app.yaml', join(dir, 'app.yaml'));
    assert.deepEqual((await dirSource(dir).load(loadCtx())).value, { a: 1 });
    await symlink('..data/gone.yaml', join(dir, 'gone.yaml'));
    // Waited out first (~2 s): during a ConfigMap update a link dangles briefly.
    assert.equal(await failure(dirSource(dir).load(loadCtx())), `${join(dir, 'gone.yaml')}: file not found (dangling symbolic link)`);
  });

  test('watchSpecs watch the directory for matching names and the ConfigMap ..data swap', () => {
    const src = dirSource('/etc/app/conf.d');
    const [spec] = src.watchSpecs();
    assert.equal(spec!.path, '/etc/app/conf.d');
    assert.equal(spec!.recursive, undefined);
    assert.ok(spec!.filter!('10-x.yaml'));
    assert.ok(spec!.filter!('..data'));
    assert.ok(!spec!.filter!('x.yaml.swp'));
    assert.ok(!spec!.filter!('notes.txt'));
    assert.equal(src.description, '/etc/app/conf.d/*.{yaml,yml,json,toml}');
  });
});

describe('fragments appearing and vanishing during loads', () => {
  test('a real process adding and removing a fragment: every load is a whole set, never a mix', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-base.yaml', 'base: 1\nshared: {from: base}\n');
    // Creates 50-extra.yaml by rename, then removes it, over and over, holding
    // each state 0-9 ms: loads often race a change, and find quiet moments.
    const script = `
      const fs = require('node:fs');
      const [dir] = process.argv.slice(1);
      let stop = false, n = 0;
      process.on('SIGTERM', () => { stop = true; });
      process.stdin.on('end', () => { stop = true; }).resume();
      const nap = new Int32Array(new SharedArrayBuffer(4));
      (async () => {
        console.log('ready');
        while (!stop) {
          fs.writeFileSync(dir + '/.tmp', 'extra: 1\\nshared: {from: extra}\\n');
          fs.renameSync(dir + '/.tmp', dir + '/50-extra.yaml');
          Atomics.wait(nap, 0, 0, Math.floor(Math.random() * 10));
          fs.unlinkSync(dir + '/50-extra.yaml');
          Atomics.wait(nap, 0, 0, Math.floor(Math.random() * 10));
          n += 1;
          await new Promise((r) => setImmediate(r));
        }
        console.log('cycles ' + n);
        process.stdin.destroy(); // let the process exit
      })();`;
    const churning = await startChurner(t, ['-e', script, dir]);

    const src = dirSource(dir);
    let seen: Record<string, number>;
    let out: string;
    try {
      seen = await loadMany(
        50,
        () => src.load(loadCtx()),
        ({ value, files }) => {
          if (files.length === 1) {
            assert.deepEqual(value, { base: 1, shared: { from: 'base' } });
            return 'base';
          }
          assert.deepEqual(value, { base: 1, extra: 1, shared: { from: 'extra' } });
          return 'both';
        },
        `${dir}: directory kept changing during read`,
      );
    } finally {
      out = await churning.stop();
    }
    t.diagnostic(`loads: ${JSON.stringify(seen)}; ${/cycles \d+/.exec(out)?.[0] ?? ''}`);
    assert.ok((seen.base ?? 0) + (seen.both ?? 0) > 0, 'no load succeeded');
  });
});

describe('errors', () => {
  test('an empty directory', async (t) => {
    const dir = await tempDir(t);
    await put(dir, 'notes.txt', 'hello');
    assert.equal(await failure(dirSource(dir).load(loadCtx())), `no config fragments matching *.{yaml,yml,json,toml} in ${dir}`);
  });

  test('a missing directory and a file given as the directory', async (t) => {
    const dir = await tempDir(t);
    assert.equal(await failure(dirSource(join(dir, 'nope')).load(loadCtx())), `${join(dir, 'nope')}: directory not found`);
    const file = await put(dir, 'f.yaml', 'a: 1\n');
    assert.equal(await failure(dirSource(file).load(loadCtx())), `${file}: not a directory`);
  });

  test('a broken fragment fails the whole load, naming the fragment with line:col', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'a: 1\n');
    const bad = await put(dir, '2.yaml', 'b: [1\n');
    assert.match(await failure(dirSource(dir).load(loadCtx())), new RegExp(`^${bad}:2:1: `));
  });

  test('an empty fragment is an error too (a truncated fragment must not drop its settings)', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'a: 1\n');
    const empty = await put(dir, '2.yaml', '   \n');
    assert.equal(await failure(dirSource(dir).load(loadCtx())), `${empty}: file is empty`);
  });

  test('env expansion names the fragment; maxBytes applies per fragment', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'a: "${SET}"\n');
    const two = await put(dir, '2.yaml', 'b: "${UNSET}"\n');
    assert.equal(await failure(dirSource(dir, { env: { SET: 'x' } }).load(loadCtx())), `${two}: environment variable UNSET is not set (used at b)`);
    await put(dir, '2.yaml', 'b: "${SET}"\n');
    assert.deepEqual((await dirSource(dir, { env: { SET: 'x' } }).load(loadCtx())).value, { a: 'x', b: 'x' });
    assert.match(await failure(dirSource(dir, { maxBytes: 8 }).load(loadCtx())), /1\.yaml: file is 12 bytes, over the limit of 8 bytes/);
  });

  test('verify is called for every fragment with its bytes', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '1.yaml', 'a: 1\n');
    await put(dir, '2.json', '{"b": 2}');
    const seen: string[] = [];
    await dirSource(dir).load(loadCtx({ verify: (p, bytes) => void seen.push(`${p}=${Buffer.from(bytes).toString()}`) }));
    assert.deepEqual(seen, [`${join(dir, '1.yaml')}=a: 1\n`, `${join(dir, '2.json')}={"b": 2}`]);
  });

  test('bad options fail at construction', () => {
    assert.throws(() => dirSource(''), /needs a path/);
    assert.throws(() => dirSource('/x', { pattern: '*.[ch]' }), /only \*, \? and \{a,b\}/);
    assert.throws(() => dirSource('/x', { maxBytes: -1 }), /maxBytes/);
    // fileSource and dirSource share the checks.
    assert.throws(() => fileSource('/x.yaml', { maxBytes: 1.5 }), /maxBytes/);
  });
});

describe('loading the same fragments again', () => {
  test('merges fresh values each load: a merge never writes into a reused parse', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-base.yaml', 'nested: {keep: 1}\n');
    const extra = await put(dir, '20-extra.yaml', 'nested: {extra: 1}\n');
    const src = dirSource(dir);
    assert.deepEqual((await src.load(loadCtx())).value, { nested: { keep: 1, extra: 1 } });
    // 10-base's parse is reused; had the previous merge written into it, `extra` would linger.
    await rm(extra);
    assert.deepEqual((await src.load(loadCtx())).value, { nested: { keep: 1 } });
    await put(dir, '20-extra.yaml', 'nested: {extra: 1}\n');
    assert.deepEqual((await src.load(loadCtx())).value, { nested: { keep: 1, extra: 1 } });
    await rm(extra);
    assert.deepEqual((await src.load(loadCtx())).value, { nested: { keep: 1 } });
  });
});

describe('which fragment set a changed value', () => {
  test('changed_from names the fragment of each changed path that still has a value; a single file has none', async (t) => {
    const dir = await tempDir(t);
    await put(dir, '10-base.yaml', 'server: {port: 80, host: a}\nlog: info\n');
    await put(dir, '20-port.yaml', 'server: {port: 81}\n');
    const r = createReloader({ source: dirSource(dir) });
    t.after(() => r.close());
    await r.start();
    await put(dir, '10-base.yaml', 'server: {port: 80, host: b}\n');
    await put(dir, '20-port.yaml', 'server: {port: 82}\n');
    const result = await r.reload();
    assert.deepEqual(result.changed.sort(), ['log', 'server.host', 'server.port']);
    assert.deepEqual(result.changed_from, { 'server.host': join(dir, '10-base.yaml'), 'server.port': join(dir, '20-port.yaml') });

    const file = await put(dir, 'single.yaml', 'a: 1\n');
    const single = createReloader({ source: fileSource(file) });
    t.after(() => single.close());
    await single.start();
    await put(dir, 'single.yaml', 'a: 2\n');
    const one = await single.reload();
    assert.deepEqual(one.changed, ['a']);
    assert.equal(one.changed_from, undefined);
  });
});
