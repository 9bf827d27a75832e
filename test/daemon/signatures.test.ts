// Signatures in the daemon: a target with `signature.public_key` verifies
// every watched file before its check or reload runs (a real command target
// whose reload leaves a marker), and the daemon's own config verifier keeps
// the key it started with.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TargetDef } from '../../src/daemon/config.js';
import { StateStore } from '../../src/daemon/state.js';
import { Target } from '../../src/daemon/target.js';
import { watchSpecsFor } from '../../src/daemon/target-source.js';
import { ownConfigVerifier, peekSignatureKey } from '../../src/daemon/own-signature.js';
import { keygen, signFile } from '../../src/integrity/keys.js';
import { capturedLogger, tempDir } from '../integrity/support.js';
import { type SignatureError } from '../../src/shared/errors.js';

describe('daemon target with signature.public_key', () => {
  test('every watched file (single files and directory trees) must verify before the check and reload run', async (t) => {
    const dir = await tempDir(t);
    const keys = await keygen(join(dir, 'keys'));
    const conf = join(dir, 'app.conf');
    const incl = join(dir, 'conf.d');
    await mkdir(incl);
    await writeFile(conf, 'main\n');
    await writeFile(join(incl, 'a.conf'), 'a\n');
    for (const f of [conf, join(incl, 'a.conf')]) await signFile(keys.privateKey, f);
    const marker = join(dir, 'reloads');
    const def: TargetDef = {
      kind: 'command',
      watch: [conf, incl],
      cwd: dir,
      timeout_ms: 10_000,
      reload_on_start: false,
      check: ['true'],
      reload: ['sh', '-c', `echo x >> ${marker}`],
      signature: { public_key: keys.publicKey },
    };
    const log = capturedLogger();
    const target = new Target('app', def, { logger: log.logger, state: new StateStore(join(dir, 'state')) });
    const failures: string[] = [];
    target.unit.observe({ signatureFailure: (_u, file, reason) => failures.push(`${file}: ${reason}`) });
    t.after(() => target.close());
    assert.equal(await target.start(), 'recorded');

    // A signed change reloads.
    await writeFile(join(incl, 'a.conf'), 'a2\n');
    await signFile(keys.privateKey, join(incl, 'a.conf'));
    assert.equal((await target.reload('api')).status, 'full_success');
    assert.equal(await readFile(marker, 'utf8'), 'x\n');

    // An unsigned file dropped into the watched tree, a tampered main file: refused, nothing runs.
    await writeFile(join(incl, 'evil.conf'), 'evil\n');
    let res = await target.reload('api');
    assert.equal(res.status, 'load_failed');
    assert.equal(res.load_error, `signature verification failed: ${join(incl, 'evil.conf')}: missing signature`);
    await signFile(keys.privateKey, join(incl, 'evil.conf'));
    await writeFile(conf, 'main tampered\n');
    res = await target.reload('api');
    assert.equal(res.status, 'load_failed');
    assert.equal(res.load_error, `signature verification failed: ${conf}: bad signature`);
    assert.equal(await readFile(marker, 'utf8'), 'x\n', 'no reload ran for refused content');
    assert.deepEqual(failures, [`${join(incl, 'evil.conf')}: missing signature`, `${conf}: bad signature`]);
    assert.equal(log.lines().filter((l) => l.event === 'security').length, 2);

    // Signed again: the reload runs.
    await signFile(keys.privateKey, conf);
    assert.equal((await target.reload('api')).status, 'full_success');
    assert.equal(await readFile(marker, 'utf8'), 'x\nx\n');
  });

  test('a target without a key hashes as before; a missing key file fails the load clearly', async (t) => {
    const dir = await tempDir(t);
    const conf = join(dir, 'app.conf');
    await writeFile(conf, 'a\n');
    const def: TargetDef = { kind: 'command', watch: [conf], cwd: dir, timeout_ms: 10_000, reload_on_start: false, reload: ['true'] };
    const plain = new Target('plain', def, { logger: capturedLogger().logger, state: new StateStore(join(dir, 's1')) });
    t.after(() => plain.close());
    await plain.start();
    assert.equal((await plain.reload('api')).status, 'full_success');

    const keyed = new Target(
      'keyed',
      { ...def, signature: { public_key: join(dir, 'nope.pub') } },
      {
        logger: capturedLogger().logger,
        state: new StateStore(join(dir, 's2')),
      },
    );
    t.after(() => keyed.close());
    await assert.rejects(keyed.start(), /signature\.publicKeyFile: cannot read .*nope\.pub: file not found/);
  });

  test('watchSpecsFor adds FILE.sig for single files only when signatures are on', async (t) => {
    const dir = await tempDir(t);
    const conf = join(dir, 'app.conf');
    await writeFile(conf, 'a\n');
    assert.deepEqual(await watchSpecsFor([conf]), [{ path: conf }]);
    assert.deepEqual(await watchSpecsFor([conf], { signatures: true }), [{ path: conf }, { path: `${conf}.sig` }]);
    const specs = await watchSpecsFor([dir], { signatures: true });
    assert.equal(specs.length, 1);
    assert.equal(specs[0]!.recursive, true);
  });
});

describe("the daemon's own config", () => {
  test('the key is read from the bytes at start, then the boot key stays in effect', async (t) => {
    const dir = await tempDir(t);
    const keys = await keygen(join(dir, 'keys'));
    const other = await keygen(join(dir, 'other'));
    const cfg = join(dir, 'reloadkit.yaml');
    const text = 'signature:\n  public_key: keys/reloadkit.pub\ntargets: {}\n';
    await writeFile(cfg, text);
    assert.equal(peekSignatureKey(Buffer.from(text), cfg), keys.publicKey);
    assert.equal(peekSignatureKey(Buffer.from('targets: {}\n'), cfg), undefined);
    assert.equal(peekSignatureKey(Buffer.from('a: [\n'), cfg), undefined);

    let boot: string | undefined | null = null;
    const verify = ownConfigVerifier(() => boot);
    // Start: the config names its key and must be signed by it.
    await assert.rejects(verify(cfg, Buffer.from(text)), (e: SignatureError) => e.reason === 'missing signature');
    await signFile(keys.privateKey, cfg);
    await verify(cfg, await readFile(cfg));
    boot = keys.publicKey;

    // A reload that swaps in another key (signed by it) or drops the key is still checked with the boot key.
    const swapped = 'signature:\n  public_key: other/reloadkit.pub\ntargets: {}\n';
    await writeFile(cfg, swapped);
    await signFile(other.privateKey, cfg);
    await assert.rejects(verify(cfg, Buffer.from(swapped)), (e: SignatureError) => e.reason === 'bad signature');
    const dropped = 'targets: {}\n';
    await writeFile(cfg, dropped);
    await rm(`${cfg}.sig`);
    await assert.rejects(verify(cfg, Buffer.from(dropped)), (e: SignatureError) => e.reason === 'missing signature');

    // A daemon started without a key checks nothing.
    boot = undefined;
    await verify(cfg, Buffer.from(dropped));
    assert.equal(existsSync(`${cfg}.sig`), false);
  });
});
