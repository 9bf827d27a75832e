// The rollout state machine as pure logic (src/fleet/rollout.ts and the
// commands of src/fleet/control.ts) against an in-memory store with etcd's
// transaction semantics: a few schedules by hand, then randomized ones
// (fast-check) with injected failures, hangs (the turn times out), host
// deaths and restarts, drivers acting on stale views, drivers of dead
// sessions still trying to act, pause, resume and abort, and a rollback right
// after a halt or abort (refused while a host still applies). Checked on every
// run: never more than K hosts applying (in the store, and as the hosts ran
// them), a canary applying alone, no host started twice in one session,
// nothing started after a halt or abort or while paused, no batch before a
// canary is done, a halt only after a failure, and at the end every live
// host on exactly one of the two revisions (and on the rollout's own when
// it is done).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { steerRollout, startRollback, storeRevision } from '../../src/fleet/control.js';
import { driverKey, hostKey, hostsPrefix, revisionKey, rolloutKey, targetPrefix, turnKey, turnsPrefix } from '../../src/fleet/keys.js';
import type { HostRecord, HostTargetStatus, RolloutRecord, TurnRecord } from '../../src/fleet/records.js';
import { campaignTxn, driveStep, KvCache, nextAction, reportTxn, rolloutView, type Versioned } from '../../src/fleet/rollout.js';
import { fleetStatusFrom } from '../../src/fleet/status.js';
import { MemoryStore } from './memory-store.js';

const FLEET = 'web';
const T = 'nginx';
const TURN_TIMEOUT_MS = 40_000;

interface SimHost {
  name: string;
  labels: Record<string, string>;
  alive: boolean;
  session: string;
  sessions: number;
  revision: number;
  status: HostTargetStatus;
  /** The turn being applied: `finished` once the apply ended (the record is published), then reported. */
  work: { turn: Versioned<TurnRecord>; finished: boolean; ok: boolean } | null;
  taken: Set<string>;
  failsNew: boolean;
  hangsNew: boolean;
}

interface SimDriver {
  host: string;
  session: string;
  cache: KvCache;
}

/** One fleet of simulated hosts around a MemoryStore; every step is one thing a real process would do. */
class Sim {
  readonly store = new MemoryStore();
  readonly hosts: SimHost[] = [];
  readonly drivers: SimDriver[] = [];
  /** Every apply a host started: host, session, rollout, revision. */
  readonly applies: string[] = [];
  /** Applies that started next to more hosts really applying (by the hosts, not the store) than the rollout allows. */
  readonly overlaps: string[] = [];
  now = Date.parse('2026-01-01T00:00:00Z');
  from = 1;
  to = 2;

  constructor(o: { hosts: number; labelled: number[]; zeroAt: number[]; fails: number[]; hangs: number[] }) {
    for (let i = 0; i < o.hosts; i += 1) {
      this.hosts.push({
        name: `h${i + 1}`,
        labels: o.labelled.includes(i) ? { canary: 'true' } : {},
        alive: true,
        session: '',
        sessions: 0,
        revision: o.zeroAt.includes(i) ? 0 : 1,
        status: o.zeroAt.includes(i) ? 'idle' : 'done',
        work: null,
        taken: new Set(),
        failsNew: o.fails.includes(i),
        hangsNew: o.hangs.includes(i),
      });
    }
    for (const h of this.hosts) this.register(h);
  }

  register(h: SimHost): void {
    h.sessions += 1;
    h.session = `${h.name}-s${h.sessions}`;
    h.alive = true;
    h.work = null;
    if (h.status === 'applying' || h.status === 'failed') h.status = h.revision > 0 ? 'done' : 'idle';
    this.publish(h);
    this.drivers.push({ host: h.name, session: h.session, cache: new KvCache() });
  }

  publish(h: SimHost): void {
    const rec: HostRecord = {
      host: h.name,
      session: h.session,
      labels: h.labels,
      version: 'test',
      started_at: '',
      targets: { [T]: { revision: h.revision, status: h.status, config_hash: '', at: '', turn_timeout_ms: TURN_TIMEOUT_MS } },
    };
    this.store.put(hostKey(FLEET, h.name), JSON.stringify(rec));
  }

  kill(h: SimHost): void {
    if (!h.alive) return;
    h.alive = false;
    // The lease expires: every key on it goes (the record, and the driver key when it drove).
    this.store.delete(hostKey(FLEET, h.name));
    if (this.store.json<{ session: string }>(driverKey(FLEET, T))?.session === h.session) this.store.delete(driverKey(FLEET, T));
  }

  refresh(d: SimDriver, which = 3): void {
    const prefixes = [hostsPrefix(FLEET), targetPrefix(FLEET, T), turnsPrefix(FLEET, T)];
    for (const [i, p] of prefixes.entries()) {
      if (which !== 3 && which !== i) continue;
      const r = this.store.rangePrefixSync(p);
      d.cache.applyRange(p, r.kvs, r.revision);
    }
  }

  /** As the real driver: the campaign transaction, then a full read of what it decides on. */
  campaign(h: SimHost): void {
    if (!h.alive) return;
    const d = this.drivers.find((x) => x.session === h.session)!;
    const t = campaignTxn(FLEET, T, { host: h.name, session: h.session, since: '' }, 'lease');
    const res = this.store.txnSync(t);
    if (res.succeeded) {
      d.cache.applyTxn(t, res.revision);
      this.refresh(d);
    }
  }

  /** One decision of driver `d` on its (possibly stale) view, the real driver's step; true when it wrote something. */
  async step(d: SimDriver): Promise<boolean> {
    const r = await driveStep(this.store, d.cache, FLEET, T, d.session, () => this.now);
    return r.kind === 'wrote';
  }

  /** The host looks at its turn key (its watch): a turn for its session starts an apply, once. */
  poll(h: SimHost): void {
    if (!h.alive || h.work) return;
    const kv = this.store.rangePrefixSync(turnKey(FLEET, T, h.name)).kvs.find((k) => k.key === turnKey(FLEET, T, h.name));
    if (!kv) return;
    const turn = JSON.parse(kv.value.toString('utf8')) as TurnRecord;
    if (turn.state !== 'applying' || turn.session !== h.session) return;
    const id = `${turn.session}|${turn.rollout}|${turn.revision}|${turn.started_at}`;
    if (h.taken.has(id)) return;
    h.taken.add(id);
    this.applies.push(`${h.name}|${h.session}|${turn.rollout}|${turn.revision}`);
    if (!turn.converge) this.checkOverlap(h, turn);
    h.work = { turn: { value: turn, mod: kv.modRevision }, finished: false, ok: false };
    h.status = 'applying';
    this.publish(h);
  }

  /**
   * A rollout's host starts applying: the live hosts still in an apply whose
   * turn has not passed its deadline (any rollout's, or converging) count
   * against it: fewer than the rollout's batch next to it, and no other
   * rollout's host next to a canary (a host converging after an abort may
   * overlap a canary whose turn was started before it, as in checkLog).
   */
  checkOverlap(h: SimHost, turn: TurnRecord): void {
    const others = this.hosts.filter(
      (o) => o !== h && o.alive && o.work && !o.work.finished && this.now < Date.parse(o.work.turn.value.started_at) + o.work.turn.value.deadline_ms,
    );
    const batch = this.rollout()?.batch ?? 1;
    if (others.length + 1 > Math.max(1, batch) || (turn.canary && others.some((o) => !o.work!.turn.value.converge)))
      this.overlaps.push(
        `${h.name} (${turn.rollout}${turn.canary ? ', canary' : ''}) started while ${others.map((o) => `${o.name} (${o.work!.turn.value.rollout})`).join(', ')} applied`,
      );
  }

  /** The apply ends (a hang never does): the host publishes what it runs now. */
  finish(h: SimHost): void {
    if (!h.alive || !h.work || h.work.finished) return;
    const rev = h.work.turn.value.revision;
    if (rev === this.to && h.hangsNew) return;
    const ok = !(rev === this.to && h.failsNew);
    h.work.finished = true;
    h.work.ok = ok;
    if (ok) h.revision = rev;
    h.status = ok ? 'done' : 'failed';
    this.publish(h);
  }

  report(h: SimHost): void {
    if (!h.alive || !h.work?.finished) return;
    const w = h.work;
    h.work = null;
    this.store.txnSync(
      reportTxn(FLEET, T, h.name, w.turn, w.ok ? { state: 'done' } : { state: 'failed', step: 'check', reason: 'injected' }, new Date(this.now)),
    );
  }

  rollout(): RolloutRecord | null {
    return this.store.json<RolloutRecord>(rolloutKey(FLEET, T));
  }

  /** Lets the live hosts and drivers run until nothing changes (time passes, so hung turns time out). */
  async settle(): Promise<void> {
    let quiet = 0;
    for (let round = 0; round < 400 && quiet < 60; round += 1) {
      const before = this.store.revision;
      const r = this.rollout();
      if (r?.state === 'paused') await steerRollout(this.store, FLEET, T, 'resume', 'test');
      for (const h of this.hosts) if (h.alive && !this.store.json(driverKey(FLEET, T))) this.campaign(h);
      for (const d of this.drivers) {
        const h = this.hosts.find((x) => x.name === d.host)!;
        if (!h.alive || h.session !== d.session) continue;
        this.refresh(d);
        for (let i = 0; i < 50 && (await this.step(d)); i += 1);
      }
      for (const h of this.hosts) {
        this.poll(h);
        this.finish(h);
        this.report(h);
      }
      this.now += 1000;
      quiet = this.store.revision === before ? quiet + 1 : 0;
    }
  }
}

/** Checks the invariants over the store's write log. */
function checkLog(sim: Sim, o: { batch: number }): void {
  const turns = new Map<string, TurnRecord>();
  let rollout: RolloutRecord | null = null;
  let stoppedAt: string | null = null;
  assert.deepEqual(sim.overlaps, [], 'hosts applying at once, as the hosts ran them');
  const started = new Set<string>();
  let canaryDone = false;
  const byRevision = new Map<number, typeof sim.store.log>();
  for (const w of sim.store.log) byRevision.set(w.revision, [...(byRevision.get(w.revision) ?? []), w]);
  for (const [rev, writes] of [...byRevision].sort(([a], [b]) => a - b)) {
    for (const w of writes) {
      if (w.key === rolloutKey(FLEET, T) && w.value) {
        const next = JSON.parse(w.value) as RolloutRecord;
        if (next.id !== rollout?.id) {
          // A new rollout (a rollback after a halt or abort): its own stop and canaries.
          stoppedAt = null;
          canaryDone = false;
        }
        rollout = next;
        if ((rollout.state === 'halted' || rollout.state === 'aborted') && stoppedAt === null) stoppedAt = rollout.state;
      }
      if (!w.key.startsWith(turnsPrefix(FLEET, T))) continue;
      const host = w.key.slice(turnsPrefix(FLEET, T).length);
      if (w.value === null) {
        turns.delete(host);
        continue;
      }
      const t = JSON.parse(w.value) as TurnRecord;
      turns.set(host, t);
      // A canary already on the revision (a rollback to what it runs) is done without applying: its turn is recorded skipped.
      if (t.state === 'done' && !t.converge && (t.canary || (t.skipped && rollout?.canaries?.includes(host)))) canaryDone = true;
      // Every write of an applying turn is a start (the driver never rewrites one that applies).
      if (t.state !== 'applying') continue;
      const id = `${host}|${t.session}|${t.rollout}|${t.revision}`;
      assert.ok(!started.has(id), `started twice in one session: ${id} (revision ${rev})`);
      started.add(id);
      if (t.converge) continue;
      assert.equal(stoppedAt, null, `${host} started after the rollout was ${stoppedAt} (revision ${rev})`);
      assert.notEqual(rollout?.state, 'paused', `${host} started while paused (revision ${rev})`);
      if ((rollout?.canaries?.length ?? 0) > 0 && !t.canary)
        assert.ok(canaryDone, `${host} started in batch ${t.batch} before any canary was done (revision ${rev})`);
    }
    const applying = [...turns.values()].filter((t) => t.state === 'applying');
    assert.ok(applying.length <= Math.max(1, o.batch), `${applying.length} applying at once with batch ${o.batch} (revision ${rev})`);
    // A canary applies alone among the rollout's hosts (a host converging after an abort or halt may overlap its end).
    if (applying.some((t) => t.canary && !t.converge)) assert.equal(applying.filter((t) => !t.converge).length, 1, `a canary applies alone (revision ${rev})`);
  }
  // A host applies a turn at most once per session, whatever the store says.
  assert.equal(new Set(sim.applies).size, sim.applies.length, `a host applied one turn twice: ${sim.applies.join(', ')}`);
  const final = sim.rollout()!;
  if (final.state === 'halted') {
    assert.ok(
      sim.store.log.some((w) => w.key.startsWith(turnsPrefix(FLEET, T)) && w.value !== null && (JSON.parse(w.value) as TurnRecord).state === 'failed'),
      'halted only after a failure',
    );
  }
  for (const h of sim.hosts) {
    // A host stuck in an apply that never ends (its turn timed out) goes nowhere until it is restarted.
    if (!h.alive || (h.work && !h.work.finished)) continue;
    // A convergence turn that timed out before the host took it up is not offered again in this
    // session (no retry loop against a host that does not answer): the host stays where it was,
    // reported failed, until it restarts.
    const last = sim.store.json<TurnRecord>(turnKey(FLEET, T, h.name));
    if (last && last.session === h.session && last.converge && last.state === 'failed' && last.step === 'timeout') continue;
    assert.ok(
      h.revision === sim.from || h.revision === sim.to,
      `${h.name} ends on revision ${h.revision}, not ${sim.from} or ${sim.to} (rollout ${final.state})`,
    );
    // Done: every host is on the new revision, but one that joined late and failed it (it converges, and may fail).
    if (final.state === 'done' && !(h.failsNew && final.to === sim.to))
      assert.equal(h.revision, final.to, `${h.name} on the rollout's revision after it is done`);
  }
}

async function newRollout(sim: Sim, batch: number, canary: number): Promise<void> {
  // The fleet's current revision is 1 (hosts at 0 converge to it); the push starts the rollout to 2.
  sim.store.put(revisionKey(FLEET, T, 1), 'revision 1');
  sim.store.put(`${targetPrefix(FLEET, T)}current`, JSON.stringify({ revision: 1 }));
  sim.store.put(`${targetPrefix(FLEET, T)}head`, JSON.stringify({ revision: 1, rollouts: 1 }));
  const r = await storeRevision(sim.store, [{ path: 'site.conf', bytes: Buffer.from('x') }], {
    fleet: FLEET,
    target: T,
    author: 'test',
    message: '',
    rollout: { batch, canary },
  });
  assert.equal(r.rollout.from, 1);
  assert.equal(r.revision, 2);
}

describe('fleet rollouts: the state machine by hand', () => {
  it('5 hosts, batch 2: canary h1 alone, then [h2 h3], then [h4 h5]; done; current is 2', async () => {
    const sim = new Sim({ hosts: 5, labelled: [], zeroAt: [], fails: [], hangs: [] });
    await newRollout(sim, 2, 1);
    await sim.settle();
    const starts = sim.store.log
      .filter((w) => w.key.startsWith(turnsPrefix(FLEET, T)) && w.value && (JSON.parse(w.value) as TurnRecord).state === 'applying')
      .map((w) => ({ rev: w.revision, host: w.key.split('/').at(-1)!, batch: (JSON.parse(w.value!) as TurnRecord).batch }));
    const batches = new Map<number, string[]>();
    for (const s of starts) batches.set(s.batch, [...(batches.get(s.batch) ?? []), s.host]);
    assert.deepEqual(
      [...batches],
      [
        [0, ['h1']],
        [1, ['h2', 'h3']],
        [2, ['h4', 'h5']],
      ],
    );
    assert.equal(sim.rollout()!.state, 'done');
    assert.deepEqual(sim.store.json(`${targetPrefix(FLEET, T)}current`), { revision: 2 });
    checkLog(sim, { batch: 2 });
  });

  it('labelled canaries go first, one at a time, even when not first by name', async () => {
    const sim = new Sim({ hosts: 4, labelled: [2, 3], zeroAt: [], fails: [], hangs: [] });
    await newRollout(sim, 4, 1);
    await sim.settle();
    const order = sim.store.log
      .filter((w) => w.key.startsWith(turnsPrefix(FLEET, T)) && w.value && (JSON.parse(w.value) as TurnRecord).state === 'applying')
      .map((w) => w.key.split('/').at(-1));
    assert.deepEqual(order, ['h3', 'h4', 'h1', 'h2']);
    assert.deepEqual(sim.rollout()!.canaries, ['h3', 'h4']);
  });

  it('a failure on the 3rd host halts there with its reason: h1, h2 on 2; h4, h5 never started', async () => {
    const sim = new Sim({ hosts: 5, labelled: [], zeroAt: [], fails: [2], hangs: [] });
    await newRollout(sim, 1, 1);
    await sim.settle();
    const r = sim.rollout()!;
    assert.equal(r.state, 'halted');
    assert.deepEqual(r.reason, { host: 'h3', step: 'check', message: 'injected' });
    assert.deepEqual(
      sim.hosts.map((h) => h.revision),
      [2, 2, 1, 1, 1],
    );
    assert.deepEqual(sim.applies.map((a) => a.split('|')[0]).sort(), ['h1', 'h2', 'h3']);
    const status = fleetStatusFrom(cacheOf(sim), FLEET).targets[T]!;
    assert.equal(status.revision, 1, 'the fleet revision stays the one the last completed rollout reached');
    assert.deepEqual(status.rollout!.hosts, { h1: 'done', h2: 'done', h3: 'failed', h4: 'pending', h5: 'pending' });
    assert.equal(status.rollout!.reason, 'h3: check: injected');
    checkLog(sim, { batch: 1 });
  });

  it('a host that never reports is timed out (failed, step timeout) and the rollout halts', async () => {
    const sim = new Sim({ hosts: 3, labelled: [], zeroAt: [], fails: [], hangs: [0] });
    await newRollout(sim, 1, 1);
    await sim.settle();
    const r = sim.rollout()!;
    assert.equal(r.state, 'halted');
    assert.equal(r.reason!.host, 'h1');
    assert.equal(r.reason!.step, 'timeout');
  });

  it('the driver dies: another takes over from the recorded state; no host applies twice', async () => {
    const sim = new Sim({ hosts: 4, labelled: [], zeroAt: [], fails: [], hangs: [] });
    await newRollout(sim, 1, 1);
    const [h1, h2] = sim.hosts;
    sim.campaign(h1!);
    const d1 = sim.drivers.find((d) => d.session === h1!.session)!;
    sim.refresh(d1);
    while (await sim.step(d1));
    sim.poll(h1!);
    sim.finish(h1!);
    sim.report(h1!);
    sim.refresh(d1);
    while (await sim.step(d1)); // h2 started
    sim.kill(h1!);
    // The dead driver's stale view cannot start anyone: its key is gone.
    sim.poll(h2!);
    sim.finish(h2!);
    sim.report(h2!);
    sim.refresh(d1);
    assert.equal(await sim.step(d1), false, 'a driver whose key is gone writes nothing');
    await sim.settle();
    assert.equal(sim.rollout()!.state, 'done');
    assert.deepEqual(sim.applies.map((a) => a.split('|')[0]).sort(), ['h1', 'h2', 'h3', 'h4']);
    checkLog(sim, { batch: 1 });
  });

  it('a host killed during its turn is lost; the rest complete; back in a new session it converges', async () => {
    const sim = new Sim({ hosts: 3, labelled: [], zeroAt: [], fails: [], hangs: [] });
    await newRollout(sim, 1, 1);
    const h2 = sim.hosts[1]!;
    // Run until h2 has its turn, then kill it mid-apply.
    for (let i = 0; i < 50 && !h2.work; i += 1) {
      for (const h of sim.hosts) if (!sim.store.json(driverKey(FLEET, T))) sim.campaign(h);
      for (const d of sim.drivers) {
        sim.refresh(d);
        while (await sim.step(d));
      }
      for (const h of sim.hosts) {
        sim.poll(h);
        if (h !== h2) {
          sim.finish(h);
          sim.report(h);
        }
      }
    }
    assert.ok(h2.work, 'h2 is applying');
    sim.kill(h2);
    await sim.settle();
    assert.equal(sim.rollout()!.state, 'done');
    const status = fleetStatusFrom(cacheOf(sim), FLEET).targets[T]!;
    assert.equal(status.rollout!.hosts.h2, 'lost');
    assert.equal(h2.revision, 1);
    sim.register(h2);
    await sim.settle();
    assert.equal(h2.revision, 2, 'converged on its return');
    checkLog(sim, { batch: 1 });
  });

  it('pause holds after the hosts applying finish; resume continues; abort stops for good', async () => {
    const sim = new Sim({ hosts: 4, labelled: [], zeroAt: [], fails: [], hangs: [] });
    await newRollout(sim, 1, 1);
    await steerRollout(sim.store, FLEET, T, 'pause', 'test');
    await assert.rejects(steerRollout(sim.store, FLEET, T, 'pause', 'test'), /cannot pause rollout nginx-2 of nginx: it is paused/);
    // settle() resumes a paused rollout; run the hosts by hand instead.
    for (let round = 0; round < 20; round += 1) {
      for (const h of sim.hosts) if (!sim.store.json(driverKey(FLEET, T))) sim.campaign(h);
      for (const d of sim.drivers) {
        sim.refresh(d);
        while (await sim.step(d));
      }
    }
    assert.equal(sim.applies.length, 0, 'nothing starts while paused');
    await steerRollout(sim.store, FLEET, T, 'resume', 'test');
    await assert.rejects(
      storeRevision(sim.store, [{ path: 'a', bytes: Buffer.from('y') }], { fleet: FLEET, target: T, author: 't', message: '' }),
      /push refused: rollout nginx-2 of nginx \(revision 1 -> 2\) is running/,
    );
    await steerRollout(sim.store, FLEET, T, 'abort', 'test');
    await sim.settle();
    assert.equal(sim.rollout()!.state, 'aborted');
    assert.equal(sim.applies.length, 0);
    // A rollback is a new rollout to the revision the last one started from.
    const rb = await startRollback(sim.store, FLEET, T, { author: 't', message: '' });
    assert.equal(rb.to, 1);
    assert.equal(rb.kind, 'rollback');
    await sim.settle();
    assert.equal(sim.rollout()!.state, 'done', 'every host already on 1: done without applying');
    assert.equal(sim.applies.length, 0);
    await assert.rejects(startRollback(sim.store, FLEET, T, { author: 't', message: '', to: 9 }), /has no revision 9/);
  });
});

describe('fleet rollouts: a new rollout waits for the hosts still applying a stopped one', () => {
  it('a halt lands while h2 of the same batch applies: no convergence over its turn; push and rollback refused naming it until it finishes', async () => {
    // h2 has no revision yet (it would converge), h3 fails: batch [h2 h3] after the canary h1.
    const sim = new Sim({ hosts: 4, labelled: [], zeroAt: [1], fails: [2], hangs: [] });
    await newRollout(sim, 2, 1);
    const [h1, h2, h3] = sim.hosts as [SimHost, SimHost, SimHost];
    sim.campaign(h1);
    const d = sim.drivers.find((x) => x.session === h1.session)!;
    const drive = async () => {
      sim.refresh(d);
      while (await sim.step(d));
    };
    const turn = (host: string) => sim.store.json<TurnRecord>(turnKey(FLEET, T, host));
    await drive();
    for (const f of [sim.poll, sim.finish, sim.report]) f.call(sim, h1);
    await drive();
    assert.equal(turn('h2')?.state, 'applying');
    assert.equal(turn('h3')?.state, 'applying');
    // h3 fails before h2 even took its turn up; the rollout halts at h3.
    for (const f of [sim.poll, sim.finish, sim.report]) f.call(sim, h3);
    await drive();
    assert.equal(sim.rollout()!.state, 'halted');
    // The halted rollout's turn of h2 is left alone: h2 is not on the current revision, but converging it would start it twice.
    assert.equal(turn('h2')?.rollout, 'nginx-2', "h2's turn is still the halted rollout's");
    assert.equal(turn('h2')?.converge, undefined);
    const refusal = /refused: host h2 \(revision 2, rollout nginx-2, halted\) is still applying an earlier turn of nginx; retry when it finishes/;
    await assert.rejects(
      storeRevision(sim.store, [{ path: 'a', bytes: Buffer.from('y') }], { fleet: FLEET, target: T, author: 't', message: '' }),
      (e: Error) => {
        assert.match(e.message, /^push /);
        assert.match(e.message, refusal);
        assert.equal((e as { code?: string }).code, 'ERR_ROLLOUT');
        return true;
      },
    );
    await assert.rejects(startRollback(sim.store, FLEET, T, { author: 't', message: '' }), refusal);
    assert.equal(turn('h2')?.state, 'applying', 'nothing written by the refusals');
    // h2 applies its turn and reports it: its outcome is kept, and a rollback may start.
    sim.poll(h2);
    sim.finish(h2);
    sim.report(h2);
    assert.equal(turn('h2')?.state, 'done');
    const rb = await startRollback(sim.store, FLEET, T, { author: 't', message: '', rollout: { batch: 2, canary: 1 } });
    assert.equal(rb.to, 1);
    await sim.settle();
    assert.equal(sim.rollout()!.state, 'done');
    assert.deepEqual(
      sim.hosts.map((h) => h.revision),
      [1, 1, 1, 1],
    );
    checkLog(sim, { batch: 2 });
  });

  it('a convergence turn still applying also holds a push; a host whose lease is gone does not', async () => {
    const sim = new Sim({ hosts: 3, labelled: [], zeroAt: [2], fails: [], hangs: [] });
    sim.store.put(revisionKey(FLEET, T, 1), 'revision 1');
    sim.store.put(`${targetPrefix(FLEET, T)}current`, JSON.stringify({ revision: 1 }));
    sim.store.put(`${targetPrefix(FLEET, T)}head`, JSON.stringify({ revision: 1, rollouts: 1 }));
    const [h1, , h3] = sim.hosts as [SimHost, SimHost, SimHost];
    sim.campaign(h1);
    const d = sim.drivers.find((x) => x.session === h1.session)!;
    sim.refresh(d);
    while (await sim.step(d));
    assert.equal(sim.store.json<TurnRecord>(turnKey(FLEET, T, 'h3'))?.converge, true, 'h3 converging');
    const push = () => storeRevision(sim.store, [{ path: 'a', bytes: Buffer.from('y') }], { fleet: FLEET, target: T, author: 't', message: '' });
    await assert.rejects(push(), /push refused: host h3 \(converging to revision 1\) is still applying an earlier turn of nginx/);
    // h3 dies mid-apply: nobody applies the turn any more, so it does not hold the push (the driver marks it lost).
    sim.poll(h3);
    sim.kill(h3);
    const r = await push();
    assert.equal(r.revision, 2);
  });
});

function cacheOf(sim: Sim): KvCache {
  const c = new KvCache();
  for (const p of [hostsPrefix(FLEET), targetPrefix(FLEET, T), turnsPrefix(FLEET, T)]) {
    const r = sim.store.rangePrefixSync(p);
    c.applyRange(p, r.kvs, r.revision);
  }
  return c;
}

describe('fleet rollouts: randomized schedules against the invariants', () => {
  it('failures, hangs, deaths, restarts, stale and dead drivers, pause/resume/abort', async () => {
    const scenario = fc.record({
      hosts: fc.integer({ min: 2, max: 7 }),
      batch: fc.integer({ min: 1, max: 4 }),
      canary: fc.integer({ min: 0, max: 2 }),
      labelled: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { maxLength: 2 }),
      zeroAt: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { maxLength: 2 }),
      fails: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { maxLength: 2 }),
      hangs: fc.uniqueArray(fc.integer({ min: 0, max: 6 }), { maxLength: 1 }),
      events: fc.array(fc.tuple(fc.integer({ min: 0, max: 12 }), fc.nat({ max: 1000 })), { minLength: 20, maxLength: 400 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const sim = new Sim(s);
        await newRollout(sim, s.batch, s.canary);
        for (const [kind, n] of s.events) {
          const h = sim.hosts[n % sim.hosts.length]!;
          const d = sim.drivers[n % sim.drivers.length]!; // may be a dead session's driver
          switch (kind) {
            case 0:
              sim.refresh(d, n % 4);
              break;
            case 1:
            case 2:
              await sim.step(d);
              break;
            case 3:
              sim.campaign(h);
              break;
            case 4:
              sim.poll(h);
              break;
            case 5:
              sim.finish(h);
              break;
            case 6:
              sim.report(h);
              break;
            case 7:
              if (n % 5 === 0) sim.kill(h);
              break;
            case 8:
              if (!h.alive) sim.register(h);
              break;
            case 9: {
              const r = sim.rollout();
              if (n % 3 === 0 && r?.state === 'running') await steerRollout(sim.store, FLEET, T, 'pause', 't');
              else if (r?.state === 'paused') await steerRollout(sim.store, FLEET, T, 'resume', 't');
              else if (n % 50 === 7 && r?.state === 'running') await steerRollout(sim.store, FLEET, T, 'abort', 't');
              break;
            }
            case 12: {
              // A rollback right after the rollout stopped (or abort, then rollback at once), hosts perhaps still applying.
              if (n % 2 === 0 && sim.rollout()?.state === 'running') await steerRollout(sim.store, FLEET, T, 'abort', 't');
              const state = sim.rollout()?.state;
              if (state === 'halted' || state === 'aborted') {
                try {
                  await startRollback(sim.store, FLEET, T, { author: 't', message: '', to: 1, rollout: { batch: s.batch, canary: s.canary } });
                } catch (e) {
                  if (!/still applying an earlier turn/.test((e as Error).message)) throw e;
                }
              }
              break;
            }
            default:
              sim.now += 1000 * (n % 10);
          }
        }
        await sim.settle();
        checkLog(sim, { batch: s.batch });
        const canaries = sim.rollout()!.canaries;
        if (s.canary > 0 && canaries !== undefined) assert.ok(canaries.length > 0, 'with --canary N there is a canary');
        // Quiet: the driver has nothing left to do.
        const live = sim.drivers.find((d) =>
          sim.hosts.some((h) => h.alive && h.session === d.session && sim.store.json<{ session: string }>(driverKey(FLEET, T))?.session === d.session),
        );
        if (live) {
          sim.refresh(live);
          assert.equal(nextAction(rolloutView(live.cache, FLEET, T), sim.now), null, 'nothing left to do');
        }
      }),
      { numRuns: Number(process.env.RELOADKIT_FC_RUNS ?? 300) },
    );
  });

  it('a rollback right after a halt or an abort never starts next to the hosts still applying', async () => {
    const scenario = fc.record({
      hosts: fc.integer({ min: 3, max: 6 }),
      batch: fc.integer({ min: 2, max: 4 }),
      canary: fc.integer({ min: 0, max: 2 }),
      // A batch host fails (after the canary): the halt lands while the rest of its batch may still apply.
      fails: fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 2 }),
      // Drivers and hosts taking turns up are more frequent than applies ending: the stop lands while hosts apply.
      events: fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.nat({ max: 1000 })), { minLength: 100, maxLength: 300 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const sim = new Sim({ hosts: s.hosts, labelled: [], zeroAt: [], fails: s.fails, hangs: [] });
        await newRollout(sim, s.batch, s.canary);
        sim.campaign(sim.hosts[0]!);
        const d = sim.drivers[0]!;
        for (const [kind, n] of s.events) {
          const h = sim.hosts[n % sim.hosts.length]!;
          const state = sim.rollout()!.state;
          if (kind <= 1) {
            sim.refresh(d);
            while (await sim.step(d));
          } else if (kind <= 5) {
            // The host takes a new turn up, or reports the one it finished.
            sim.report(h);
            sim.poll(h);
          } else if (kind === 6) sim.finish(h);
          else if (kind === 7 && state === 'running' && n % 20 === 0) await steerRollout(sim.store, FLEET, T, 'abort', 't');
          // The operator rolls back as soon as the rollout stops (and again while refused).
          if (sim.rollout()!.id === 'nginx-2' && ['halted', 'aborted'].includes(sim.rollout()!.state)) {
            try {
              await startRollback(sim.store, FLEET, T, { author: 't', message: '', to: 1, rollout: { batch: s.batch, canary: s.canary } });
            } catch (e) {
              if (!/still applying an earlier turn/.test((e as Error).message)) throw e;
            }
          }
        }
        await sim.settle();
        checkLog(sim, { batch: s.batch });
      }),
      { numRuns: Number(process.env.RELOADKIT_FC_RUNS ?? 300) },
    );
  });
});
