// Fleet mode against a real etcd (one member, /usr/bin/etcd) and 5 real
// hosts (`reloadkit run` from dist/cli.js, each with its own real nginx),
// with the floors measured in the same run:
// - push -> every host serving the revision (p50 of 20 pushes) vs the floor:
//   one host's own pass time (p50 of the hosts' passes for these revisions)
//   plus etcd's put -> watch latency (p50, measured here);
// - etcd requests per host per revision (from etcd's own gRPC counters,
//   the pusher's own requests and the lease keepalives subtracted);
// - fleet-mode daemon start (spawn -> first status reply) and idle RSS
//   (after it connected to etcd) vs the same daemon without `fleet:`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sendAdminCommand } from '../../src/admin/client.js';
import { EtcdStore } from '../../src/etcd/client.js';
import { storeRevision } from '../../src/fleet/control.js';
import { startEtcd, type TestEtcd } from '../../test/helpers/etcd.js';
import { ensureCliBundle, spawnDaemon, type Daemon } from '../daemon-process.js';
import { median, percentile, round, until, type BenchContext, type BenchReport, type BenchRow, type BenchSuite } from '../harness.js';
import { fetchBody, nginxMissing, startBenchNginx, type BenchNginx } from '../nginx.js';

const FLEET = 'bench';

function etcdMissing(): string | null {
  const r = spawnSync('/usr/bin/etcd', ['--version'], { stdio: 'ignore' });
  return r.error === undefined && r.status === 0 ? null : 'etcd is not installed (apt-get install etcd-server)';
}

const site = (text: string) => `location / { default_type text/plain; return 200 "${text}"; }\n`;

/** etcd's gRPC counters: unary calls handled and stream messages received, summed over methods. */
async function etcdCounters(url: string): Promise<{ unary: number; streamMsgs: number; byMethod: Map<string, number> }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let unary = 0;
  let streamMsgs = 0;
  const byMethod = new Map<string, number>();
  for (const m of text.matchAll(/^grpc_server_handled_total\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/gm)) {
    if (!/grpc_type="unary"/.test(m[1]!)) continue;
    const method = /grpc_method="([^"]+)"/.exec(m[1]!)![1]!;
    byMethod.set(method, (byMethod.get(method) ?? 0) + Number(m[2]));
    unary += Number(m[2]);
  }
  for (const m of text.matchAll(/^grpc_server_msg_received_total\{([^}]*)\} (\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/gm)) {
    if (/grpc_type="bidi_stream"/.test(m[1]!)) streamMsgs += Number(m[2]);
  }
  return { unary, streamMsgs, byMethod };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

interface Host {
  name: string;
  nginx: BenchNginx;
  sitePort: number;
  daemon: Daemon;
}

async function startHost(ctx: BenchContext, name: string, endpoints: readonly string[]): Promise<Host> {
  const dir = ctx.tmp(`fleet-${name}`);
  const fleetDir = join(dir, 'nginx', 'fleet');
  mkdirSync(fleetDir, { recursive: true });
  writeFileSync(join(fleetDir, 'site.conf'), site('v0'));
  const { freePort } = await import('../../test/integration/helpers.js');
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
  name: ${FLEET}
  host: ${name}
  etcd: { endpoints: [${endpoints.join(', ')}], lease_ttl: 10s, timeout: 2s }
targets:
  nginx:
    kind: nginx
    prefix: ${nginx.prefix}/
    config: ${nginx.conf}
    watch: [${nginx.conf}, ${fleetDir}]
    fleet: { dir: ${fleetDir} }
`,
  );
  const daemon = spawnDaemon(config);
  await daemon.waitForLine((l) => l.msg === 'fleet: connected to etcd', `${name} connected to etcd`, 60_000);
  return { name, nginx, sitePort, daemon };
}

/** put -> watch event latency of etcd itself, in ms. */
async function putToWatch(store: EtcdStore, n: number): Promise<number[]> {
  const key = `/reloadkit/${FLEET}/bench-probe`;
  let resolveEvent: (() => void) | null = null;
  const w = await store.watchKey(
    key,
    () => resolveEvent?.(),
    () => {},
  );
  const samples: number[] = [];
  for (let i = 0; i < n; i += 1) {
    const seen = new Promise<void>((r) => (resolveEvent = r));
    const t0 = performance.now();
    await store.put(key, String(i));
    await seen;
    samples.push(performance.now() - t0);
  }
  await w.close();
  await store.delete(key);
  return samples;
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
  description: 'fleet mode on a real etcd: push to 5 real hosts vs the floor, etcd requests per host, start and RSS vs single-host',
  async run(ctx: BenchContext): Promise<BenchReport> {
    const missing = nginxMissing() ?? etcdMissing();
    if (missing) return { rows: [], notes: [`skipped: ${missing}`] };
    ensureCliBundle((m) => ctx.log(m));
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const etcd = await startEtcd(1);
    const hosts: Host[] = [];
    const store = await EtcdStore.connect({ endpoints: etcd.endpoints, timeoutMs: 5000 });
    try {
      const probe = await putToWatch(store, ctx.quick ? 30 : 200);
      const pw50 = percentile(probe, 50);
      const pw99 = percentile(probe, 99);
      rows.push({ metric: 'etcd put -> watch event (floor part)', value: round(pw50, 2), unit: 'ms p50', goal: `p99 ${round(pw99, 2)} ms` });

      const nHosts = 5;
      for (let i = 1; i <= nHosts; i += 1) hosts.push(await startHost(ctx, `h${i}`, etcd.endpoints));
      ctx.log(`${nHosts} hosts connected`);
      const pushes = ctx.quick ? 5 : 20;
      const latencies: number[] = [];
      const before = await etcdCounters(etcd.endpoints[0]!);
      const t0 = performance.now();
      for (let i = 1; i <= pushes; i += 1) {
        const text = `r${i}`;
        const start = performance.now();
        await storeRevision(store, [{ path: 'site.conf', bytes: Buffer.from(site(text)) }], { fleet: FLEET, target: 'nginx', author: 'bench', message: text });
        // Serving = a fresh connection on every host answers with the new text (asked back to back, no sleep).
        await Promise.all(
          hosts.map(async (h) => {
            while ((await fetchBody(h.sitePort)) !== text) {
              if (performance.now() - start > 60_000) throw new Error(`bench: ${h.name} not serving ${text} after 60 s`);
            }
          }),
        );
        latencies.push(performance.now() - start);
        // Every host also published its outcome before the next push.
        await until(
          () => hosts.every((h) => h.daemon.lines.some((l) => l.msg === 'fleet: revision applied' && l.fleet_revision === i)),
          `push ${i} applied`,
          60_000,
        );
      }
      const elapsedS = (performance.now() - t0) / 1000;
      const after = await etcdCounters(etcd.endpoints[0]!);
      // The host's own pass time for these revisions (its `api` passes: check, reload, verify).
      const passMs = hosts.flatMap((h) => h.daemon.lines.filter((l) => l.msg === 'reload pass' && l.trigger === 'api').map((l) => Number(l.duration_ms)));
      const pass50 = percentile(passMs, 50);
      const floor = pass50 + pw50;
      const p50 = percentile(latencies, 50);
      rows.push(
        { metric: 'one host pass (nginx -t, reload, verify; floor part)', value: round(pass50, 1), unit: 'ms p50' },
        {
          metric: `push -> every one of ${nHosts} hosts serving it (p50 of ${pushes})`,
          value: round(p50, 1),
          unit: 'ms',
          baseline: round(floor, 1),
          baselineName: 'floor: one pass + put->watch',
          ratio: round(p50 / floor, 2),
          goal: `p90 ${round(percentile(latencies, 90), 1)} ms`,
        },
      );
      // Requests: every unary call etcd handled, minus the pusher's (get head, get desired, txn per push);
      // stream messages are the watches' and the lease keepalives (one per TTL/3 per host).
      const unary = after.unary - before.unary - pushes * 3;
      const keepalives = (elapsedS / (10 / 3)) * nHosts;
      const streams = after.streamMsgs - before.streamMsgs;
      rows.push({
        metric: 'etcd requests per host per revision (unary: range + put)',
        value: round(unary / (nHosts * pushes), 2),
        unit: 'requests',
        goal: `+ ${round(Math.max(0, streams - keepalives) / (nHosts * pushes), 2)} stream messages besides keepalives`,
      });
      const methods = [...after.byMethod].map(([m, v]) => `${m} ${v - (before.byMethod.get(m) ?? 0)}`).join(', ');
      notes.push(`etcd unary calls during the ${pushes} pushes by method: ${methods} (the pusher made ${pushes * 3} of them)`);

      for (const h of hosts) {
        await h.daemon.stop();
        await h.nginx.stop();
      }
      hosts.length = 0;
      await startupComparison(ctx, etcd, rows);
      await leaderKillStall(rows, notes, ctx.quick ? 1 : 3);
      notes.push('start: spawn of dist/cli.js run -> first status reply; RSS after 1 s idle (fleet mode: after "fleet: connected to etcd", so gRPC is loaded)');
    } finally {
      for (const h of hosts) {
        await h.daemon.stop().catch(() => {});
        await h.nginx.stop().catch(() => {});
      }
      store.close();
      await etcd.close();
    }
    return { rows, notes };
  },
};
