// The fleet agent in-process (the daemon's command target and fleet glue,
// three hosts in this process, a real etcd): the status-change hook a
// status page turns into `event: fleet` (a callback, and an async iterator),
// one driver among the hosts, and a reload failing on one host halting the
// rollout there with the step `reload`.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdStore } from '../../src/etcd/client.js';
import { storeRevision } from '../../src/fleet/control.js';
import type { FleetStatus } from '../../src/fleet/status.js';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { waitFor } from '../integration/helpers.js';
import { startCommandHost, type CommandHost } from './command-agent.js';

const skip = etcdOrSkip();

describe('fleet agent: status changes, one driver, a failing reload', { skip, timeout: 180_000 }, () => {
  let etcd: TestEtcd;
  let store: EtcdStore;
  let dir: string;
  const hosts: CommandHost[] = [];
  const push = (text: string, batch = 1) =>
    storeRevision(store, [{ path: 'app.conf', bytes: Buffer.from(text) }], { fleet: 'f', target: 'app', author: 'test', message: text, rollout: { batch } });

  before(async () => {
    etcd = await startEtcd(1);
    store = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 2000 });
    dir = mkdtempSync(join(tmpdir(), 'rk-agents-'));
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      // Each reload takes 300 ms (the coalesced changes show hosts applying); c's fails once its flag file exists.
      const reload = ['sh', '-c', `sleep 0.3; test ${name} != c || test ! -e ${join(dir, 'c-fails')}`];
      hosts.push(await startCommandHost({ name, dir: join(dir, String(i)), fleet: 'f', endpoints: etcd.endpoints, leaseTtl: '5s', reload }));
    }
    await waitFor(() => hosts.every((h) => h.agent.connected), 'every agent connected');
    await waitFor(() => hosts.filter((h) => h.agent.isDriving('app')).length === 1, 'one host driving');
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    store?.close();
    await etcd?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('statusChanges() yields the fleet status as the rollout goes, to done; onStatusChange stops when asked', async () => {
    const stop = new AbortController();
    const seen: FleetStatus[] = [];
    const iterate = (async () => {
      for await (const s of hosts[1]!.agent.statusChanges(stop.signal)) {
        seen.push(s);
        const r = s.targets.app?.rollout;
        if (r?.id === 'app-1' && r.state === 'done') break;
      }
    })();
    let calls = 0;
    const off = hosts[0]!.agent.onStatusChange(() => (calls += 1));
    await push('one\n');
    await iterate;
    stop.abort();
    const last = seen.at(-1)!;
    assert.equal(last.connected, true);
    assert.deepEqual(last.targets.app!.rollout!.hosts, { a: 'done', b: 'done', c: 'done' });
    assert.ok(
      seen.some((s) => Object.values(s.targets.app?.rollout?.hosts ?? {}).includes('applying')),
      'a change while a host was applying was seen',
    );
    const driver = last.targets.app!.driver;
    assert.ok(driver !== null && ['a', 'b', 'c'].includes(driver));
    assert.equal(hosts.find((h) => h.name === driver)!.agent.summary().targets.app!.driving, true);
    await waitFor(() => calls > 0, 'the callback called');
    off();
    const before = calls;
    await push('two\n');
    await waitFor(async () => (await hosts[0]!.agent.status()).targets.app?.rollout?.state === 'done', 'rollout 2 done');
    await new Promise((r) => setTimeout(r, 500)); // longer than the 250 ms the changes are coalesced over
    assert.equal(calls, before, 'no call after unsubscribing');
  });

  it('a reload failing on one host halts the rollout there, with the step reload', async () => {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, 'c-fails'), '');
    const { rollout } = await push('three\n');
    await waitFor(async () => (await hosts[0]!.agent.status()).targets.app?.rollout?.state === 'halted', 'the rollout halting', 60_000);
    const s = await hosts[0]!.agent.status();
    const r = s.targets.app!.rollout!;
    assert.equal(r.id, rollout.id);
    assert.equal(r.failure!.host, 'c');
    assert.equal(r.failure!.step, 'reload');
    assert.deepEqual(r.hosts, { a: 'done', b: 'done', c: 'failed' });
    assert.equal(s.targets.app!.revision, 2, 'the fleet stays on the last completed revision');
  });
});
