// A real etcd for tests: `/usr/bin/etcd` (Debian's etcd-server) started in
// temp data dirs on free loopback ports, as a single member or a 3-member
// cluster. Members can be stopped, killed (-9) and started again on the same
// ports and data, which is what the outage and failover tests need.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from '../integration/helpers.js';

const ETCD_BINARY = process.env.RELOADKIT_TEST_ETCD ?? '/usr/bin/etcd';

/**
 * Whether etcd can be used. Under CI=true a missing etcd is an error (the
 * tests fail, never skip); elsewhere they skip with a loud message.
 */
export function etcdOrSkip(): string | false {
  const r = spawnSync(ETCD_BINARY, ['--version'], { encoding: 'utf8' });
  if (r.error === undefined && r.status === 0) return false;
  const msg = `etcd is not installed (${ETCD_BINARY}): the fleet tests need a real etcd (apt-get install etcd-server etcd-client)`;
  if (process.env.CI === 'true') throw new Error(msg);
  process.stderr.write(`\n!!! SKIPPING: ${msg}\n\n`);
  return msg;
}

interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  running(): boolean;
  pid(): number | null;
  /** Starts the member again on its ports and data (after stop or kill); waits until it answers. */
  start(): Promise<void>;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
  /** SIGKILL (a crash), and waits for the exit. */
  kill(): Promise<void>;
  log(): string;
}

export interface TestEtcd {
  readonly members: EtcdMember[];
  /** Every member's client URL. */
  readonly endpoints: string[];
  /** The member that is the leader now (waits for one). */
  leader(timeoutMs?: number): Promise<EtcdMember>;
  /** Stops every member and removes the data. */
  close(): Promise<void>;
}

function post(url: string, path: string, body: unknown, timeoutMs = 2000): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const text = body === null ? null : JSON.stringify(body);
    const headers = text === null ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) };
    // The harness's own liveness probes; a TLS member's self-signed certificate is the one it was given.
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: text === null ? 'GET' : 'POST',
        agent: false,
        timeout: timeoutMs,
        headers,
        rejectUnauthorized: false,
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as unknown });
          } catch {
            resolve({ status: res.statusCode ?? 0, json: null });
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(text ?? undefined);
  });
}

/** The member's own id and the leader's id as it sees them, or null when it does not answer. */
async function memberStatus(clientUrl: string): Promise<{ member: string; leader: string } | null> {
  try {
    const r = await post(clientUrl, '/v3/maintenance/status', {});
    const j = r.json as { header?: { member_id?: string }; leader?: string } | null;
    if (r.status !== 200 || !j?.header?.member_id || !j.leader || j.leader === '0') return null;
    return { member: j.header.member_id, leader: j.leader };
  } catch {
    return null;
  }
}

export interface EtcdOptions {
  /** Serve clients over TLS with this certificate (peers stay on plain loopback HTTP). */
  tls?: { certFile: string; keyFile: string };
}

/** Starts `size` members (1 or 3) and waits until the cluster has a leader. */
export async function startEtcd(size: 1 | 3 = 1, options: EtcdOptions = {}): Promise<TestEtcd> {
  const root = mkdtempSync(join(tmpdir(), 'rk-etcd-'));
  const specs: { name: string; client: number; peer: number }[] = [];
  for (let i = 1; i <= size; i += 1) specs.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const token = `rk-test-${specs[0]!.client}`;
  const cluster = specs.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const procs = new Map<string, ChildProcess>();

  const members: EtcdMember[] = specs.map((s) => {
    const clientUrl = `${options.tls ? 'https' : 'http'}://127.0.0.1:${s.client}`;
    const peerUrl = `http://127.0.0.1:${s.peer}`;
    const dataDir = join(root, s.name);
    const logFile = join(root, `${s.name}.log`);
    const exitOf = (p: ChildProcess) =>
      new Promise<void>((resolve) => (p.exitCode !== null || p.signalCode !== null ? resolve() : p.once('exit', () => resolve())));
    const m: EtcdMember = {
      name: s.name,
      clientUrl,
      peerUrl,
      dataDir,
      logFile,
      running: () => {
        const p = procs.get(s.name);
        return p !== undefined && p.exitCode === null && p.signalCode === null;
      },
      pid: () => (m.running() ? (procs.get(s.name)!.pid ?? null) : null),
      async start() {
        if (m.running()) return;
        const fd = openSync(logFile, 'a');
        const p = spawn(
          ETCD_BINARY,
          [
            '--name',
            s.name,
            '--data-dir',
            dataDir,
            '--listen-client-urls',
            clientUrl,
            '--advertise-client-urls',
            clientUrl,
            '--listen-peer-urls',
            peerUrl,
            '--initial-advertise-peer-urls',
            peerUrl,
            '--initial-cluster',
            cluster,
            '--initial-cluster-state',
            'new',
            '--initial-cluster-token',
            token,
            // Debian's etcd 3.4 warns about this flag on the command line; it keeps the members' memory small.
            '--quota-backend-bytes',
            String(256 * 1024 * 1024),
            ...(options.tls ? ['--cert-file', options.tls.certFile, '--key-file', options.tls.keyFile] : []),
            '--logger',
            'zap',
            '--log-outputs',
            'stderr',
          ],
          { stdio: ['ignore', fd, fd] },
        );
        closeSync(fd);
        procs.set(s.name, p);
        // Answers /health once it has joined (a lone member of a 3-member cluster waits for a quorum: not checked here).
        await waitFor(
          async () => {
            if (!m.running()) throw new Error(`etcd ${s.name} exited at start: ${m.log().slice(-2000)}`);
            try {
              const r = await post(clientUrl, '/health', null, 1000);
              return r.status > 0;
            } catch {
              return false;
            }
          },
          `etcd ${s.name} to listen on ${clientUrl}`,
          30_000,
        );
      },
      async stop() {
        const p = procs.get(s.name);
        if (!p || !m.running()) return;
        p.kill('SIGTERM');
        await exitOf(p);
      },
      async kill() {
        const p = procs.get(s.name);
        if (!p || !m.running()) return;
        p.kill('SIGKILL');
        await exitOf(p);
      },
      log: () => {
        try {
          return readFileSync(logFile, 'utf8');
        } catch {
          return '';
        }
      },
    };
    return m;
  });

  const etcd: TestEtcd = {
    members,
    endpoints: members.map((m) => m.clientUrl),
    async leader(timeoutMs = 30_000) {
      return waitFor(
        async () => {
          for (const m of members) {
            if (!m.running()) continue;
            const st = await memberStatus(m.clientUrl);
            if (st && st.member === st.leader) return m;
          }
          return null;
        },
        'an etcd leader',
        timeoutMs,
      );
    },
    async close() {
      await Promise.all(members.map((m) => m.kill()));
      if (!process.env.RK_KEEP) rmSync(root, { recursive: true, force: true });
    },
  };
  const onExit = () => {
    for (const p of procs.values()) {
      try {
        p.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  };
  process.once('exit', onExit);
  try {
    await Promise.all(members.map((m) => m.start()));
    await etcd.leader();
  } catch (err) {
    await etcd.close();
    throw err;
  }
  return etcd;
}
