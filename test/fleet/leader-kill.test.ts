// kill -9 of the etcd leader (3-member cluster) while hosts apply a
// revision: every host still ends on the revision, each applied it once.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FleetStatus } from '../../src/fleet/status.js';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { nginxOrSkip, waitFor } from '../integration/helpers.js';
import { connected, fleetCli, serving, siteConf, stage, startFleetHost, type FleetHost } from './support.js';

const skip = etcdOrSkip() || nginxOrSkip();

describe('fleet: kill -9 of the etcd leader of a 3-member cluster while hosts apply', { skip, timeout: 300_000 }, () => {
  let etcd: TestEtcd;
  const hosts: FleetHost[] = [];

  before(async () => {
    etcd = await startEtcd(3);
    for (const name of ['web-1', 'web-2', 'web-3']) hosts.push(await startFleetHost({ name, endpoints: etcd.endpoints, leaseTtl: '5s', healthFor: '1500ms' }));
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await etcd?.close();
  });

  it('every host ends on the revision, each applied once; the cluster and the status recover', async () => {
    const first = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--wait'], stage({ 'site.conf': siteConf('v1') }));
    assert.equal(first.code, 0, first.stderr + first.stdout);

    const leader = await etcd.leader();
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf'], stage({ 'site.conf': siteConf('v2') }));
    assert.equal(r.code, 0, r.stderr);
    // The hosts are applying revision 2 now (their health gate runs 1.5 s): they report it after the kill.
    await waitFor(
      () => hosts.every((h) => h.daemon.passes('nginx').some((p) => p.trigger === 'api' && p.generation === 2)),
      'every host past the pass of revision 2',
      30_000,
    );
    await leader.kill();
    const killedAt = Date.now();
    for (const h of hosts) {
      await waitFor(() => h.applied(2).length > 0 || h.failed(2).length > 0, `${h.name} finishing revision 2`, 60_000);
      assert.equal(h.failed(2).length, 0, `${h.name} did not fail`);
      await serving(h, 'v2');
    }
    const converged = Date.now() - killedAt;
    const newLeader = await etcd.leader();
    assert.notEqual(newLeader.name, leader.name);
    // Status from the surviving members: every host done on 2.
    const live = etcd.members.filter((m) => m.running()).map((m) => m.clientUrl);
    await waitFor(
      async () => {
        const s = await fleetCli(live, ['status', '--json']);
        if (s.code !== 0) return false;
        const j = JSON.parse(s.stdout) as FleetStatus;
        return j.targets.nginx?.rollout?.state === 'done' && Object.keys(j.hosts).length === 3;
      },
      'rollout 2 done in fleet status',
      30_000,
    );
    for (const h of hosts) assert.equal(h.applied(2).length, 1, `${h.name} applied revision 2 exactly once`);
    process.stderr.write(`leader-kill: every host on revision 2 ${converged} ms after kill -9 of the leader\n`);
    await leader.start();
  });
});
