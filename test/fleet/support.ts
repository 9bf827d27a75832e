// Fleet test hosts: each one a real `reloadkit run` daemon (the built CLI,
// a child process) with its own socket, state dir and admin HTTP, managing
// its own real nginx in a temp prefix. nginx serves a health text on
// `port` and the fleet-managed site (`<prefix>/fleet/*.conf`) on `sitePort`.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, Socket, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, startDaemon, type CliResult, type DaemonHandle, type LogLine } from '../integration/daemon-process.js';
import { childrenOf } from '../../src/daemon/targets/proc.js';
import { EtcdStore } from '../../src/etcd/client.js';
import { readFleetStatus, type FleetStatus } from '../../src/fleet/status.js';
import { freePort, httpGet, startTestNginx, waitFor, type TestNginx } from '../integration/helpers.js';

export const FLEET = 'web';

/** A site file: `location /` answering `text`. */
export function siteConf(text: string): string {
  return `location / { default_type text/plain; return 200 "${text}"; }\n`;
}

export interface HostOptions {
  name: string;
  endpoints: readonly string[];
  /** Lease TTL (default 2s, so lease tests are quick). */
  leaseTtl?: string;
  labels?: Record<string, string>;
  /** Extra YAML under admin (http_reload, token_file), indented by 2. */
  admin?: string;
  /** Extra YAML under fleet.etcd (TLS, auth), indented by 4. */
  etcdExtra?: string;
  /** Extra YAML under the nginx target (e.g. `signature:`), indented by 4. */
  targetExtra?: string;
  /** Files to create in the nginx prefix before start (relative path → content). */
  localFiles?: Record<string, string>;
  /** A health gate on the site's `/healthz` (any 2xx), passing for this long (e.g. `1s`). */
  healthFor?: string;
  /** Runs once the files are in place, before the daemon starts (e.g. to sign them). */
  prepare?(paths: { conf: string; fleetDir: string }): Promise<void> | void;
}

export interface FleetHost {
  name: string;
  nginx: TestNginx;
  dir: string;
  fleetDir: string;
  configPath: string;
  sitePort: number;
  daemon: DaemonHandle;
  /** `http://127.0.0.1:PORT` of the daemon's admin HTTP. */
  http: string;
  site(): Promise<string>;
  /** Log lines "fleet: revision applied" / failed / drift, for revision `n` (any when omitted). */
  applied(n?: number): LogLine[];
  failed(n?: number): LogLine[];
  /** Starts the daemon again (after stop or kill), same config and state. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function fleetYaml(o: HostOptions, nginx: TestNginx, dir: string, fleetDir: string, sitePort: number): string {
  const labels = o.labels ? `  labels: ${JSON.stringify(o.labels)}\n` : '';
  return `log_level: debug
state_dir: ${dir}/state
admin:
  socket: ${dir}/admin.sock
  http: 127.0.0.1:0
${o.admin ?? ''}fleet:
  name: ${FLEET}
  host: ${o.name}
${labels}  etcd:
    endpoints: [${o.endpoints.join(', ')}]
    lease_ttl: ${o.leaseTtl ?? '2s'}
    timeout: 1s
${o.etcdExtra ?? ''}targets:
  nginx:
    kind: nginx
    prefix: ${nginx.prefix}/
    config: ${nginx.conf}
    watch: [${nginx.conf}, ${fleetDir}]
    timeout: 20s
    fleet:
      dir: ${fleetDir}
${o.healthFor ? `      health: { url: "http://127.0.0.1:${sitePort}/healthz", for: ${o.healthFor}, interval: 100ms }\n` : ''}${o.targetExtra ?? ''}`;
}

async function launch(configPath: string, dir: string): Promise<{ daemon: DaemonHandle; http: string }> {
  const daemon = await startDaemon({ args: ['-c', configPath], socket: join(dir, 'admin.sock') });
  const started = daemon.lines.find((l) => l.msg === 'reloadkit started')!;
  return { daemon, http: `http://${String(started.http)}` };
}

export async function startFleetHost(o: HostOptions): Promise<FleetHost> {
  const nginx = await startTestNginx('ok');
  const dir = mkdtempSync(join(tmpdir(), `rk-fleet-${o.name}-`));
  const fleetDir = join(nginx.prefix, 'fleet');
  mkdirSync(fleetDir);
  writeFileSync(join(fleetDir, 'site.conf'), siteConf('v0'));
  for (const [rel, text] of Object.entries(o.localFiles ?? {})) {
    mkdirSync(join(nginx.prefix, rel, '..'), { recursive: true });
    writeFileSync(join(nginx.prefix, rel), text);
  }
  const sitePort = await freePort();
  nginx.writeConfig('ok', `    server {\n        listen 127.0.0.1:${sitePort};\n        include ${fleetDir}/*.conf;\n    }\n`);
  execFileSync('nginx', ['-p', `${nginx.prefix}/`, '-c', nginx.conf, '-s', 'reload'], { stdio: 'pipe' });
  await waitFor(async () => (await httpGet(sitePort).catch(() => ({ body: '' }))).body === 'v0', `${o.name}: nginx serving the site`);
  const configPath = join(dir, 'reloadkit.yaml');
  writeFileSync(configPath, fleetYaml(o, nginx, dir, fleetDir, sitePort));
  await o.prepare?.({ conf: nginx.conf, fleetDir });
  let { daemon, http } = await launch(configPath, dir);
  const linesFor = (msg: string, n?: number) => () => host.daemon.lines.filter((l) => l.msg === msg && (n === undefined || l.fleet_revision === n));
  const host: FleetHost = {
    name: o.name,
    nginx,
    dir,
    fleetDir,
    configPath,
    sitePort,
    daemon,
    http,
    site: async () => (await httpGet(sitePort)).body,
    applied: (n) => linesFor('fleet: revision applied', n)(),
    failed: (n) => linesFor('fleet: revision failed; previous files restored', n)(),
    async restart() {
      ({ daemon, http } = await launch(configPath, dir));
      host.daemon = daemon;
      host.http = http;
    },
    async close() {
      await host.daemon.stop('SIGKILL');
      await nginx.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return host;
}

/**
 * Waits until the host serves `text` and nginx has only its new worker left
 * (an old worker winding down may still take a connection with the old content).
 */
export async function serving(h: FleetHost, text: string): Promise<void> {
  await waitFor(async () => {
    const master = h.nginx.master();
    return master !== null && childrenOf(master).length === 1 && (await h.site()) === text;
  }, `${h.name} serving ${text}`);
}

/** Waits until the host's agent says it is connected to etcd. */
export async function connected(h: FleetHost, from = 0): Promise<void> {
  await h.daemon.waitForLine((l) => l.msg === 'fleet: connected to etcd', `${h.name} connected to etcd`, from, 30_000);
}

/** `reloadkit fleet ...` (the built CLI) against `endpoints`. */
export function fleetCli(endpoints: readonly string[], args: string[], cwd?: string): Promise<CliResult> {
  const extra = ['--etcd', endpoints.join(','), '--fleet', FLEET];
  const [sub, ...rest] = args;
  return cli(['fleet', sub!, ...extra, ...rest, ...(cwd ? ['--from', cwd] : [])]);
}

/** A temp directory with `files` (relative path → content) to push from. */
export function stage(files: Record<string, string | Buffer>): string {
  const d = mkdtempSync(join(tmpdir(), 'rk-stage-'));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(d, rel, '..'), { recursive: true });
    writeFileSync(join(d, rel), content);
  }
  return d;
}

export async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as T };
}

/** A TCP relay to etcd that a test can cut and restore: one host's network path to etcd. */
export interface Relay {
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

export async function startRelay(target: string): Promise<Relay> {
  const t = new URL(target);
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  const listen = async () => {
    server = createServer((client) => {
      const upstream = new Socket();
      sockets.add(client);
      sockets.add(upstream);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      upstream.connect(Number(t.port), t.hostname, () => {
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
  };
  const stop = async () => {
    const s = server;
    server = null;
    for (const so of sockets) so.destroy();
    sockets.clear();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  };
  await listen();
  return { url: `http://127.0.0.1:${port}`, cut: stop, restore: listen, close: stop };
}

/** One turn as the host itself logged it: when it started applying revision `n`, when it ended, and how. */
export interface HostTurn {
  host: string;
  start: number;
  end: number;
  ok: boolean;
}

/** The turns host `h` took for revision `n`, from its own log lines (its clock). */
export function turnsOf(h: FleetHost, n: number): HostTurn[] {
  const out: HostTurn[] = [];
  let start: number | null = null;
  for (const l of h.daemon.lines) {
    if (l.fleet_revision !== n) continue;
    if (l.msg === 'fleet: turn: applying the revision') start = Date.parse(String(l.time));
    else if (start !== null && (l.msg === 'fleet: revision applied' || l.msg === 'fleet: revision failed; previous files restored')) {
      out.push({ host: h.name, start, end: Date.parse(String(l.time)), ok: l.msg === 'fleet: revision applied' });
      start = null;
    }
  }
  return out;
}

/** The most hosts whose turns overlap at one instant. */
export function maxOverlap(turns: readonly HostTurn[]): number {
  const points = turns.flatMap((t) => [
    { at: t.start, d: 1 },
    { at: t.end, d: -1 },
  ]);
  // Ends before starts at the same instant: back to back is not overlap.
  points.sort((a, b) => a.at - b.at || a.d - b.d);
  let cur = 0;
  let max = 0;
  for (const p of points) {
    cur += p.d;
    max = Math.max(max, cur);
  }
  return max;
}

/** The fleet status read in-process (no CLI process per look). */
export async function fleetStatusOf(endpoints: readonly string[]): Promise<FleetStatus> {
  const store = await EtcdStore.connect({ endpoints, timeoutMs: 2000 });
  try {
    return await readFleetStatus(store, FLEET);
  } finally {
    store.close();
  }
}

/** Waits until the target's latest rollout is in one of `states`; returns the status. */
export async function rolloutIn(endpoints: readonly string[], states: readonly string[], what: string, timeoutMs = 60_000) {
  let last: FleetStatus | null = null;
  await waitFor(
    async () => {
      last = await fleetStatusOf(endpoints).catch(() => null);
      const s = last?.targets.nginx?.rollout?.state;
      return s !== undefined && states.includes(s);
    },
    what,
    timeoutMs,
  );
  return last!;
}

/** Every file under `dir` with its exact bytes and mode. */
export function snapshot(dir: string): Map<string, { bytes: Buffer; mode: number }> {
  const out = new Map<string, { bytes: Buffer; mode: number }>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r);
      else out.set(r, { bytes: readFileSync(join(d, e.name)), mode: statSync(join(d, e.name)).mode });
    }
  };
  walk(dir, '');
  return out;
}
