// What a host refuses: revisions not signed by the key its target requires
// (nothing written), and overwriting files edited by hand under fleet.dir
// (reported as drift). Also the health gate: a revision whose gate fails is
// restored like one whose check fails.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../src/etcd/client.js';
import { headKey, revisionKey } from '../../src/fleet/keys.js';
import type { FleetStatus } from '../../src/fleet/status.js';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { cliEntry } from '../helpers/cli-entry.js';
import { nginxOrSkip, waitFor } from '../integration/helpers.js';
import { connected, FLEET, fleetCli, serving, siteConf, stage, startFleetHost, type FleetHost } from './support.js';

const skip = etcdOrSkip() || nginxOrSkip();

describe('fleet: signed revisions, drift, health gate', { skip, timeout: 300_000 }, () => {
  let etcd: TestEtcd;
  let keys: string;
  let otherKeys: string;
  let signing: FleetHost;
  let plain: FleetHost;
  const reloadkit = (...args: string[]) => execFileSync(process.execPath, [...cliEntry(), ...args], { stdio: 'pipe' });
  const status = async () => JSON.parse((await fleetCli(etcd.endpoints, ['status', '--json'])).stdout) as FleetStatus;
  const outcome = async (host: string, n: number) => {
    let st: FleetStatus['hosts'][string]['targets'][string] | undefined;
    await waitFor(
      async () => {
        st = (await status()).hosts[host]?.targets.nginx;
        return st !== undefined && st.attempted === n && st.status !== 'applying';
      },
      `${host} finishing revision ${n}`,
      60_000,
    );
    return st!;
  };

  before(async () => {
    etcd = await startEtcd(1);
    keys = mkdtempSync(join(tmpdir(), 'rk-keys-'));
    otherKeys = mkdtempSync(join(tmpdir(), 'rk-keys-'));
    reloadkit('keygen', '--out', keys);
    reloadkit('keygen', '--out', otherKeys);
    signing = await startFleetHost({
      name: 'signed-1',
      endpoints: etcd.endpoints,
      targetExtra: `    signature: { public_key: ${join(keys, 'reloadkit.pub')} }\n`,
      // The target verifies every watched file: the local ones are signed by the operator.
      prepare: ({ conf, fleetDir }) => {
        reloadkit('sign', '--key', join(keys, 'reloadkit.key'), conf);
        reloadkit('sign', '--key', join(keys, 'reloadkit.key'), join(fleetDir, 'site.conf'));
      },
    });
    plain = await startFleetHost({ name: 'plain-1', endpoints: etcd.endpoints, healthFor: '300ms' });
    await Promise.all([connected(signing), connected(plain)]);
  });

  after(async () => {
    await signing?.close();
    await plain?.close();
    await etcd?.close();
    for (const d of [keys, otherKeys]) if (d) rmSync(d, { recursive: true, force: true });
  });

  it('an unsigned revision is refused by the host whose target requires a signature: nothing written', async () => {
    const before = readFileSync(join(signing.fleetDir, 'site.conf'));
    // plain-1 is the canary (first by name); the rollout halts at signed-1.
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--wait'], stage({ 'site.conf': siteConf('v1') }));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /signed-1: failed: signature: signature verification failed/);
    const st = await outcome('signed-1', 1);
    assert.equal(st.status, 'failed');
    assert.match(st.reason!, /signature verification failed: the revision is not signed/);
    assert.ok(readFileSync(join(signing.fleetDir, 'site.conf')).equals(before), 'site.conf untouched');
    assert.equal(await signing.site(), 'v0');
    const refusal = signing.daemon.lines.find((l) => l.msg === 'fleet: revision refused: signature verification failed');
    assert.ok(refusal && refusal.security === true, 'logged as a security event');
    // The host without a key applied it.
    assert.equal((await outcome('plain-1', 1)).status, 'done');
    await serving(plain, 'v1');
  });

  it('a revision signed with another key is refused; one signed with the right key is applied, with its FILE.sig', async () => {
    const wrong = await fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--key', join(otherKeys, 'reloadkit.key'), '--wait'],
      stage({ 'site.conf': siteConf('v2') }),
    );
    assert.equal(wrong.code, 1);
    const st = await outcome('signed-1', 2);
    assert.equal(st.status, 'failed');
    assert.match(st.reason!, /bad signature/);

    const good = await fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--key', join(keys, 'reloadkit.key'), '--wait'],
      stage({ 'site.conf': siteConf('v3') }),
    );
    assert.equal(good.code, 0, good.stderr + good.stdout);
    assert.match(good.stdout, /signed/);
    const ok = await outcome('signed-1', 3);
    assert.equal(ok.status, 'done', ok.reason);
    await serving(signing, 'v3');
    assert.ok(existsSync(join(signing.fleetDir, 'site.conf.sig')), 'the signature is written next to the file');
    const hist = JSON.parse((await fleetCli(etcd.endpoints, ['history', 'nginx', '--json'])).stdout) as { revisions: { revision: number; signed: boolean }[] };
    assert.deepEqual(
      hist.revisions.map((x) => x.signed),
      [false, true, true],
    );
  });

  it('a file edited by hand under fleet.dir is drift: reported, never overwritten', async () => {
    const hashBefore = (await status()).hosts['plain-1']!.targets.nginx!.config_hash;
    const edited = `# edited by hand\n${siteConf('hand')}`;
    writeFileSync(join(plain.fleetDir, 'site.conf'), edited);
    await serving(plain, 'hand'); // the watcher reloaded the hand edit as it would any edit
    // What the host publishes follows what the target runs.
    await waitFor(async () => (await status()).hosts['plain-1']!.targets.nginx!.config_hash !== hashBefore, 'the new content hash published');
    // Drift shows as soon as the edit is reloaded, before any push.
    await waitFor(async () => (await status()).hosts['plain-1']!.targets.nginx!.status === 'drift', 'drift reported after the edit');
    const r = await fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--key', join(keys, 'reloadkit.key'), '--wait'],
      stage({ 'site.conf': siteConf('v4') }),
    );
    assert.equal(r.code, 1, 'drift halts the rollout');
    assert.match(r.stdout, /plain-1: failed \(canary\): drift: local changes/);
    const st = await outcome('plain-1', 4);
    assert.equal(st.status, 'drift');
    assert.match(st.reason!, /local changes .*site\.conf/);
    assert.equal(readFileSync(join(plain.fleetDir, 'site.conf'), 'utf8'), edited, 'the hand edit is kept');
    assert.equal(await plain.site(), 'hand');
  });

  it('a revision whose health gate fails is restored byte for byte and reloaded back', async () => {
    // Undo the hand edit: the files are as the fleet wrote them again, and the next revision applies.
    writeFileSync(join(plain.fleetDir, 'site.conf'), siteConf('v3'));
    await serving(plain, 'v3');
    await waitFor(async () => (await status()).hosts['plain-1']!.targets.nginx!.status === 'done', 'drift cleared once the files are as the fleet wrote them');
    // Signed, so that both hosts apply it and it becomes the fleet's revision.
    const good = await fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--key', join(keys, 'reloadkit.key'), '--wait'],
      stage({ 'site.conf': siteConf('v5') }),
    );
    assert.equal(good.code, 0, good.stdout + good.stderr);
    assert.equal((await outcome('plain-1', 5)).status, 'done');
    await serving(plain, 'v5');
    const before = readFileSync(join(plain.fleetDir, 'site.conf'));
    // Passes nginx -t, but its /healthz answers 503: the gate fails after the reload.
    const r = await fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--key', join(keys, 'reloadkit.key'), '--wait'],
      stage({ 'site.conf': `location = /healthz { return 503; }\n${siteConf('v6')}` }),
    );
    assert.equal(r.code, 1, 'the gate halts the rollout at the canary');
    const st = await outcome('plain-1', 6);
    assert.equal(st.status, 'failed');
    assert.match(st.reason!, /health gate: GET http:\/\/127\.0\.0\.1:\d+\/healthz answered 503/);
    assert.equal(st.revision, 5);
    assert.ok(readFileSync(join(plain.fleetDir, 'site.conf')).equals(before), 'site.conf restored byte for byte');
    await serving(plain, 'v5');
    const passes = plain.daemon.passes('nginx').filter((p) => p.trigger === 'api');
    assert.deepEqual(
      passes.slice(-2).map((p) => p.status),
      ['full_success', 'full_success'],
      'the revision was reloaded, then the restored files',
    );
  });
  it('a signed revision copied in etcd under another number is refused by the host that checks signatures: nothing written', async () => {
    // Revision 3 (v3, signed with the right key) stored again as the next number, as someone with write access to etcd could.
    const store = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 5_000 });
    let replayed: number;
    try {
      const original = await store.get(revisionKey(FLEET, 'nginx', 3));
      const head = JSON.parse((await store.get(headKey(FLEET, 'nginx')))!.value.toString('utf8')) as { revision: number; rollouts?: number };
      replayed = head.revision + 1;
      await store.put(revisionKey(FLEET, 'nginx', replayed), original!.value);
      await store.put(headKey(FLEET, 'nginx'), JSON.stringify({ ...head, revision: replayed }));
    } finally {
      store.close();
    }
    const before = readFileSync(join(signing.fleetDir, 'site.conf'));
    const servedBefore = await signing.site();
    const r = await fleetCli(etcd.endpoints, ['rollback', 'nginx', '--to', String(replayed), '--wait']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /signed-1: failed: signature: signature verification failed: the revision was signed as revision 3, not \d+/);
    const st = await outcome('signed-1', replayed);
    assert.equal(st.status, 'failed');
    assert.match(st.reason!, new RegExp(`signed as revision 3, not ${replayed}`));
    assert.ok(readFileSync(join(signing.fleetDir, 'site.conf')).equals(before), 'site.conf untouched');
    assert.equal(await signing.site(), servedBefore);
  });
});
