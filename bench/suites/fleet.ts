// Fleet mode against a real etcd, with every figure measured in the same run:
// - rollouts at scale and with real hosts (bench/fleet-rollouts.ts): 100
//   hosts in batches of 10 against a 3-member etcd (coordination overhead per
//   batch, etcd requests per host, the driver's CPU), 5 real hosts (rollout
//   time against the sum of their own turns, push -> every host serving it
//   against one host's own pass plus etcd's put -> watch latency, the blast
//   radius of a config that fails the health gate against every host
//   applying on its own, the stalls after kill -9 of the etcd leader and of
//   the driving host);
// - fleet-mode daemon start (spawn -> first status reply) and idle RSS
//   (after it connected to etcd) vs the same daemon without `fleet:`;
// - the worst put around kill -9 of the etcd leader, with and without the
//   deadline every etcd call of reloadkit has.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendAdminCommand } from '../../src/admin/client.js';
import { EtcdStore } from '../../src/etcd/client.js';
import { startEtcd, type TestEtcd } from '../../test/helpers/etcd.js';
import { ensureCliBundle, spawnDaemon } from '../daemon-process.js';
import { decisionCost, fiveHosts, hundredHosts } from '../fleet-rollouts.js';
import { median, round, type BenchContext, type BenchReport, type BenchRow, type BenchSuite } from '../harness.js';
import { nginxMissing } from '../nginx.js';

const FLEET = 'bench';

function etcdMissing(): string | null {
  const r = spawnSync('/usr/bin/etcd', ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0 ? null : 'etcd is not installed (apt-get install etcd-server)';
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** Spawn -> first `status` reply; then the RSS once idle (after `idleAfter` matched a log line, plus 1 s). */
async function startAndRss(
  config: string,
  socket: string,
  idleAfter: ((l: Record<string, unknown>) => boolean) | null,
): Promise<{ ms: number; rss: number; readyMs: number }> {
  const t0 = performance.now();
  const d = spawnDaemon(config);
  try {
    for (;;) {
      try {
        if ((await sendAdminCommand(socket, 'status', { timeoutMs: 5000 })).startsWith('{"status":"ok"')) break;
      } catch {
        // not listening yet
      }
      if (performance.now() - t0 > 30_000) throw new Error('bench: the daemon did not answer within 30 s');
      await new Promise((r) => setTimeout(r, 1));
    }
    const ms = performance.now() - t0;
    if (idleAfter) await d.waitForLine(idleAfter, 'the fleet agent connected', 30_000);
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    return { ms, rss: rssMb(d.proc.pid!), readyMs };
  } finally {
    await d.stop();
  }
}

/**
 * The stall a put sees when the etcd leader of a 3-member cluster is killed
 * with -9: the worst put latency of a put loop around the kill, with the
 * bare etcd3 client (its default retry and circuit-breaker policies, no
 * deadline) and with reloadkit's store (the 2 s deadline every call has),
 * both given the three endpoints. Which member a put in flight is on when
 * the leader dies varies, so each client sees `rounds` kills.
 */
async function leaderKillStall(rows: BenchRow[], notes: string[], rounds: number): Promise<void> {
  const etcd = await startEtcd(3);
  try {
    const { Etcd3 } = await import('etcd3');
    const kinds = [
      {
        name: 'etcd3 client, no deadline',
        make: async () => {
          const c = new Etcd3({ hosts: etcd.endpoints });
          return { put: (v: string) => c.put('/bench/stall').value(v).exec(), close: () => c.close() };
        },
      },
      {
        name: "reloadkit's store, 2 s deadline",
        make: async () => {
          const st = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 2000 });
          return { put: (v: string) => st.put('/bench/stall', v), close: () => st.close() };
        },
      },
    ];
    const worst: number[] = [];
    for (const kind of kinds) {
      const perKill: number[] = [];
      let failed = 0;
      let elections: number[] = [];
      for (let round = 0; round < rounds; round += 1) {
        const c = await kind.make();
        await c.put('warm');
        const leader = await etcd.leader();
        let stop = false;
        let max = 0;
        const loop = (async () => {
          for (let i = 0; !stop; i += 1) {
            const t0 = performance.now();
            await c.put(String(i)).catch(() => (failed += 1));
            max = Math.max(max, performance.now() - t0);
          }
        })();
        await new Promise((r) => setTimeout(r, 300));
        const killedAt = performance.now();
        await leader.kill();
        await etcd.leader();
        elections.push(performance.now() - killedAt);
        // Long enough for a stall without a deadline to end by itself (7 s measured).
        await new Promise((r) => setTimeout(r, 9_000));
        stop = true;
        await loop;
        c.close();
        perKill.push(max);
        await leader.start();
        await etcd.leader();
      }
      worst.push(Math.max(...perKill));
      notes.push(
        `leader kill x${rounds}, ${kind.name}: worst put per kill ${perKill.map((x) => Math.round(x)).join(', ')} ms; new leader after ${elections.map((x) => Math.round(x)).join(', ')} ms; ${failed} put(s) failed (the loop went on)`,
      );
      elections = [];
    }
    rows.push({
      metric: `worst put latency around kill -9 of the etcd leader (3 members, ${rounds} kill${rounds === 1 ? '' : 's'} per client)`,
      value: round(worst[1]!, 0),
      unit: 'ms',
      baseline: round(worst[0]!, 0),
      baselineName: 'etcd3 client without a deadline',
      ratio: round(worst[1]! / worst[0]!, 2),
      goal: '<= 2 s deadline + 250 ms',
      pass: worst[1]! <= 2250,
    });
  } finally {
    await etcd.close();
  }
}

async function startupComparison(ctx: BenchContext, etcd: TestEtcd, rows: BenchRow[]): Promise<void> {
  const dir = ctx.tmp('fleet-start');
  writeFileSync(join(dir, 'app.conf'), 'x\n');
  const base = `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: 127.0.0.1:0\ntargets:\n  app:\n    kind: command\n    reload: ["true"]\n    watch: [app.conf]\n`;
  const single = join(dir, 'single.yaml');
  const fleet = join(dir, 'fleet.yaml');
  writeFileSync(single, base);
  writeFileSync(
    fleet,
    `${base}    fleet: { dir: fleetdir }\nfleet:\n  name: ${FLEET}-start\n  host: start\n  etcd: { endpoints: [${etcd.endpoints.join(', ')}] }\n`,
  );
  const socket = join(dir, 'admin.sock');
  const runs = ctx.quick ? 5 : 15;
  const s: { ms: number; rss: number; readyMs: number }[] = [];
  const f: { ms: number; rss: number; readyMs: number }[] = [];
  for (let i = 0; i < runs; i += 1) {
    // Interleaved: both see the same machine load.
    s.push(await startAndRss(single, socket, null));
    f.push(await startAndRss(fleet, socket, (l) => l.msg === 'fleet: connected to etcd'));
  }
  const sMs = median(s.map((x) => x.ms));
  const fMs = median(f.map((x) => x.ms));
  const sRss = median(s.map((x) => x.rss));
  const fRss = median(f.map((x) => x.rss));
  const connectedMs = median(f.map((x) => x.readyMs));
  rows.push(
    { metric: `fleet-mode daemon start to "connected to etcd" (gRPC loaded, host registered; median of ${runs})`, value: round(connectedMs, 1), unit: 'ms' },
    {
      metric: `daemon start to socket ready, fleet mode (median of ${runs})`,
      value: round(fMs, 1),
      unit: 'ms',
      baseline: round(sMs, 1),
      baselineName: 'same daemon without fleet:',
      ratio: round(fMs / sMs, 2),
      goal: '<= 1.3x',
      pass: fMs / sMs <= 1.3,
    },
    {
      metric: 'idle RSS, fleet mode (connected to etcd)',
      value: round(fRss, 1),
      unit: 'MB',
      baseline: round(sRss, 1),
      baselineName: 'same daemon without fleet:',
      ratio: round(fRss - sRss, 1),
      goal: '<= +25 MB',
      pass: fRss - sRss <= 25,
    },
  );
}

export const fleetSuite: BenchSuite = {
  name: 'fleet',
  description:
    'fleet mode on a real etcd: 100 hosts rolling out in batches of 10, 5 real hosts (rollout time, push -> serving vs one pass + put -> watch, blast radius, stalls after kill -9 of the etcd leader and of the driver), start and RSS vs single-host, the put stall around a leader kill',
  async run(ctx: BenchContext): Promise<BenchReport> {
    const missing = nginxMissing() ?? etcdMissing();
    if (missing) return { rows: [], notes: [`skipped: ${missing}`] };
    ensureCliBundle((m) => ctx.log(m));
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    decisionCost(rows);
    const cluster = await startEtcd(3);
    try {
      await hundredHosts(ctx, cluster, rows, notes);
      await fiveHosts(ctx, cluster, rows, notes);
    } finally {
      await cluster.close();
    }
    const single = await startEtcd(1);
    try {
      await startupComparison(ctx, single, rows);
      notes.push('start: spawn of dist/cli.js run -> first status reply; RSS after 1 s idle (fleet mode: after "fleet: connected to etcd", so gRPC is loaded)');
    } finally {
      await single.close();
    }
    await leaderKillStall(rows, notes, ctx.quick ? 1 : 3);
    return { rows, notes };
  },
};
