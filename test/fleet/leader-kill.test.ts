// kill -9 of the etcd leader (3-member cluster) in the middle of a rollout:
// the rollout completes, every host applied the revision exactly once, and
// the stall it caused (the longest wait between one host's end and the
// next one's start, against the same gap without a kill) is measured.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { nginxOrSkip, waitFor } from '../integration/helpers.js';
import { connected, fleetCli, fleetStatusOf, serving, siteConf, stage, startFleetHost, turnsOf, type FleetHost } from './support.js';

const skip = etcdOrSkip() || nginxOrSkip();

/** Gaps between one turn's end and the next turn's start, in the order the hosts went. */
function gaps(hosts: readonly FleetHost[], n: number): { after: string; gap: number; at: number }[] {
  const turns = hosts.flatMap((h) => turnsOf(h, n)).sort((a, b) => a.start - b.start);
  return turns.slice(1).map((t, i) => ({ after: turns[i]!.host, gap: t.start - turns[i]!.end, at: turns[i]!.end }));
}

describe('fleet: kill -9 of the etcd leader of a 3-member cluster during a rollout', { skip, timeout: 600_000 }, () => {
  let etcd: TestEtcd;
  const hosts: FleetHost[] = [];

  before(async () => {
    etcd = await startEtcd(3);
    for (const name of ['web-1', 'web-2', 'web-3', 'web-4'])
      hosts.push(await startFleetHost({ name, endpoints: etcd.endpoints, leaseTtl: '5s', healthFor: '300ms' }));
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await etcd?.close();
  });

  it('the rollout completes; each host applied once; the stall is measured', async () => {
    const first = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--health-wait', '1s', '--wait'], stage({ 'site.conf': siteConf('v1') }));
    assert.equal(first.code, 0, first.stderr + first.stdout);
    const calm = gaps(hosts, 1).map((g) => g.gap);

    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--health-wait', '1s'], stage({ 'site.conf': siteConf('v2') }));
    assert.equal(r.code, 0, r.stderr);
    // Mid-rollout: the canary done, the first batch host in its gate.
    await waitFor(async () => (await fleetStatusOf(etcd.endpoints)).targets.nginx?.rollout?.hosts['web-2'] === 'applying', 'web-2 in its turn', 60_000);
    const leader = await etcd.leader();
    const killedAt = Date.now();
    await leader.kill();
    const live = etcd.members.filter((m) => m.running()).map((m) => m.clientUrl);
    await waitFor(
      async () => (await fleetStatusOf(live).catch(() => null))?.targets.nginx?.rollout?.state === 'done',
      'the rollout completing after the leader kill',
      120_000,
    );
    for (const h of hosts) {
      assert.equal(h.applied(2).length, 1, `${h.name} applied revision 2 exactly once`);
      assert.equal(h.failed(2).length, 0, `${h.name} did not fail`);
      await serving(h, 'v2');
    }
    const during = gaps(hosts, 2);
    // The stall: the longest gap at or after the kill, beyond the slowest gap of the calm rollout.
    const around = during.filter((g) => g.at >= killedAt - 2000);
    const stall = Math.max(0, ...around.map((g) => g.gap)) - Math.max(0, ...calm);
    process.stderr.write(
      `leader-kill: gaps between turns ${during.map((g) => `${g.after}->${g.gap}ms`).join(', ')}; calm rollout ${calm.join(', ')} ms; stall ${stall} ms\n`,
    );
    assert.ok(stall <= 10_000, `a stall of ${stall} ms`);
    const newLeader = await etcd.leader();
    assert.notEqual(newLeader.name, leader.name);
    await leader.start();
  });
});
