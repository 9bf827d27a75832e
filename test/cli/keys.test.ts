// `reloadkit keygen` and `reloadkit sign` as a user runs them (real child
// processes), and the keys they make verified by the library.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createReloader } from '../../src/index.js';
import { fileSource } from '../../src/sources/index.js';
import { cli } from '../integration/daemon-process.js';
import { tempDir } from '../integrity/support.js';

describe('reloadkit keygen / sign', () => {
  test('round trip: keygen, sign, the library accepts; an edit without re-signing is refused', async (t) => {
    const dir = await tempDir(t);
    const keys = join(dir, 'keys');
    const gen = await cli(['keygen', '--out', keys]);
    assert.equal(gen.code, 0, gen.stderr);
    assert.match(gen.stdout, new RegExp(`wrote ${join(keys, 'reloadkit.key')} \\(private key, mode 0600`));
    assert.match(gen.stdout, new RegExp(`wrote ${join(keys, 'reloadkit.pub')} \\(public key`));
    assert.equal((await stat(join(keys, 'reloadkit.key'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(keys, 'reloadkit.pub'), 'utf8'), /^-----BEGIN PUBLIC KEY-----/);

    const a = join(dir, 'a.yaml');
    const b = join(dir, 'b.json');
    await writeFile(a, 'port: 1\n');
    await writeFile(b, '{"port": 2}\n');
    const signed = await cli(['sign', '--key', join(keys, 'reloadkit.key'), a, b]);
    assert.equal(signed.code, 0, signed.stderr);
    assert.equal(signed.stdout, `wrote ${a}.sig\nwrote ${b}.sig\n`);
    assert.equal(signed.stderr, '');
    assert.match(await readFile(`${a}.sig`, 'utf8'), /^[A-Za-z0-9+/]{86}==\n$/);

    const r = createReloader({ source: fileSource(a), signature: { publicKeyFile: join(keys, 'reloadkit.pub') } });
    t.after(() => r.close());
    await r.start();
    assert.deepEqual(r.current(), { port: 1 });
    await writeFile(a, 'port: 3\n');
    const refused = await r.reload();
    assert.equal(refused.status, 'load_failed');
    assert.equal(refused.load_error, `signature verification failed: ${a}: bad signature`);
    assert.equal((await cli(['sign', '-k', join(keys, 'reloadkit.key'), a])).code, 0);
    assert.equal((await r.reload()).status, 'full_success');
    assert.deepEqual(r.current(), { port: 3 });
  });

  test('keygen refuses to overwrite (exit 1, keys unchanged); usage errors exit 2', async (t) => {
    const dir = await tempDir(t);
    assert.equal((await cli(['keygen', '--out', dir])).code, 0);
    const before = await readFile(join(dir, 'reloadkit.key'), 'utf8');
    const again = await cli(['keygen', '--out', dir]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /reloadkit keygen: .*reloadkit\.key already exists; refusing to overwrite/);
    assert.equal(await readFile(join(dir, 'reloadkit.key'), 'utf8'), before);

    for (const args of [['keygen'], ['keygen', dir], ['sign', join(dir, 'x.yaml')], ['sign', '--key', join(dir, 'reloadkit.key')], ['sign', '--bogus']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, /see: reloadkit (keygen|sign) --help/, args.join(' '));
    }
    for (const c of ['keygen', 'sign']) {
      const h = await cli([c, '--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`^Usage: reloadkit ${c}`));
    }
    assert.match((await cli(['--help'])).stdout, /\n {2}keygen .*\n {2}sign /);
  });

  test('sign: a missing file fails (exit 1) but the others are signed; a readable key warns once', async (t) => {
    const dir = await tempDir(t);
    assert.equal((await cli(['keygen', '--out', dir])).code, 0);
    const key = join(dir, 'reloadkit.key');
    await writeFile(join(dir, 'ok.yaml'), 'a: 1\n');
    const { chmod } = await import('node:fs/promises');
    await chmod(key, 0o640);
    const r = await cli(['sign', '--key', key, join(dir, 'missing.yaml'), join(dir, 'ok.yaml')]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, `wrote ${join(dir, 'ok.yaml')}.sig\n`);
    assert.match(r.stderr, /reloadkit sign: cannot read .*missing\.yaml: no such file or directory \(ENOENT\)/);
    assert.equal(r.stderr.match(/warning: .*accessible by group or others \(mode 0640\)/g)?.length, 1);
    // The private key never reaches the output.
    const body = (await readFile(key, 'utf8')).split('\n')[1]!;
    assert.ok(!r.stdout.includes(body) && !r.stderr.includes(body));
  });
});
