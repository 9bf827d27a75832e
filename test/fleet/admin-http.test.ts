// The fleet on the admin HTTP of real daemons (the built CLI, real etcd,
// real nginx): `event: fleet` on GET /events (on connect, and after a push
// as the rollout goes), POST /fleet/pause|resume|abort with the same gate
// as POST /reload (403 when disabled, 401 without the token), 400 for an
// unknown target, 409 when the rollout's state does not allow it, 404
// without a fleet; and a daemon without a fleet sends no fleet event.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { etcdOrSkip, startEtcd, type TestEtcd } from '../helpers/etcd.js';
import { openEvents, type SseClient } from '../admin/sse.js';
import { startDaemon, type DaemonHandle } from '../integration/daemon-process.js';
import { freePort, nginxOrSkip, waitFor } from '../integration/helpers.js';
import { connected, FLEET, fleetCli, fleetStatusOf, getJson, rolloutIn, siteConf, stage, startFleetHost, type FleetHost } from './support.js';
import type { FleetStatus } from '../../src/fleet/status.js';

const skip = etcdOrSkip() || nginxOrSkip();
const TOKEN = 'fleet-token-0815';

async function post(url: string, token?: string): Promise<{ status: number; body: { status: string; message?: string; rollout?: string; state?: string } }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as { status: string; message?: string; rollout?: string; state?: string } };
}

const fleetEvents = (c: SseClient) => c.events.filter((e) => e.event === 'fleet').map((e) => e.data as FleetStatus);

describe('fleet on the admin HTTP: event: fleet and POST /fleet/*', { skip, timeout: 300_000 }, () => {
  let etcd: TestEtcd;
  const hosts: FleetHost[] = [];
  let tmp = '';

  before(async () => {
    etcd = await startEtcd(1);
    tmp = mkdtempSync(join(tmpdir(), 'rk-fleet-http-'));
    writeFileSync(join(tmp, 'token'), `${TOKEN}\n`);
    // web-1 offers the commands (with a token); web-2 does not (http_reload off).
    hosts.push(
      await startFleetHost({ name: 'web-1', endpoints: etcd.endpoints, healthFor: '300ms', admin: `  http_reload: true\n  token_file: ${tmp}/token\n` }),
      await startFleetHost({ name: 'web-2', endpoints: etcd.endpoints, healthFor: '300ms' }),
    );
    await Promise.all(hosts.map((h) => connected(h)));
  });

  after(async () => {
    await Promise.all(hosts.map((h) => h.close()));
    await etcd?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('GET /events sends the fleet (as GET /fleet gives it) on connect, then each change of a push host by host', async () => {
    const [h1] = hosts as [FleetHost];
    const sse = await openEvents(`${h1.http}/events`);
    try {
      assert.equal(sse.status, 200);
      const first = (await sse.next((e) => e.event === 'fleet', 'the fleet on connect')).data as FleetStatus;
      assert.equal(first.fleet, FLEET);
      assert.equal(first.connected, true);
      assert.deepEqual(Object.keys(first.hosts).sort(), ['web-1', 'web-2']);
      // The same JSON as GET /fleet (nothing changes meanwhile).
      await waitFor(async () => {
        const g = await getJson<FleetStatus>(`${h1.http}/fleet`);
        return JSON.stringify(g.body) === JSON.stringify(fleetEvents(sse).at(-1));
      }, 'GET /fleet equal to the last fleet event');

      const from = sse.events.length;
      const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '-m', 'live', '--health-wait', '1s'], stage({ 'site.conf': siteConf('v1') }));
      assert.equal(r.code, 0, r.stderr);
      await sse.next((e) => e.event === 'fleet' && (e.data as FleetStatus).targets.nginx?.rollout?.state === 'done', 'the rollout done', from, 60_000);
      const seen = sse.events
        .slice(from)
        .filter((e) => e.event === 'fleet')
        .map((e) => e.data as FleetStatus);
      const pairs = seen.map((s) => `${s.targets.nginx?.rollout?.hosts['web-1']}/${s.targets.nginx?.rollout?.hosts['web-2']}`);
      // Host by host: the canary applying while the other waits, then the other applying after the canary is done.
      assert.ok(pairs.includes('applying/pending'), `web-1 applying while web-2 pending: ${pairs.join(' ')}`);
      assert.ok(pairs.includes('done/applying'), `web-2 applying once web-1 is done: ${pairs.join(' ')}`);
      assert.ok(pairs.indexOf('applying/pending') < pairs.indexOf('done/applying'), pairs.join(' '));
      const last = seen.at(-1)!;
      assert.deepEqual(last.targets.nginx!.rollout!.counts, { pending: 0, applying: 0, done: 2, failed: 0, lost: 0 });
      assert.equal(last.hosts['web-2']!.targets.nginx!.revision, 1);
      // Pushed only on change, at most every 250 ms.
      const at = sse.events.filter((e) => e.event === 'fleet').map((e) => e.at);
      for (let i = 1; i < at.length; i++) assert.ok(at[i]! - at[i - 1]! >= 200, `fleet events ${at[i]! - at[i - 1]!} ms apart`);
      const texts = fleetEvents(sse).map((s) => JSON.stringify(s));
      for (let i = 1; i < texts.length; i++) assert.notEqual(texts[i], texts[i - 1], 'never the same JSON twice in a row');
    } finally {
      sse.close();
    }
  });

  it('POST /fleet/*: 403 when disabled, 401 without the right token, 400 for an unknown or missing target, 409 when the state does not allow it', async () => {
    const [h1, h2] = hosts as [FleetHost, FleetHost];
    const off = await post(`${h2.http}/fleet/pause?target=nginx`, TOKEN);
    assert.equal(off.status, 403);
    assert.equal(off.body.message, 'fleet pause over HTTP is disabled');
    for (const token of [undefined, 'wrong']) {
      const r = await post(`${h1.http}/fleet/pause?target=nginx`, token);
      assert.equal(r.status, 401, String(token));
      assert.equal(r.body.message, 'unauthorized: missing or wrong bearer token');
    }
    const unknown = await post(`${h1.http}/fleet/pause?target=nope`, TOKEN);
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.message, 'unknown fleet target: nope');
    const missing = await post(`${h1.http}/fleet/abort`, TOKEN);
    assert.equal(missing.status, 400);
    assert.match(missing.body.message!, /needs \?target=TARGET/);
    // The last rollout is done: nothing to pause or resume, as the CLI says.
    const state = (await fleetStatusOf(etcd.endpoints)).targets.nginx?.rollout;
    assert.equal(state?.state, 'done');
    const done = await post(`${h1.http}/fleet/pause?target=nginx`, TOKEN);
    assert.equal(done.status, 409);
    assert.equal(done.body.message, `cannot pause rollout ${state.id} of nginx: it is done`);
    const cliSays = await fleetCli(etcd.endpoints, ['pause', 'nginx']);
    assert.equal(cliSays.code, 2);
    assert.equal(cliSays.stderr.trim(), `reloadkit: ${done.body.message}`);
    const get = await fetch(`${h1.http}/fleet/pause?target=nginx`);
    assert.equal(get.status, 405);
  });

  it('pause, resume and abort change the rollout in etcd; each change reaches the event stream', async () => {
    const [h1] = hosts as [FleetHost];
    const sse = await openEvents(`${h1.http}/events`);
    try {
      await sse.next((e) => e.event === 'fleet', 'the fleet on connect');
      // A slow health gate: the canary's turn takes 4 s, time enough to pause before web-2 starts.
      const r = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--health-wait', '4s'], stage({ 'site.conf': siteConf('v2') }));
      assert.equal(r.code, 0, r.stderr);
      await rolloutIn(etcd.endpoints, ['running'], 'rollout 2 running');
      const paused = await post(`${h1.http}/fleet/pause?target=nginx`, TOKEN);
      assert.equal(paused.status, 200, JSON.stringify(paused.body));
      assert.deepEqual(paused.body, { status: 'ok', target: 'nginx', rollout: 'nginx-2', state: 'paused' });
      assert.equal((await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.state, 'paused');
      await sse.next((e) => e.event === 'fleet' && (e.data as FleetStatus).targets.nginx?.rollout?.state === 'paused', 'paused on the stream');
      // Paused: the canary finishes its turn, web-2 does not start.
      await waitFor(async () => (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!.hosts['web-1'] === 'done', 'the canary done');
      const st = await fleetCli(etcd.endpoints, ['status', '--json']);
      const s = JSON.parse(st.stdout) as FleetStatus;
      assert.equal(s.targets.nginx!.rollout!.state, 'paused');
      assert.equal(s.targets.nginx!.rollout!.hosts['web-2'], 'pending');
      assert.equal((await post(`${h1.http}/fleet/pause?target=nginx`, TOKEN)).status, 409, 'paused twice');

      const resumed = await post(`${h1.http}/fleet/resume?target=nginx`, TOKEN);
      assert.equal(resumed.status, 200, JSON.stringify(resumed.body));
      assert.equal(resumed.body.state, 'running');
      await rolloutIn(etcd.endpoints, ['done'], 'rollout 2 done after resume');

      const again = await fleetCli(etcd.endpoints, ['push', 'nginx', 'site.conf', '--health-wait', '4s'], stage({ 'site.conf': siteConf('v3') }));
      assert.equal(again.code, 0, again.stderr);
      await rolloutIn(etcd.endpoints, ['running'], 'rollout 3 running');
      const aborted = await post(`${h1.http}/fleet/abort?target=nginx`, TOKEN);
      assert.equal(aborted.status, 200, JSON.stringify(aborted.body));
      assert.equal(aborted.body.state, 'aborted');
      const end = (await fleetStatusOf(etcd.endpoints)).targets.nginx!.rollout!;
      assert.equal(end.state, 'aborted');
      assert.match(end.reason!, /^aborted by http 127\.0\.0\.1$/);
      await sse.next((e) => e.event === 'fleet' && (e.data as FleetStatus).targets.nginx?.rollout?.state === 'aborted', 'aborted on the stream');
      assert.equal((await post(`${h1.http}/fleet/resume?target=nginx`, TOKEN)).status, 409, 'an aborted rollout cannot resume');
    } finally {
      sse.close();
    }
  });

  it('a daemon without a fleet: no fleet event on the stream, POST /fleet/* is 404, GET /fleet is 404', async () => {
    const dir = mkdtempSync(join(tmp, 'plain-'));
    const port = await freePort();
    writeFileSync(join(dir, 'app.conf'), 'a\n');
    writeFileSync(
      join(dir, 'reloadkit.yaml'),
      `state_dir: ./state
admin:
  socket: ./admin.sock
  http: 127.0.0.1:${port}
  http_reload: true
targets:
  app:
    kind: command
    watch: [./app.conf]
    reload: ["true"]
`,
    );
    const d: DaemonHandle = await startDaemon({ args: ['-c', join(dir, 'reloadkit.yaml')], socket: join(dir, 'admin.sock') });
    const base = `http://127.0.0.1:${port}`;
    const sse = await openEvents(`${base}/events`);
    try {
      await sse.next((e) => e.event === 'status', 'the status on connect');
      await d.send('reload app');
      const pass = await sse.next((e) => e.event === 'pass', 'the pass');
      // The status snapshot that follows a pass (500 ms later) comes after anything pushed at connect.
      await sse.next((e) => e.event === 'status', 'the status after the pass', sse.events.indexOf(pass) + 1);
      assert.deepEqual(
        sse.events.map((e) => e.event).filter((e) => e === 'fleet'),
        [],
      );
      const r = await post(`${base}/fleet/pause?target=app`);
      assert.equal(r.status, 404);
      assert.equal(r.body.message, 'no fleet configured');
      assert.equal((await fetch(`${base}/fleet`)).status, 404);
    } finally {
      sse.close();
      await d.stop();
    }
  });
});
