// Rolling canary rollouts end to end: real etcd, five real `reloadkit run`
// daemons (the built CLI), each with its own real nginx and a health gate on
// its site's /healthz. The order is asserted from the hosts' own log lines
// (when each started and ended its turn), the guarantees from the files on
// disk and what each nginx serves.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { freePort, nginxOrSkip, waitFor } from '../integration/helpers.js';
import {
  connected,
  fleetCli,
  fleetStatusOf,
  maxOverlap,
  rolloutIn,
  serving,
  siteConf,
  snapshot,
  stage,
  startFleetHost,
  turnsOf,
  type FleetHost,
} from './support.js';

const skip = etcdOrSkip() || nginxOrSkip();

describe('fleet: rolling canary rollouts on 5 hosts', { skip, timeout: 600_000 }, () => {
  let etcd: TestEtcd;
  const hosts: FleetHost[] = [];
  const names = ['web-1', 'web-2', 'web-3', 'web-4', 'web-5'];

  /** Every host but the ones named keeps its files and content, and never took a turn for revision `n`. */
  const untouched = async (n: number, except: string[], before: Map<string, Map<string, { bytes: Buffer; mode: number }>>, text: string) => {
    for (const h of hosts) {
      if (except.includes(h.name)) continue;
      assert.equal(turnsOf(h, n).length, 0, `${h.name} took no turn for revision ${n}`);
      assert.equal(h.daemon.lines.filter((l) => l.msg === 'fleet: turn: applying the revision' && l.fleet_revision === n).length, 0, `${h.name} never started`);
      const now = snapshot(h.fleetDir);
      const was = before.get(h.name)!;
      assert.deepEqual([...now.keys()].sort(), [...was.keys()].sort(), `${h.name}: the same files`);
      for (const [rel, f] of was) assert.ok(now.get(rel)!.bytes.equals(f.bytes), `${h.name}: ${rel} unchanged`);
      assert.equal(await h.site(), text, `${h.name} still serves ${text}`);
    }
  };
  const snapshots = () => new Map(hosts.map((h) => [h.name, snapshot(h.fleetDir)]));

  before(async () => {
    etcd = await startEtcd(1);
    for (const name of names) {
      // web-3 lacks the local include one revision below needs.
      const localFiles: Record<string, string> = name === 'web-3' ? {} : { 'local/extra.conf': '# local settings\n' };
      // A lease of 5 s: a loaded machine stalling a daemon for a second must not make it leave the fleet mid-test.
      hosts.push(await startFleetHost({ name, endpoints: etcd.endpoints, localFiles, healthFor: '300ms', leaseTtl: '5s' }));
    }
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await etcd?.close();
  });

  it('a good revision: the canary first and alone, then batches of 2 by name; never more than 2 at once (from the hosts own timestamps)', async () => {
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--batch', '2', '--wait'], stage({ 'site.conf': siteConf('v1') }));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /rollout nginx-1 from revision 0 \(canary 1, batch 2\)/);
    assert.match(r.stdout, /^web-1: done \(canary\)$/m);
    assert.match(r.stdout, /^rollout nginx-1: done$/m);
    const turns = hosts.flatMap((h) => turnsOf(h, 1));
    assert.deepEqual(turns.map((t) => t.host).sort(), names, 'each host took exactly one turn');
    assert.ok(
      turns.every((t) => t.ok),
      'every turn ended well',
    );
    const byHost = new Map(turns.map((t) => [t.host, t]));
    const canary = byHost.get('web-1')!;
    for (const t of turns) if (t !== canary) assert.ok(t.start >= canary.end, `${t.host} started (${t.start}) after the canary ended (${canary.end})`);
    assert.ok(maxOverlap(turns) <= 2, `at most 2 applying at once, saw ${maxOverlap(turns)}`);
    const firstBatchEnd = Math.max(byHost.get('web-2')!.end, byHost.get('web-3')!.end);
    for (const h of ['web-4', 'web-5']) assert.ok(byHost.get(h)!.start >= firstBatchEnd, `${h} waited for the batch web-2, web-3`);
    for (const h of hosts) await serving(h, 'v1');

    const s = await fleetStatusOf(etcd.endpoints);
    const t = s.targets.nginx!;
    assert.equal(t.revision, 1);
    assert.ok(t.driver !== null && names.includes(t.driver), `a host drives: ${t.driver}`);
    assert.equal(t.rollout!.state, 'done');
    assert.deepEqual(t.rollout!.canaries, ['web-1']);
    assert.equal(t.rollout!.counts.done, 5);
    const table = await fleetCli(etcd.endpoints, ['status']);
    assert.match(table.stdout, /nginx: revision 1, desired 1; rollout nginx-1 \(0 -> 1\) done; driver web-\d/);
    assert.match(table.stdout, /HOST\s+ALIVE\s+TARGET\s+REVISION\s+STATUS\s+WHEN\s+ROLLOUT/);
    assert.match(table.stdout, /web-4\s+yes\s+nginx\s+1\s+done\s+\S.*\s+done/);
    const metrics = await (await fetch(`${hosts[3]!.http}/metrics`)).text();
    assert.match(metrics, /^reloadkit_fleet_rollout_state\{target="nginx",state="done"\} 1$/m);
    const driving = await Promise.all(
      hosts.map(async (h) => /^reloadkit_fleet_driver\{target="nginx"\} 1$/m.test(await (await fetch(`${h.http}/metrics`)).text())),
    );
    assert.equal(driving.filter(Boolean).length, 1, 'exactly one host says it drives');
  });

  it('a revision failing nginx -t halts at the canary: restored and serving the old content; no other host touched', async () => {
    const before = snapshots();
    const r = await fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--batch', '4', '--wait'],
      stage({ 'site.conf': `${siteConf('bad')}no_such_directive 1;\n` }),
    );
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^rollout nginx-2: halted \(web-1: check: validation_failed.*no_such_directive/m);
    const canary = hosts[0]!;
    assert.equal(canary.failed(2).length, 1);
    await serving(canary, 'v1');
    const c = snapshot(canary.fleetDir);
    for (const [rel, f] of before.get('web-1')!) assert.ok(c.get(rel)!.bytes.equals(f.bytes), `web-1: ${rel} restored byte for byte`);
    await untouched(2, ['web-1'], before, 'v1');
    const s = await fleetStatusOf(etcd.endpoints);
    const ro = s.targets.nginx!.rollout!;
    assert.equal(ro.state, 'halted');
    assert.deepEqual(ro.failure && { host: ro.failure.host, step: ro.failure.step }, { host: 'web-1', step: 'check' });
    assert.match(ro.failure!.message, /no_such_directive/);
    assert.deepEqual(ro.hosts, { 'web-1': 'failed', 'web-2': 'pending', 'web-3': 'pending', 'web-4': 'pending', 'web-5': 'pending' });
    assert.equal(s.targets.nginx!.revision, 1, 'the fleet stays on revision 1');
    // The reason is in the driver's log and in every host's metrics.
    const halt = hosts.flatMap((h) => h.daemon.lines).find((l) => l.msg === 'fleet: rollout halted' && l.rollout === 'nginx-2');
    assert.ok(halt, 'the driver logged the halt');
    assert.equal(halt.host, 'web-1');
    assert.equal(halt.step, 'check');
    await waitFor(
      async () =>
        /^reloadkit_fleet_rollout_halted\{target="nginx",host="web-1",step="check"\} 1$/m.test(await (await fetch(`${hosts[4]!.http}/metrics`)).text()),
      'the halt in the metrics of another host',
    );
  });

  it('a revision that passes nginx -t but fails the health gate (a dead upstream) halts at the canary; no other host touched', async () => {
    const before = snapshots();
    const dead = await freePort();
    const conf = `location = /healthz { proxy_pass http://127.0.0.1:${dead}; }\n${siteConf('gate')}`;
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--batch', '4', '--wait'], stage({ 'site.conf': conf }));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^web-1: failed \(canary\): health: health gate: GET http:\/\/127\.0\.0\.1:\d+\/healthz answered 502/m);
    // The canary served it (its pass succeeded) until the gate failed, then was reloaded back.
    const canary = hosts[0]!;
    const passes = canary.daemon.passes('nginx').filter((p) => p.trigger === 'api');
    assert.deepEqual(
      passes.slice(-2).map((p) => p.status),
      ['full_success', 'full_success'],
      'the revision was reloaded, then the restored files',
    );
    await serving(canary, 'v1');
    await untouched(3, ['web-1'], before, 'v1');
    const ro = (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!;
    assert.equal(ro.failure!.step, 'health');
  });

  it('a revision failing only on the 3rd host halts there: hosts 1-2 stay on it, 4-5 untouched', async () => {
    const before = snapshots();
    const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--wait'], stage({ 'site.conf': `include local/extra.conf;\n${siteConf('v4')}` }));
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^web-3: failed: check: .*extra\.conf/m);
    assert.match(r.stdout, /^rollout nginx-4: halted \(web-3: check: /m);
    await serving(hosts[0]!, 'v4');
    await serving(hosts[1]!, 'v4');
    await serving(hosts[2]!, 'v1');
    await untouched(4, ['web-1', 'web-2', 'web-3'], before, 'v1');
    const s = await fleetStatusOf(etcd.endpoints);
    assert.deepEqual(s.targets.nginx!.rollout!.hosts, { 'web-1': 'done', 'web-2': 'done', 'web-3': 'failed', 'web-4': 'pending', 'web-5': 'pending' });
    // Hosts done stay on the revision (no convergence back while it is the latest rollout's).
    assert.equal(s.hosts['web-1']!.targets.nginx!.revision, 4);
    assert.equal(s.targets.nginx!.revision, 1);
  });

  it('rollback returns them (a new rollout, same order); pause, resume, abort; a second push is refused while one is paused', async () => {
    const rb = await fleetCli(etcd.endpoints, ['rollback', 'nginx', '--wait']);
    assert.equal(rb.code, 0, rb.stdout + rb.stderr);
    assert.match(rb.stdout, /rollback of nginx: rollout nginx-5 from revision 1 to revision 1/);
    assert.match(rb.stdout, /^web-3: done \(already on it\)$/m);
    for (const h of hosts) await serving(h, 'v1');
    assert.equal(hosts[0]!.applied(1).length, 2, 'web-1 applied revision 1 again');
    assert.equal(hosts[4]!.applied(1).length, 1, 'web-5 was already on it');

    // A slow rollout: each host holds its gate 2 s. Followed in the background (exit 1 once aborted).
    const slow = fleetCli(
      etcd.endpoints,
      ['push', 'nginx', 'site.conf', '--health-wait', '2s', '--wait', '--wait-timeout', '3m'],
      stage({ 'site.conf': siteConf('v6') }),
    );
    await waitFor(async () => (await fleetStatusOf(etcd.endpoints)).targets.nginx?.rollout?.hosts['web-1'] === 'applying', 'web-1 applying revision 5');
    const p = await fleetCli(etcd.endpoints, ['pause', 'nginx']);
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout, /rollout nginx-6 of nginx: paused/);
    // The pause lands during the canary's turn or, on a loaded machine, a later host's: the host applying
    // finishes its turn, and nothing else starts while paused.
    const paused = await rolloutIn(etcd.endpoints, ['paused'], 'paused');
    const atPause = paused.targets.nginx!.rollout!;
    assert.ok(atPause.counts.applying <= 1, `at most one host applying (batch 1): ${JSON.stringify(atPause.hosts)}`);
    assert.ok(atPause.counts.pending >= 2, `the pause landed early enough to test it: ${JSON.stringify(atPause.hosts)}`);
    let held: Record<string, string> = {};
    await waitFor(
      async () => {
        held = (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.hosts;
        return held['web-1'] === 'done' && !Object.values(held).includes('applying');
      },
      'the hosts applying finishing while paused',
      30_000,
    );
    const doneAtPause = names.filter((n) => held[n] === 'done');
    // A quiet window longer than a host's turn: nothing may start in it (an absence can only be watched for a while).
    await new Promise((r) => setTimeout(r, 3000));
    let s = await fleetStatusOf(etcd.endpoints);
    assert.equal(s.targets.nginx!.rollout!.state, 'paused');
    assert.deepEqual(s.targets.nginx!.rollout!.hosts, held, 'no host starts while paused');
    for (const h of hosts) if (!doneAtPause.includes(h.name)) assert.equal(turnsOf(h, 5).length, 0, `${h.name} took no turn while paused`);

    const hist = JSON.parse((await fleetCli(etcd.endpoints, ['history', 'nginx', '--json'])).stdout) as { revisions: unknown[] };
    const second = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf'], stage({ 'site.conf': siteConf('v7') }));
    assert.equal(second.code, 2, second.stdout + second.stderr);
    assert.match(second.stderr, /push refused: rollout nginx-6 of nginx \(revision 1 -> 5\) is paused; .*reloadkit fleet abort nginx; nothing stored/);
    const hist2 = JSON.parse((await fleetCli(etcd.endpoints, ['history', 'nginx', '--json'])).stdout) as { revisions: unknown[] };
    assert.equal(hist2.revisions.length, hist.revisions.length, 'nothing stored');

    assert.equal((await fleetCli(etcd.endpoints, ['resume', 'nginx'])).code, 0);
    const next = names.find((n) => !doneAtPause.includes(n))!;
    await waitFor(async () => (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.hosts[next] === 'applying', `${next} starting after resume`);
    const a = await fleetCli(etcd.endpoints, ['abort', 'nginx']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /rollout nginx-6 of nginx: aborted/);
    const followed = await slow;
    assert.equal(followed.code, 1, 'push --wait of an aborted rollout exits 1');
    assert.match(followed.stdout, /^rollout nginx-6: paused$/m);
    assert.match(followed.stdout, /^rollout nginx-6: running$/m);
    assert.match(followed.stdout, /^rollout nginx-6: aborted \(aborted by /m);
    // The host applying finishes its turn; nobody else starts.
    await waitFor(
      async () => (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.hosts[next] === 'done',
      `${next} finishing after the abort`,
      30_000,
    );
    s = await fleetStatusOf(etcd.endpoints);
    const expected = Object.fromEntries(names.map((n) => [n, doneAtPause.includes(n) || n === next ? 'done' : 'pending']));
    assert.deepEqual(s.targets.nginx!.rollout!.hosts, expected);
    for (const cmd of ['abort', 'pause', 'resume']) {
      const again = await fleetCli(etcd.endpoints, [cmd, 'nginx']);
      assert.equal(again.code, 2, `${cmd} of an aborted rollout`);
      assert.match(again.stderr, new RegExp(`cannot ${cmd} rollout nginx-6 of nginx: it is aborted`));
    }
    // Roll the two hosts back.
    const back = await fleetCli(etcd.endpoints, ['rollback', 'nginx', '--batch', '5', '--wait']);
    assert.equal(back.code, 0, back.stdout + back.stderr);
    for (const h of hosts) await serving(h, 'v1');
    const end = await fleetStatusOf(etcd.endpoints);
    assert.equal(end.targets.nginx!.rollout!.kind, 'rollback');
    assert.equal(end.targets.nginx!.revision, 1);
    for (const h of Object.values(end.hosts)) assert.equal(h.targets.nginx!.revision, 1);
  });
});
