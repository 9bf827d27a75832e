// Fleet hosts when etcd goes away: they keep serving, stay ready, say
// `connected: false`, and converge when etcd returns. A host killed stops
// renewing its lease and leaves `fleet status` within the TTL + 1 s; a host
// down during a push converges when it starts.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../src/etcd/client.js';
import { readFleetStatus, type FleetStatus } from '../../src/fleet/status.js';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { cli } from '../integration/daemon-process.js';
import { nginxOrSkip, waitFor } from '../integration/helpers.js';
import { connected, serving, FLEET, fleetCli, getJson, siteConf, stage, startFleetHost, startRelay, type FleetHost, type Relay } from './support.js';

const skip = etcdOrSkip() || nginxOrSkip();

describe('fleet: etcd outages, lost hosts, hosts down during a push', { skip, timeout: 300_000 }, () => {
  let etcd: TestEtcd;
  let relay: Relay;
  const hosts: FleetHost[] = [];
  let rev = 0;

  /** Pushes `text` as site.conf; waits until every host in `expect` applied it. */
  const push = async (text: string, expect: FleetHost[]) => {
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf'], stage({ 'site.conf': siteConf(text) }));
    assert.equal(r.code, 0, r.stderr);
    rev += 1;
    for (const h of expect) {
      await waitFor(() => h.applied(rev).length > 0, `${h.name} applied revision ${rev}`, 60_000);
      await serving(h, text);
    }
    return rev;
  };

  before(async () => {
    etcd = await startEtcd(1);
    relay = await startRelay(etcd.endpoints[0]!);
    hosts.push(await startFleetHost({ name: 'web-1', endpoints: etcd.endpoints }));
    hosts.push(await startFleetHost({ name: 'web-2', endpoints: etcd.endpoints }));
    // web-3 reaches etcd through a relay the test can cut: its own network outage.
    hosts.push(await startFleetHost({ name: 'web-3', endpoints: [relay.url] }));
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await relay?.close();
    await etcd?.close();
  });

  it('etcd stopped: hosts keep serving, /ready stays 200, connected is false; they catch up when etcd returns', async () => {
    await push('v1', hosts);
    const marks = hosts.map((h) => h.daemon.lines.length);
    await etcd.members[0]!.stop();
    for (const [i, h] of hosts.entries()) {
      await h.daemon.waitForLine(
        (l) => l.msg === 'fleet: etcd unreachable; serving the current files and retrying',
        `${h.name} noticing etcd is gone`,
        marks[i],
      );
    }
    for (const h of hosts) {
      assert.equal(await h.site(), 'v1');
      const ready = await getJson<{ status: string }>(`${h.http}/ready`);
      assert.equal(ready.status, 200, JSON.stringify(ready.body));
      const f = await getJson<FleetStatus>(`${h.http}/fleet`);
      assert.equal(f.status, 200);
      assert.equal(f.body.connected, false);
      assert.equal(f.body.hosts[h.name]!.targets.nginx!.revision, 1);
      const metrics = await (await fetch(`${h.http}/metrics`)).text();
      assert.match(metrics, /^reloadkit_fleet_connected 0$/m);
    }
    const st = await cli(['status', '--socket', join(hosts[0]!.dir, 'admin.sock')]);
    assert.equal(st.code, 0);
    assert.match(st.stdout, /etcd NOT connected/);

    const back = hosts.map((h) => h.daemon.lines.length);
    await etcd.members[0]!.start();
    await Promise.all(hosts.map((h, i) => connected(h, back[i])));
    await push('v2', hosts);
    for (const h of hosts) assert.equal(h.applied(2).length, 1, `${h.name} applied revision 2 once`);
  });

  it('a host cut off from etcd keeps serving, misses the push, and converges when it can reach etcd again', async () => {
    const cutOff = hosts[2]!;
    const mark = cutOff.daemon.lines.length;
    await relay.cut();
    await cutOff.daemon.waitForLine((l) => l.msg === 'fleet: etcd unreachable; serving the current files and retrying', 'web-3 cut off', mark);
    const n = await push('v3', hosts.slice(0, 2));
    assert.equal(cutOff.applied(n).length, 0, 'not applied while cut off');
    assert.equal(await cutOff.site(), 'v2', 'keeps serving what it has');
    assert.equal((await getJson(`${cutOff.http}/ready`)).status, 200);
    await relay.restore();
    await waitFor(() => cutOff.applied(n).length > 0, 'web-3 converging on revision 3', 60_000);
    await serving(cutOff, 'v3');
    assert.equal(cutOff.applied(n).length, 1);
  });

  it('a host killed (-9) disappears from fleet status within the lease TTL + 1 s', async () => {
    const victim = hosts[1]!;
    const before = JSON.parse((await fleetCli(etcd.endpoints, ['status', '--json'])).stdout) as FleetStatus;
    assert.ok(before.hosts['web-2'], 'web-2 listed while alive');
    // Polled in-process (the status the CLI prints, without a process start per look).
    const store = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 2000 });
    const killedAt = Date.now();
    await victim.daemon.stop('SIGKILL');
    await waitFor(async () => (await readFleetStatus(store, FLEET)).hosts['web-2'] === undefined, 'web-2 gone from fleet status', 20_000);
    const gone = Date.now() - killedAt;
    store.close();
    assert.ok(gone <= 3000, `gone after ${gone} ms (TTL 2 s + 1 s)`);
    const after = JSON.parse((await fleetCli(etcd.endpoints, ['status', '--json'])).stdout) as FleetStatus;
    assert.equal(after.hosts['web-2'], undefined);
    const metrics = await (await fetch(`${hosts[0]!.http}/metrics`)).text();
    assert.match(metrics, /^reloadkit_fleet_hosts\{state="lost"\} 1$/m);
    // Started again: it registers and has nothing to catch up on.
    await victim.restart();
    await connected(victim);
  });

  it('a host down during a push converges when it starts', async () => {
    const down = hosts[0]!;
    await down.daemon.stop('SIGTERM');
    // A graceful stop revokes the lease: the host leaves at once.
    const s = JSON.parse((await fleetCli(etcd.endpoints, ['status', '--json'])).stdout) as FleetStatus;
    assert.equal(s.hosts['web-1'], undefined);
    const n = await push('v4', hosts.slice(1));
    assert.equal(await down.site(), 'v3');
    await down.restart();
    await waitFor(() => down.applied(n).length > 0, 'web-1 converging after its start', 60_000);
    await serving(down, 'v4');
    // Restarted again with nothing new: it does not apply again.
    await down.daemon.stop('SIGTERM');
    await down.restart();
    await connected(down);
    await waitFor(async () => {
      const x = JSON.parse((await fleetCli(etcd.endpoints, ['status', '--json'])).stdout) as FleetStatus;
      return x.hosts['web-1']?.targets.nginx?.revision === n;
    }, 'web-1 published revision 4');
    assert.equal(down.applied(n).length, 0, 'nothing applied after the second start');
  });
});
