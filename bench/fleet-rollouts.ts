// The rollout measurements of the fleet suite (bench/suites/fleet.ts):
// - 100 hosts (the daemon's command target and fleet glue, 10 per process,
//   each with its own etcd client and lease) against a 3-member etcd, a
//   rollout with batch 10: coordination overhead per batch, etcd requests and
//   watch messages per host, the driver's CPU, lease renewals, record sizes;
// - 5 real hosts (`reloadkit run` + nginx): rollout time with batch 1 against
//   the sum of the hosts' own turn times; the blast radius of a config that
//   passes `nginx -t` but fails the health gate, against every host applying
//   on its own; the stall after kill -9 of the etcd leader and of the
//   driving host.
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EtcdStore } from '../src/etcd/client.js';
import { storeRevision } from '../src/fleet/control.js';
import { driverKey, hostsPrefix, rolloutKey, turnsPrefix } from '../src/fleet/keys.js';
import type { HostRecord } from '../src/fleet/records.js';
import { KvCache, nextAction, rolloutView } from '../src/fleet/rollout.js';
import type { DriverRecord, RolloutRecord, TurnRecord } from '../src/fleet/records.js';
import { freePort } from '../test/integration/helpers.js';
import type { TestEtcd } from '../test/helpers/etcd.js';
import { spawnTracked, type TrackedChild } from './children.js';
import { eachLine, spawnDaemon, type Daemon } from './daemon-process.js';
import { median, percentile, round, type BenchContext, type BenchRow } from './harness.js';
import { fetchBody, startBenchNginx, type BenchNginx } from './nginx.js';

const root = fileURLToPath(new URL('../', import.meta.url));

/** etcd's gRPC counters over every member: unary calls handled, and stream messages by method. */
async function counters(endpoints: readonly string[]): Promise<{ unary: number; received: Map<string, number>; sent: Map<string, number> }> {
  let unary = 0;
  const received = new Map<string, number>();
  const sent = new Map<string, number>();
  for (const url of endpoints) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const m of text.matchAll(/^grpc_server_(handled_total|msg_received_total|msg_sent_total)\{([^}]*)\} (\S+)$/gm)) {
      const method = /grpc_method="([^"]+)"/.exec(m[2]!)![1]!;
      const n = Number(m[3]);
      if (m[1] === 'handled_total' && /grpc_type="unary"/.test(m[2]!)) unary += n;
      if (/grpc_type="bidi_stream"/.test(m[2]!)) {
        if (m[1] === 'msg_received_total') received.set(method, (received.get(method) ?? 0) + n);
        if (m[1] === 'msg_sent_total') sent.set(method, (sent.get(method) ?? 0) + n);
      }
    }
  }
  return { unary, received, sent };
}

const diff = (a: Map<string, number>, b: Map<string, number>, k: string) => (a.get(k) ?? 0) - (b.get(k) ?? 0);

/** CPU time (user + system) of a process so far, in ms. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Resolves once `key` holds a value `pred` accepts (read first, then watched). */
async function until<T>(store: EtcdStore, key: string, pred: (v: T | null) => boolean, ms: number, what: string): Promise<T | null> {
  let resolve!: (v: T | null) => void;
  const hit = new Promise<T | null>((r) => (resolve = r));
  const parse = (b: Buffer | null) => (b === null ? null : (JSON.parse(b.toString('utf8')) as T));
  const w = await store.watchKey(
    key,
    (e) => {
      const v = e.type === 'put' ? parse(e.value) : null;
      if (pred(v)) resolve(v);
    },
    () => {},
  );
  try {
    const kv = await store.get(key);
    const now = parse(kv?.value ?? null);
    if (pred(now)) return now;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`bench: timed out waiting for ${what}`)), ms)));
    try {
      return await Promise.race([hit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await w.close();
  }
}

const ended = (r: RolloutRecord | null) => r !== null && (r.state === 'done' || r.state === 'halted' || r.state === 'aborted');

async function turns(store: EtcdStore, fleet: string, target: string): Promise<TurnRecord[]> {
  return (await store.getPrefix(turnsPrefix(fleet, target))).map((kv) => JSON.parse(kv.value.toString('utf8')) as TurnRecord);
}

/** Per batch (canary = batch 0), the wait between its last host's end and the next batch's first start, in ms. */
function batchGaps(ts: readonly TurnRecord[]): number[] {
  const byBatch = new Map<number, TurnRecord[]>();
  for (const t of ts) if (!t.converge && !t.skipped) byBatch.set(t.batch, [...(byBatch.get(t.batch) ?? []), t]);
  const order = [...byBatch.keys()].sort((a, b) => a - b);
  const out: number[] = [];
  for (let i = 0; i + 1 < order.length; i += 1) {
    const lastEnd = Math.max(...byBatch.get(order[i]!)!.map((t) => Date.parse(t.ended_at!)));
    const nextStart = Math.min(...byBatch.get(order[i + 1]!)!.map((t) => Date.parse(t.started_at)));
    out.push(nextStart - lastEnd);
  }
  return out;
}

// ---- 100 hosts ---------------------------------------------------------------------------

interface AgentProcess {
  child: TrackedChild;
  names: string[];
  driving: string[];
}

/** 100 hosts in 10 processes, a rollout with batch 10, `rounds` times. */
export async function hundredHosts(ctx: BenchContext, etcd: TestEtcd, rows: BenchRow[], notes: string[]): Promise<void> {
  const fleet = 'scale';
  const perProcess = 10;
  const nHosts = 100;
  const leaseTtlS = 5;
  const procs: AgentProcess[] = [];
  const dir = ctx.tmp('fleet-100');
  const store = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 5000 });
  try {
    const t0 = performance.now();
    for (let p = 0; p < nHosts / perProcess; p += 1) {
      const names = Array.from({ length: perProcess }, (_, i) => `h${String(p * perProcess + i).padStart(3, '0')}`);
      const args = JSON.stringify({ dir: join(dir, `p${p}`), fleet, endpoints: etcd.endpoints, names, leaseTtl: `${leaseTtlS}s` });
      const child = spawnTracked(process.execPath, ['--import', 'tsx', join(root, 'bench', 'fleet-agents.ts'), args], {
        stdio: ['ignore', 'pipe', 'inherit'],
        cwd: root,
      });
      const proc: AgentProcess = { child, names, driving: [] };
      let ready!: () => void;
      const isReady = new Promise<void>((r) => (ready = r));
      eachLine(child.proc.stdout!, (line) => {
        const msg = JSON.parse(line) as { ready?: boolean; driving?: string[] };
        if (msg.ready) ready();
        if (msg.driving) proc.driving = msg.driving;
      });
      procs.push(proc);
      await Promise.race([isReady, child.exited.then(() => Promise.reject(new Error('bench: an agent process exited at start')))]);
    }
    ctx.log(`${nHosts} hosts in ${procs.length} processes connected after ${Math.round(performance.now() - t0)} ms`);
    const registered = async () => (await store.getPrefix(hostsPrefix(fleet))).length;
    for (let i = 0; (await registered()) < nHosts; i += 1) {
      if (i > 300) throw new Error('bench: not every host registered');
      await new Promise((r) => setTimeout(r, 100));
    }
    // Idle: what 100 hosts cost etcd with nothing happening (lease renewals).
    const idleS = ctx.quick ? 3 : 10;
    const i0 = await counters(etcd.endpoints);
    await new Promise((r) => setTimeout(r, idleS * 1000));
    const i1 = await counters(etcd.endpoints);
    const renewalsPerS = diff(i1.received, i0.received, 'LeaseKeepAlive') / idleS;
    const idleUnaryPerS = (i1.unary - i0.unary) / idleS;

    const rounds = ctx.quick ? 1 : 3;
    const gaps: number[] = [];
    const durations: number[] = [];
    const perHost: number[] = [];
    const watchPerHost: number[] = [];
    const driverCpu: number[] = [];
    const otherCpu: number[] = [];
    let sizes = { host: 0, turn: 0, rollout: 0 };
    for (let round = 1; round <= rounds; round += 1) {
      const cpu0 = procs.map((p) => cpuMs(p.child.proc.pid!));
      const c0 = await counters(etcd.endpoints);
      const start = performance.now();
      const { rollout } = await storeRevision(store, [{ path: 'app.conf', bytes: Buffer.from(`revision ${round}\n`) }], {
        fleet,
        target: 'app',
        author: 'bench',
        message: `round ${round}`,
        rollout: { batch: 10 },
      });
      const r = await until<RolloutRecord>(store, rolloutKey(fleet, 'app'), (v) => v?.id === rollout.id && ended(v), 300_000, 'the 100-host rollout');
      const took = performance.now() - start;
      const c1 = await counters(etcd.endpoints);
      const cpu1 = procs.map((p) => cpuMs(p.child.proc.pid!));
      if (r?.state !== 'done') throw new Error(`bench: the 100-host rollout ended ${r?.state}: ${JSON.stringify(r?.reason)}`);
      durations.push(took);
      const ts = await turns(store, fleet, 'app');
      gaps.push(...batchGaps(ts));
      // The pusher's requests: 3 reads and the transaction; the bench's own watch is one more stream.
      perHost.push((c1.unary - c0.unary - 4) / nHosts);
      watchPerHost.push(diff(c1.sent, c0.sent, 'Watch') / nHosts);
      const di = procs.findIndex((p) => p.driving.length > 0);
      procs.forEach((_, i) => (i === di ? driverCpu : otherCpu).push(cpu1[i]! - cpu0[i]!));
      const hostKv = await store.get(`${hostsPrefix(fleet)}h050`);
      const turnKv = (await store.getPrefix(turnsPrefix(fleet, 'app')))[50];
      const rolloutKv = await store.get(rolloutKey(fleet, 'app'));
      sizes = { host: hostKv?.value.length ?? 0, turn: turnKv?.value.length ?? 0, rollout: rolloutKv?.value.length ?? 0 };
      ctx.log(`round ${round}: rollout of ${nHosts} hosts in ${Math.round(took)} ms; gaps ${batchGaps(ts).join(' ')} ms`);
    }
    const g50 = percentile(gaps, 50);
    const drv = median(driverCpu);
    const oth = median(otherCpu);
    rows.push(
      {
        metric: `${nHosts}-host rollout, batch 10 (canary + 10 batches), 3-member etcd: time, median of ${rounds}`,
        value: round(median(durations), 0),
        unit: 'ms',
      },
      {
        metric: `coordination overhead per batch: a batch's last host done -> the next batch's first start (${gaps.length} gaps)`,
        value: round(g50, 1),
        unit: 'ms p50',
        goal: `p50 <= 50 ms (p90 ${round(percentile(gaps, 90), 1)}, max ${round(Math.max(...gaps), 1)})`,
        pass: g50 <= 50,
      },
      { metric: 'etcd requests per host per rollout (unary, every member, the pusher subtracted)', value: round(median(perHost), 2), unit: 'requests' },
      { metric: 'etcd watch messages sent per host per rollout', value: round(median(watchPerHost), 1), unit: 'messages' },
      {
        metric: 'driver CPU per rollout: the process holding the driver minus the median other process (10 hosts each)',
        value: round(drv - oth, 0),
        unit: 'ms',
        goal: `driver process ${round(drv, 0)} ms, others ${round(oth, 0)} ms (median)`,
      },
      {
        metric: `lease renewals at idle (${nHosts} hosts, lease ${leaseTtlS} s)`,
        value: round(renewalsPerS, 1),
        unit: '/s',
        goal: `${round(idleUnaryPerS, 1)} unary requests/s besides`,
      },
    );
    notes.push(
      `record sizes at 100 hosts: host record ${sizes.host} B, turn ${sizes.turn} B, rollout record ${sizes.rollout} B (the rollout record does not grow with the fleet; the canaries' names are in it)`,
    );
  } finally {
    await Promise.all(procs.map((p) => p.child.stop('SIGTERM', 10_000)));
    store.close();
  }
}

// ---- 5 real hosts ------------------------------------------------------------------------

const site = (text: string) => `location / { default_type text/plain; return 200 "${text}"; }\n`;

interface RealHost {
  name: string;
  dir: string;
  config: string;
  fleetDir: string;
  nginx: BenchNginx;
  sitePort: number;
  daemon: Daemon;
}

async function startRealHost(ctx: BenchContext, fleet: string, name: string, endpoints: readonly string[], leaseTtlS: number): Promise<RealHost> {
  const dir = ctx.tmp(`fleet-${name}`);
  const fleetDir = join(dir, 'nginx', 'fleet');
  mkdirSync(fleetDir, { recursive: true });
  writeFileSync(join(fleetDir, 'site.conf'), site('v0'));
  const sitePort = await freePort();
  const nginx = await startBenchNginx(join(dir, 'nginx'), {
    http: (port) =>
      `    server { listen 127.0.0.1:${port}; location / { return 200 "ok"; } }\n    server { listen 127.0.0.1:${sitePort}; include ${fleetDir}/*.conf; }`,
  });
  const config = join(dir, 'reloadkit.yaml');
  writeFileSync(
    config,
    `log_level: info
state_dir: ${dir}/state
admin: { socket: ${dir}/admin.sock, http: "" }
fleet:
  name: ${fleet}
  host: ${name}
  etcd: { endpoints: [${endpoints.join(', ')}], lease_ttl: ${leaseTtlS}s, timeout: 2s }
targets:
  nginx:
    kind: nginx
    prefix: ${nginx.prefix}/
    config: ${nginx.conf}
    watch: [${nginx.conf}, ${fleetDir}]
    fleet:
      dir: ${fleetDir}
      health: { url: "http://127.0.0.1:${sitePort}/healthz", for: 1s, interval: 100ms }
`,
  );
  const daemon = spawnDaemon(config);
  await daemon.waitForLine((l) => l.msg === 'fleet: connected to etcd', `${name} connected to etcd`, 60_000);
  return { name, dir, config, fleetDir, nginx, sitePort, daemon };
}

/** The host's own turns for revision `n`: start (its "applying" line) and end (its outcome line), its clock. */
function hostTurns(h: RealHost, n: number): { host: string; start: number; end: number }[] {
  const out: { host: string; start: number; end: number }[] = [];
  let start: number | null = null;
  for (const l of h.daemon.lines) {
    if (l.fleet_revision !== n) continue;
    if (l.msg === 'fleet: turn: applying the revision') start = Date.parse(String(l.time));
    else if (start !== null && (l.msg === 'fleet: revision applied' || l.msg === 'fleet: revision failed; previous files restored')) {
      out.push({ host: h.name, start, end: Date.parse(String(l.time)) });
      start = null;
    }
  }
  return out;
}

/** Gaps between one host's end and the next one's start (the hosts went one at a time), with the end time. */
function seqGaps(hosts: readonly RealHost[], n: number): { gap: number; at: number }[] {
  const ts = hosts.flatMap((h) => hostTurns(h, n)).sort((a, b) => a.start - b.start);
  return ts.slice(1).map((t, i) => ({ gap: t.start - ts[i]!.end, at: ts[i]!.end }));
}

export async function fiveHosts(ctx: BenchContext, etcd: TestEtcd, rows: BenchRow[], notes: string[]): Promise<void> {
  const fleet = 'five';
  const leaseTtlS = 3;
  const hosts: RealHost[] = [];
  const store = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 5000 });
  let revision = 0;
  const push = async (text: string, o: { batch?: number; healthWaitMs?: number } = {}) => {
    const r = await storeRevision(store, [{ path: 'site.conf', bytes: Buffer.from(text) }], {
      fleet,
      target: 'nginx',
      author: 'bench',
      message: '',
      rollout: o,
    });
    revision = r.revision;
    return r;
  };
  const waitEnd = (id: string) => until<RolloutRecord>(store, rolloutKey(fleet, 'nginx'), (v) => v?.id === id && ended(v), 120_000, `rollout ${id}`);
  try {
    for (let i = 1; i <= 5; i += 1) hosts.push(await startRealHost(ctx, fleet, `w${i}`, etcd.endpoints, leaseTtlS));
    ctx.log('5 real hosts connected');

    // Rollout time, batch 1, against the sum of the hosts' own turns (the gate: one probe).
    const n = ctx.quick ? 2 : 5;
    const ratios: number[] = [];
    const times: number[] = [];
    const sums: number[] = [];
    for (let i = 0; i < n; i += 1) {
      const t0 = performance.now();
      const { rollout } = await push(site(`r${i}`), { healthWaitMs: 1 });
      const r = await waitEnd(rollout.id);
      const took = performance.now() - t0;
      if (r?.state !== 'done') throw new Error(`bench: rollout ended ${r?.state}`);
      const sum = hosts.flatMap((h) => hostTurns(h, revision)).reduce((a, t) => a + (t.end - t.start), 0);
      times.push(took);
      sums.push(sum);
      ratios.push(took / sum);
    }
    const t50 = median(times);
    const s50 = median(sums);
    const calmGaps = seqGaps(hosts, revision).map((g) => g.gap);
    rows.push({
      metric: `5 real hosts, batch 1: push -> rollout done (median of ${n})`,
      value: round(t50, 0),
      unit: 'ms',
      baseline: round(s50, 0),
      baselineName: "sum of the hosts' own turns",
      ratio: round(t50 / s50, 2),
      goal: '<= 1.3x + 250 ms',
      pass: t50 <= 1.3 * s50 + 250,
    });

    // Blast radius: passes nginx -t, fails the gate (a dead upstream behind /healthz).
    const dead = await freePort();
    const bad = `location = /healthz { proxy_pass http://127.0.0.1:${dead}; }\n${site('bad')}`;
    const served = async (during: () => Promise<void>) => {
      const spans = new Map<string, { first: number; last: number }>();
      let stop = false;
      const probes = hosts.map(async (h) => {
        while (!stop) {
          const body = await fetchBody(h.sitePort);
          const now = performance.now();
          if (body === 'bad') {
            const s = spans.get(h.name);
            spans.set(h.name, { first: s?.first ?? now, last: now });
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      });
      await during();
      await new Promise((r) => setTimeout(r, 300));
      stop = true;
      await Promise.all(probes);
      return spans;
    };
    const ours = await served(async () => {
      const { rollout } = await push(bad);
      await waitEnd(rollout.id);
      // The canary's restore reloaded nginx; wait for its old workers to go.
      for (let i = 0; i < 200 && (await fetchBody(hosts[0]!.sitePort)) !== 'r' + String(n - 1); i += 1) await new Promise((r) => setTimeout(r, 10));
    });
    const ourMax = Math.max(0, ...[...ours.values()].map((s) => s.last - s.first));
    const restoreLine = hosts[0]!.daemon.lines.find((l) => l.msg === 'fleet: revision failed; previous files restored' && l.fleet_revision === revision);
    // Baseline: every host applies on its own (a template renderer writing the file everywhere at once).
    const good = readFileSync(join(hosts[0]!.fleetDir, 'site.conf'));
    const fixAfterMs = 2000;
    const base = await served(async () => {
      for (const h of hosts) writeFileSync(join(h.fleetDir, 'site.conf'), bad);
      await new Promise((r) => setTimeout(r, fixAfterMs));
      for (const h of hosts) writeFileSync(join(h.fleetDir, 'site.conf'), good);
      for (const h of hosts) for (let i = 0; i < 300 && (await fetchBody(h.sitePort)) === 'bad'; i += 1) await new Promise((r) => setTimeout(r, 10));
    });
    // The hand edit showed as drift; it clears once the files are as the fleet wrote them again.
    for (let i = 0; ; i += 1) {
      const recs = (await store.getPrefix(hostsPrefix(fleet))).map((kv) => JSON.parse(kv.value.toString('utf8')) as HostRecord);
      if (recs.every((h) => h.targets.nginx?.status !== 'drift')) break;
      if (i > 500) throw new Error('bench: drift did not clear');
      await new Promise((r) => setTimeout(r, 20));
    }
    const baseMax = Math.max(0, ...[...base.values()].map((s) => s.last - s.first));
    rows.push(
      {
        metric: 'blast radius of a config that passes nginx -t but fails the health gate: hosts that served it',
        value: ours.size,
        unit: 'of 5',
        baseline: base.size,
        baselineName: 'every host applying on its own',
        goal: '1 of 5 (the canary)',
        pass: ours.size <= 1,
      },
      {
        metric: 'how long the canary served it (first to last answer with it)',
        value: round(ourMax, 0),
        unit: 'ms',
        baseline: round(baseMax, 0),
        baselineName: `every host, until fixed by hand (${fixAfterMs} ms here)`,
        goal: '<= health.for (1 s) + restore',
        pass: ourMax <= 1000 + 1000,
      },
    );
    notes.push(`blast radius: the canary's gate failed with ${String(restoreLine?.err ?? '?').slice(0, 120)}`);

    // Stall after kill -9 of the etcd leader, mid-rollout (batch 1, one probe per gate: a transition every few tens of ms).
    const calm = Math.max(0, ...calmGaps);
    const leaderStalls: number[] = [];
    for (let k = 0; k < (ctx.quick ? 1 : 2); k += 1) {
      const { rollout } = await push(site(`lk${k}`), { healthWaitMs: 1 });
      await until<TurnRecord>(store, `${turnsPrefix(fleet, 'nginx')}w2`, (t) => t?.rollout === rollout.id && t.state === 'applying', 60_000, 'w2 in its turn');
      const leader = await etcd.leader();
      const killedAt = Date.now();
      await leader.kill();
      const live = etcd.members.filter((m) => m.running()).map((m) => m.clientUrl);
      const s2 = await EtcdStore.connect({ endpoints: live, timeoutMs: 2000 });
      try {
        await until<RolloutRecord>(s2, rolloutKey(fleet, 'nginx'), (v) => v?.id === rollout.id && ended(v), 120_000, 'the rollout after the leader kill');
      } finally {
        s2.close();
      }
      const after = seqGaps(hosts, revision).filter((g) => g.at >= killedAt - 1500);
      leaderStalls.push(Math.max(0, ...after.map((g) => g.gap)) - calm);
      await leader.start();
      await etcd.leader();
    }
    rows.push({
      metric: 'rollout stall after kill -9 of the etcd leader (longest wait between hosts, minus the calm one)',
      value: round(Math.max(...leaderStalls), 0),
      unit: 'ms',
      goal: `<= 3 s (each kill: ${leaderStalls.map((x) => Math.round(x)).join(', ')} ms)`,
      pass: Math.max(...leaderStalls) <= 3000,
    });

    // Stall after kill -9 of the driving host, mid-rollout (short turns: the next transition is due at once).
    const { rollout } = await push(site('dk'), { healthWaitMs: 1 });
    const drv = (await store.get(driverKey(fleet, 'nginx')))!;
    const driverName = (JSON.parse(drv.value.toString('utf8')) as DriverRecord).host;
    const other = hosts.find((h) => h.name !== driverName && h.name !== 'w1')!;
    await until<TurnRecord>(
      store,
      `${turnsPrefix(fleet, 'nginx')}${other.name}`,
      (t) => t?.rollout === rollout.id && t.state === 'applying',
      60_000,
      'a host in its turn',
    );
    const victim = hosts.find((h) => h.name === driverName)!;
    const killedAt = performance.now();
    const killedWall = Date.now();
    await victim.daemon.stop('SIGKILL');
    await until<DriverRecord>(store, driverKey(fleet, 'nginx'), (v) => v !== null && v.host !== driverName, 60_000, 'a new driver');
    const takeover = performance.now() - killedAt;
    await waitEnd(rollout.id);
    const afterKill = seqGaps(
      hosts.filter((h) => h !== victim),
      revision,
    ).filter((g) => g.at >= killedWall - 1500);
    const driverStall = Math.max(0, ...afterKill.map((g) => g.gap)) - calm;
    rows.push(
      {
        metric: `kill -9 of the driving host: another host drives (lease ${leaseTtlS} s)`,
        value: round(takeover, 0),
        unit: 'ms',
        goal: `<= lease_ttl + 1 s = ${leaseTtlS + 1} s`,
        pass: takeover <= (leaseTtlS + 1) * 1000,
      },
      {
        metric: 'rollout stall after kill -9 of the driving host (longest wait between hosts, minus the calm one)',
        value: round(driverStall, 0),
        unit: 'ms',
        goal: `<= lease_ttl + 1 s = ${leaseTtlS + 1} s`,
        pass: driverStall <= (leaseTtlS + 1) * 1000,
      },
    );
    notes.push(`5 real hosts: calm gaps between hosts ${calmGaps.join(', ')} ms; the driver ${driverName} was killed while ${other.name} applied`);
    victim.daemon = spawnDaemon(victim.config);
    await victim.daemon.waitForLine((l) => l.msg === 'fleet: connected to etcd', `${victim.name} back`, 60_000);
  } finally {
    for (const h of hosts) {
      await h.daemon.stop().catch(() => {});
      await h.nginx.stop().catch(() => {});
    }
    store.close();
  }
}

// ---- one decision at 1,000 and 10,000 hosts -----------------------------------------------

/**
 * The driver decides on a view it builds from its cache (every host record
 * and turn of the target): the cost of one decision (view + next action)
 * with N hosts, half of them done, from a synthetic cache of the records
 * the 100-host run stores (same shapes and sizes).
 */
export function decisionCost(rows: BenchRow[]): void {
  const fleet = 'synthetic';
  for (const n of [100, 1000, 10_000]) {
    const cache = new KvCache();
    let rev = 1;
    const put = (key: string, value: unknown) => cache.apply(key, Buffer.from(JSON.stringify(value)), String((rev += 1)));
    const at = new Date().toISOString();
    put(rolloutKey(fleet, 'app'), {
      id: 'app-2',
      kind: 'push',
      from: 1,
      to: 2,
      state: 'running',
      canary: 1,
      batch: 10,
      canaries: ['h00000'],
      author: 'b',
      message: '',
      started_at: at,
    });
    put(driverKey(fleet, 'app'), { host: 'h00000', session: 's0', since: at });
    for (let i = 0; i < n; i += 1) {
      const name = `h${String(i).padStart(5, '0')}`;
      const done = i < n / 2;
      put(`${hostsPrefix(fleet)}${name}`, {
        host: name,
        session: `s${i}`,
        labels: {},
        version: '0.1.0',
        started_at: at,
        targets: { app: { revision: done ? 2 : 1, status: 'done', config_hash: 'f'.repeat(64), attempted: 2, at, turn_timeout_ms: 130_000 } },
      });
      if (done)
        put(`${turnsPrefix(fleet, 'app')}${name}`, {
          rollout: 'app-2',
          revision: 2,
          session: `s${i}`,
          state: 'done',
          batch: 1 + Math.floor(i / 10),
          deadline_ms: 130_000,
          started_at: at,
          ended_at: at,
        });
    }
    const samples: number[] = [];
    for (let k = 0; k < (n >= 10_000 ? 10 : 50); k += 1) {
      const t0 = performance.now();
      const v = rolloutView(cache, fleet, 'app');
      const a = nextAction(v, Date.now());
      samples.push(performance.now() - t0);
      if (a?.kind !== 'start') throw new Error(`bench: expected the next batch to start, got ${a?.kind}`);
    }
    rows.push({ metric: `one driver decision (view of the cache + next action) with ${n} hosts, half done`, value: round(median(samples), 2), unit: 'ms' });
  }
}
