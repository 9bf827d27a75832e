// fileSource through createReloader: what a service sees when its file breaks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import { z } from 'zod';
import { createReloader, fileSource } from '../../src/index.js';
import { put, tempDir } from './tmp.js';

const zodSchema = z.object({
  server: z.object({ port: z.number().int().min(1).max(65535), host: z.string() }),
  workers: z.number().int().positive(),
  mode: z.enum(['dev', 'prod']),
});

const valibotSchema = v.object({
  server: v.object({ port: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)), host: v.string() }),
  workers: v.pipe(v.number(), v.integer(), v.minValue(1)),
  mode: v.picklist(['dev', 'prod']),
});

const good = 'server:\n  port: 8080\n  host: 127.0.0.1\nworkers: 4\nmode: prod\n';

describe('a broken file keeps the config in effect', () => {
  test('malformed YAML: load_failed, generation unchanged, load_error has file:line:col', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'app.yaml', good);
    const r = createReloader({ source: fileSource(path), schema: zodSchema });
    t.after(() => r.close());
    await r.start();
    await writeFile(path, 'server:\n  port: 9090\n  host: [unclosed\nworkers: 4\n');
    const result = await r.reload();
    assert.equal(result.status, 'load_failed');
    assert.equal(r.generation, 0);
    assert.match(result.load_error ?? '', new RegExp(`^${path}:4:1: `));
    assert.equal(r.current().server.port, 8080);
    assert.deepEqual(result.outcomes, []);
  });

  test('a missing file: load_failed naming the path, old config kept; back again → success', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'app.yaml', good);
    const r = createReloader({ source: fileSource(path), schema: zodSchema });
    t.after(() => r.close());
    await r.start();
    await rm(path);
    const missing = await r.reload();
    assert.equal(missing.status, 'load_failed');
    assert.equal(missing.load_error, `${path}: file not found`);
    assert.equal(r.generation, 0);
    assert.equal(r.current().workers, 4);
    await put(dir, '.app.yaml.tmp', good.replace('workers: 4', 'workers: 8'));
    await rename(join(dir, '.app.yaml.tmp'), path);
    const back = await r.reload();
    assert.equal(back.status, 'full_success');
    assert.equal(r.generation, 1);
    assert.equal(r.current().workers, 8);
    assert.deepEqual(back.changed, ['workers']);
  });

  test('an empty file at start rejects start() with the reason', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'app.json', ' \n');
    const r = createReloader({ source: fileSource(path), schema: zodSchema });
    t.after(() => r.close());
    await assert.rejects(r.start(), (err: Error) => err.message.includes(`${path}: file is empty`));
  });

  test('an unset variable is a load_failed naming variable, file and path', async (t) => {
    const dir = await tempDir(t);
    const path = await put(dir, 'app.yaml', good);
    const r = createReloader({ source: fileSource(path, { env: { HOST: '10.0.0.1' } }), schema: zodSchema });
    t.after(() => r.close());
    await r.start();
    await writeFile(path, good.replace('127.0.0.1', '${HOST}').replace('mode: prod', 'mode: "${MODE}"'));
    const result = await r.reload();
    assert.equal(result.status, 'load_failed');
    assert.equal(result.load_error, `${path}: environment variable MODE is not set (used at mode)`);
  });
});

describe('schemas: zod and valibot', () => {
  for (const [name, schema] of [
    ['zod', zodSchema],
    ['valibot', valibotSchema],
  ] as const) {
    test(`${name}: valid config loads typed; invalid lists every issue with its path`, async (t) => {
      const dir = await tempDir(t);
      const path = await put(dir, 'app.toml', '');
      await writeFile(path, 'workers = 2\nmode = "dev"\n[server]\nport = 8080\nhost = "localhost"\n');
      const r = createReloader({ source: fileSource(path), schema });
      t.after(() => r.close());
      await r.start();
      assert.deepEqual(r.current(), { server: { port: 8080, host: 'localhost' }, workers: 2, mode: 'dev' });
      await put(dir, 'app.toml', 'workers = 0\nmode = "staging"\n[server]\nport = 70000\nhost = 5\n');
      const result = await r.reload();
      assert.equal(result.status, 'load_failed');
      for (const p of ['server.port', 'server.host', 'workers', 'mode']) {
        assert.match(result.load_error ?? '', new RegExp(`(^|; |: )${p.replace('.', '\\.')}: `), `${name} lists ${p}`);
      }
      assert.equal(r.generation, 0);
      assert.equal(r.current().workers, 2);
    });
  }
});

describe('readers during reloads', () => {
  test('100 concurrent readers of current() during 50 reloads always see a complete, frozen, valid snapshot', async (t) => {
    const dir = await tempDir(t);
    const schema = z.object({ n: z.number().int(), items: z.array(z.number()), label: z.string(), sum: z.number() });
    const render = (n: number): string => {
      const items = Array.from({ length: 20 }, () => n);
      return JSON.stringify({ n, items, label: `gen-${n}`, sum: n * 20 });
    };
    const path = await put(dir, 'live.json', render(0));
    const r = createReloader({ source: fileSource(path), schema });
    t.after(() => r.close());
    await r.start();

    let done = false;
    let reads = 0;
    const reader = async (): Promise<void> => {
      let last = -1;
      while (!done) {
        const c = r.current();
        assert.ok(Object.isFrozen(c) && Object.isFrozen(c.items));
        assert.equal(c.items.length, 20);
        assert.ok(c.items.every((x) => x === c.n));
        assert.equal(c.label, `gen-${c.n}`);
        assert.equal(c.sum, c.n * 20);
        assert.ok(c.n >= last, 'a reader never goes back in time');
        last = c.n;
        reads += 1;
        await new Promise((res) => setImmediate(res));
      }
    };
    const readers = Array.from({ length: 100 }, () => reader());
    for (let n = 1; n <= 50; n += 1) {
      // Half in place, half by atomic rename: both must load whole.
      if (n % 2 === 0) await writeFile(path, render(n));
      else {
        await writeFile(join(dir, '.live.json.tmp'), render(n));
        await rename(join(dir, '.live.json.tmp'), path);
      }
      const result = await r.reload();
      assert.equal(result.status, 'full_success', result.load_error);
      assert.equal(r.current().n, n);
    }
    done = true;
    await Promise.all(readers);
    assert.equal(r.generation, 50);
    assert.ok(reads > 100 * 50, `only ${reads} reads`);
  });
});
