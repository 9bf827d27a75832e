// Fleet mode end to end: real etcd, three real `reloadkit run` daemons
// (the built CLI), each with its own real nginx; revisions pushed with the
// built `reloadkit fleet push`.
import assert from 'node:assert/strict';
import { symlinkSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { cli } from '../integration/daemon-process.js';
import { nginxOrSkip } from '../integration/helpers.js';
import { connected, serving, FLEET, fleetCli, getJson, siteConf, snapshot, stage, startFleetHost, type FleetHost } from './support.js';
import type { FleetStatus } from '../../src/fleet/status.js';

const skip = etcdOrSkip() || nginxOrSkip();

describe('fleet: push to 3 hosts with real nginx', { skip, timeout: 300_000 }, () => {
  let etcd: TestEtcd;
  const hosts: FleetHost[] = [];

  before(async () => {
    etcd = await startEtcd(1);
    for (const name of ['web-1', 'web-2', 'web-3']) {
      // web-3 lacks the local include that one revision below needs.
      const localFiles: Record<string, string> = name === 'web-3' ? {} : { 'local/extra.conf': '# local settings\n' };
      hosts.push(await startFleetHost({ name, endpoints: etcd.endpoints, localFiles }));
    }
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await etcd?.close();
  });

  it('a push reaches every host; each serves the new content; status, history, GET /fleet, status and metrics show it', async () => {
    const dir = stage({ 'site.conf': siteConf('v1') });
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '-m', 'first', '--wait'], dir);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /pushed nginx revision 1 \(1 file/);
    assert.match(r.stdout, /rollout nginx-1: done/);
    // Host by host, canary first (not a terminal: plain lines).
    assert.match(
      r.stdout,
      /web-1: applying \(canary\)\nweb-1: done \(canary\)\nweb-2: applying \(batch 1\)\nweb-2: done\nweb-3: applying \(batch 2\)\nweb-3: done\n/,
    );
    for (const h of hosts) {
      await serving(h, 'v1');
      assert.equal(h.applied(1).length, 1, `${h.name} applied revision 1 once`);
    }
    // The pass that applied it is the target's usual pass: check, reload, verify.
    const pass = hosts[0]!.daemon
      .passes('nginx')
      .filter((p) => p.trigger === 'api')
      .at(-1)!;
    assert.equal(pass.status, 'full_success');

    const st = await fleetCli(etcd.endpoints, ['status', '--json']);
    assert.equal(st.code, 0, st.stderr);
    const s = JSON.parse(st.stdout) as FleetStatus;
    assert.equal(s.fleet, FLEET);
    assert.equal(s.connected, true);
    assert.deepEqual(Object.keys(s.hosts).sort(), ['web-1', 'web-2', 'web-3']);
    for (const h of Object.values(s.hosts)) {
      assert.equal(h.alive, true);
      assert.equal(h.targets.nginx!.revision, 1);
      assert.equal(h.targets.nginx!.status, 'done');
      assert.match(h.targets.nginx!.config_hash, /^[0-9a-f]{64}$/);
    }
    assert.equal(s.targets.nginx!.revision, 1);
    assert.equal(s.targets.nginx!.desired, 1);
    assert.equal(s.targets.nginx!.rollout!.state, 'done');
    assert.deepEqual(s.targets.nginx!.rollout!.hosts, { 'web-1': 'done', 'web-2': 'done', 'web-3': 'done' });

    const table = await fleetCli(etcd.endpoints, ['status']);
    assert.match(table.stdout, /HOST\s+ALIVE\s+TARGET\s+REVISION\s+STATUS\s+WHEN/);
    assert.match(table.stdout, /web-2\s+yes\s+nginx\s+1\s+done/);

    const hist = await fleetCli(etcd.endpoints, ['history', 'nginx', '--json']);
    const hj = JSON.parse(hist.stdout) as { revisions: { revision: number; message: string; files: { path: string }[] }[] };
    assert.equal(hj.revisions.length, 1);
    assert.equal(hj.revisions[0]!.message, 'first');
    assert.deepEqual(
      hj.revisions[0]!.files.map((f) => f.path),
      ['site.conf'],
    );

    const viaHttp = await getJson<FleetStatus>(`${hosts[1]!.http}/fleet`);
    assert.equal(viaHttp.status, 200);
    assert.equal(viaHttp.body.targets.nginx!.revision, 1);

    const local = await cli(['status', '--socket', join(hosts[0]!.dir, 'admin.sock')]);
    assert.match(local.stdout, /fleet web as host web-1: etcd connected/);
    assert.match(local.stdout, /nginx: revision 1, desired 1, done/);

    const metrics = await (await fetch(`${hosts[2]!.http}/metrics`)).text();
    assert.match(metrics, /^reloadkit_fleet_connected 1$/m);
    assert.match(metrics, /^reloadkit_fleet_revision\{target="nginx"\} 1$/m);
    assert.match(metrics, /^reloadkit_fleet_rollouts_total\{target="nginx",result="done"\} 1$/m);
    assert.match(metrics, /^reloadkit_fleet_hosts\{state="alive"\} 3$/m);
  });

  it('a revision failing nginx -t halts at the canary: its files restored byte for byte, the other hosts untouched', async () => {
    // Unusual bytes and modes that a restore from a re-rendered copy would not reproduce.
    for (const h of hosts) {
      writeFileSync(join(h.fleetDir, 'keep.conf'), Buffer.from('# kept \r\n# trailing space \n# \u00e9\n', 'utf8'));
      chmodSync(join(h.fleetDir, 'keep.conf'), 0o640);
    }
    const before = hosts.map((h) => snapshot(h.fleetDir));
    const dir = stage({ 'site.conf': `${siteConf('bad')}no_such_directive 1;\n`, 'keep.conf': '# replaced\n', 'new/added.conf': '# new file\n' });
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', 'keep.conf', 'new', '--wait'], dir);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /web-1: failed \(canary\): check: validation_failed/);
    assert.match(r.stdout, /rollout nginx-2: halted \(web-1: check: validation_failed.*no_such_directive/);
    const canary = hosts[0]!;
    const f = canary.failed(2);
    assert.equal(f.length, 1, 'the canary reported the failure');
    assert.equal(f[0]!.step, 'pass');
    assert.match(String(f[0]!.err), /validation_failed.*no_such_directive/s);
    for (const [i, h] of hosts.entries()) {
      if (i > 0) assert.equal(h.failed(2).length + h.applied(2).length, 0, `${h.name} never started`);
      assert.equal(await h.site(), 'v1', `${h.name} still serves v1`);
      const after = snapshot(h.fleetDir);
      assert.deepEqual([...after.keys()].sort(), [...before[i]!.keys()].sort(), `${h.name}: the same files (the added one removed)`);
      for (const [rel, was] of before[i]!) {
        assert.ok(after.get(rel)!.bytes.equals(was.bytes), `${h.name}: ${rel} byte for byte`);
        assert.equal(after.get(rel)!.mode & 0o777, was.mode & 0o777, `${h.name}: ${rel} mode`);
      }
      assert.equal(existsSync(join(h.fleetDir, 'new')), false, `${h.name}: the directory the revision created is gone`);
    }
    const s = JSON.parse((await fleetCli(etcd.endpoints, ['status', '--json'])).stdout) as FleetStatus;
    assert.equal(s.hosts['web-1']!.targets.nginx!.status, 'failed');
    for (const h of Object.values(s.hosts)) assert.equal(h.targets.nginx!.revision, 1, 'still on revision 1');
    const ro = s.targets.nginx!.rollout!;
    assert.equal(ro.state, 'halted');
    assert.deepEqual(ro.hosts, { 'web-1': 'failed', 'web-2': 'pending', 'web-3': 'pending' });
    assert.equal(ro.failure!.host, 'web-1');
    assert.equal(ro.failure!.step, 'check');
    assert.equal(s.targets.nginx!.revision, 1);
  });

  it('a revision failing only on one host (a missing local include) fails there and succeeds elsewhere', async () => {
    const dir = stage({ 'site.conf': `include local/extra.conf;\n${siteConf('v3')}` });
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--wait'], dir);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /web-3: failed: check: .*extra\.conf/);
    await serving(hosts[0]!, 'v3');
    await serving(hosts[1]!, 'v3');
    assert.equal(await hosts[2]!.site(), 'v1');
    assert.equal(hosts[2]!.failed(3).length, 1);
    assert.equal(hosts[0]!.applied(3).length, 1);
  });

  it('a push is refused over 1 MiB, with "..", with an absolute path, with a symlink: nothing stored', async () => {
    const before = JSON.parse((await fleetCli(etcd.endpoints, ['history', 'nginx', '--json'])).stdout) as { revisions: unknown[]; desired: number };
    const dir = stage({ 'big.conf': Buffer.alloc(1024 * 1024 + 1, 0x23), 'a.conf': '# a\n', 'sub/b.conf': '# b\n' });
    symlinkSync(join(dir, 'a.conf'), join(dir, 'link.conf'));
    symlinkSync(join(dir, 'sub'), join(dir, 'linkdir'));
    const cases: [string[], RegExp][] = [
      [['big.conf'], /larger than 1 MiB/],
      [['a.conf', '../a.conf'], /"\.\." is refused/],
      [['sub/../a.conf'], /"\.\." is refused/],
      [[join(dir, 'a.conf')], /absolute paths are refused/],
      [['link.conf'], /symlink/],
      [['linkdir/b.conf'], /symlink/],
    ];
    for (const [paths, why] of cases) {
      const r = await fleetCli(etcd.endpoints, ['push', 'nginx', ...paths], dir);
      assert.equal(r.code, 2, `${paths.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /refused, nothing stored/);
      assert.match(r.stderr, why);
    }
    const afterHist = JSON.parse((await fleetCli(etcd.endpoints, ['history', 'nginx', '--json'])).stdout) as { revisions: unknown[]; desired: number };
    assert.equal(afterHist.revisions.length, before.revisions.length, 'no revision stored');
    assert.equal(afterHist.desired, before.desired);
  });

  it('etcd unreachable: push exits 2 naming the endpoints and the reason', async () => {
    const dir = stage({ 'a.conf': '# a\n' });
    const r = await fleetCli(['http://127.0.0.1:1'], ['push', 'nginx', 'a.conf'], dir);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /etcd \(http:\/\/127\.0\.0\.1:1\).*(unreachable|timed out)/);
  });
});
