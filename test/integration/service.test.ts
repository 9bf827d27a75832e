// examples/service as a real child process: real HTTPS, real certificates
// (openssl), real file edits picked up by the watcher, real SIGHUP, the real
// admin socket, real upstream servers.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { makeCert, opensslAvailable, type CertPair } from '../helpers/certs.js';
import { waitFor } from '../helpers/wait.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const hasOpenssl = await opensslAvailable();

interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

let dir = '';
let configPath = '';
let socketPath = '';
let child: ChildProcess | undefined;
let port = 0;
const logs: LogLine[] = [];
const upstreams: http.Server[] = [];
const upstreamUrls: string[] = [];
let certs: Record<'a' | 'b' | 'c', CertPair>;
const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });

const config = {
  server: { host: '127.0.0.1', port: 0 },
  log: { level: 'info' },
  upstream: { url: '', timeout_ms: 5000 },
  rate_limit: { requests: 1000, window_ms: 60_000 },
  tls: { cert_file: 'certs/server.crt', key_file: 'certs/server.key' },
};

/** Writes the config the way editors do: a temp file renamed over it. */
async function writeConfig(): Promise<void> {
  const tmp = `${configPath}.tmp`;
  await writeFile(tmp, stringify(config));
  await rename(tmp, configPath);
}

/** `what`, and the service's last log lines when a wait times out. */
const withLogs = (what: string) => () =>
  `${what}; last logs:\n${logs
    .slice(-8)
    .map((l) => JSON.stringify(l))
    .join('\n')}`;

/** One admin-socket command: one line out, one JSON line back. */
async function admin(command: string): Promise<Record<string, any>> {
  const socket = net.connect(socketPath);
  socket.end(`${command}\n`);
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (data += d));
  await once(socket, 'close');
  return JSON.parse(data) as Record<string, any>;
}

async function unitStatus(): Promise<Record<string, any>> {
  return (await admin('status')).units.service as Record<string, any>;
}

/** Waits until a pass moved the generation to `generation`; returns its result. */
async function passTo(generation: number): Promise<Record<string, any>> {
  return waitFor(
    async () => {
      const u = await unitStatus();
      return u.generation === generation ? (u.last_result as Record<string, any>) : undefined;
    },
    withLogs(`generation ${generation}`),
  );
}

interface Reply {
  status: number;
  body: string;
  fingerprint: string;
  reused: boolean;
}

async function get(path: string, via: https.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, agent: via, rejectUnauthorized: false }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', reject);
  });
}

async function newHandshakeFingerprint(): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const fp = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fp;
}

async function upstream(body: string): Promise<string> {
  const server = http.createServer((_req, res) => res.end(body));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstreams.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

async function installCert(pair: CertPair): Promise<void> {
  // Like certbot: new files renamed into place, never a half-written file.
  await copyFile(pair.certFile, join(dir, 'certs/server.crt.new'));
  await copyFile(pair.keyFile, join(dir, 'certs/server.key.new'));
  await rename(join(dir, 'certs/server.crt.new'), join(dir, 'certs/server.crt'));
  await rename(join(dir, 'certs/server.key.new'), join(dir, 'certs/server.key'));
}

before(async () => {
  if (!hasOpenssl) return;
  dir = await mkdtemp(join(tmpdir(), 'rk-svc-'));
  await mkdir(join(dir, 'certs'));
  await mkdir(join(dir, 'made'));
  const [a, b, c] = await Promise.all([makeCert(join(dir, 'made'), 'a'), makeCert(join(dir, 'made'), 'b'), makeCert(join(dir, 'made'), 'c')]);
  certs = { a, b, c };
  await installCert(a);
  upstreamUrls.push(await upstream('from upstream one'), await upstream('from upstream two'));
  config.upstream.url = upstreamUrls[0]!;
  configPath = join(dir, 'config.yaml');
  socketPath = join(dir, 'admin.sock');
  await writeConfig();

  child = spawn(process.execPath, ['--import', 'tsx', 'examples/service/server.ts', configPath, '--socket', socketPath], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let buffered = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.on('exit', (code) => {
    if (code !== 0 && code !== null) logs.push({ level: 60, msg: `exited ${code}: ${stderr}` });
  });
  const listening = await waitFor(() => logs.find((l) => l.msg === 'listening' || l.level >= 60), withLogs('the service to listen'));
  assert.equal(listening.msg, 'listening', JSON.stringify(listening));
  port = listening.port as number;
});

after(async () => {
  agent.destroy();
  if (child && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  for (const s of upstreams) s.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('examples/service', { skip: !hasOpenssl }, () => {
  test('serves HTTPS with the boot certificate and proxies the upstream', async () => {
    const res = await get('/data');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'from upstream one');
    assert.equal(res.fingerprint, certs.a.fingerprint256);
    assert.equal((await unitStatus()).generation, 0);
  });

  test('an upstream change (file watch) flushes the cache', async () => {
    config.upstream.url = upstreamUrls[1]!;
    await writeConfig();
    const result = await passTo(1);
    assert.equal(result.trigger, 'watch');
    assert.equal(result.status, 'full_success');
    assert.deepEqual(result.changed, ['upstream.url']);
    assert.deepEqual(
      (result.outcomes as { name: string; status: string }[]).map((o) => [o.name, o.status]),
      // onChange runs after the commit: it is not a hook outcome; the served body shows the flush.
      [
        ['log-level', 'skipped'],
        ['tls-certificate', 'skipped'],
      ],
    );
    assert.equal((await get('/data')).body, 'from upstream two');
  });

  test('the log level changes live: debug lines appear only after the change', async () => {
    await get('/health');
    assert.equal(logs.filter((l) => l.level === 20).length, 0);
    config.log.level = 'debug';
    await writeConfig();
    await passTo(2);
    await get('/health');
    const line = await waitFor(() => logs.find((l) => l.level === 20 && l.msg === 'request'), withLogs('a debug request line'));
    assert.equal(line.url, '/health');
    assert.equal(JSON.parse((await get('/status')).body).log_level, 'debug');
  });

  test('the rate limit changes live', async () => {
    for (let i = 0; i < 4; i += 1) assert.equal((await get('/data')).status, 200);
    config.rate_limit = { requests: 2, window_ms: 60_000 };
    await writeConfig();
    const result = await passTo(3);
    assert.deepEqual(result.changed, ['rate_limit.requests']);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i += 1) statuses.push((await get('/data')).status);
    assert.deepEqual(statuses, [200, 200, 429, 429, 429]);
    assert.deepEqual(JSON.parse((await get('/status')).body).rate_limit, { requests: 2, window_ms: 60_000 });
  });

  test('a certificate rotated in place + SIGHUP: new handshakes get it, an open keep-alive connection keeps working', async () => {
    const first = await get('/health', agent);
    assert.equal(first.fingerprint, certs.a.fingerprint256);
    await installCert(certs.b);
    child!.kill('SIGHUP');
    const result = await passTo(4);
    assert.equal(result.trigger, 'signal');
    assert.deepEqual(result.changed, []);
    assert.equal((result.outcomes as { name: string; status: string }[]).find((o) => o.name === 'tls-certificate')!.status, 'applied');

    assert.equal(await newHandshakeFingerprint(), certs.b.fingerprint256);
    const again = await get('/health', agent);
    assert.equal(again.status, 200);
    assert.equal(again.reused, true, 'the keep-alive connection was reused');
    assert.equal(again.fingerprint, certs.a.fingerprint256, 'the open connection keeps its session');
  });

  test('new certificate paths through the admin socket reload', async () => {
    config.tls = { cert_file: certs.c.certFile, key_file: certs.c.keyFile };
    await writeConfig();
    // The watcher may run its own pass first; the reply is for a pass that
    // started after the request, so the new pair is in effect either way.
    const reply = await admin('reload');
    assert.equal(reply.status, 'ok', JSON.stringify(reply));
    assert.equal((reply.results.service as Record<string, any>).status, 'full_success');
    assert.equal(await newHandshakeFingerprint(), certs.c.fingerprint256);
    assert.deepEqual(JSON.parse((await get('/status')).body).pending_restart, []);
  });

  test('a port change is reported as requires_restart while the service keeps serving on the old port', async () => {
    const before = (await unitStatus()).generation as number;
    config.server.port = port + 1;
    await writeConfig();
    const result = await passTo(before + 1);
    assert.equal(result.status, 'full_success');
    assert.deepEqual(result.requires_restart, ['server.port']);
    assert.deepEqual((await unitStatus()).pending_restart, ['server.port']);
    const status = JSON.parse((await get('/status')).body);
    assert.equal(status.listening, port);
    assert.deepEqual(status.pending_restart, ['server.port']);
    // The pass's one log line is a warning that names the path.
    const line = logs.find((l) => l.msg === 'reload pass' && l.generation === before + 1);
    assert.ok(line, 'a pass line for the port change');
    assert.equal(line.level, 40, JSON.stringify(line));
    assert.deepEqual(line.requires_restart, ['server.port']);

    // The warning stays on later passes: it compares with the boot config, not the last one.
    config.log.level = 'info';
    await writeConfig();
    const later = await passTo(before + 2);
    assert.deepEqual(later.requires_restart, ['server.port']);
  });

  test('a broken config is refused and the service keeps running on the old one', async () => {
    const gen = (await unitStatus()).generation as number;
    await writeFile(configPath, stringify({ ...config, log: { level: 'loud' }, extra: 1 }));
    const reply = await admin('reload');
    assert.equal(reply.status, 'error');
    const result = reply.results.service as Record<string, any>;
    assert.equal(result.status, 'load_failed');
    assert.match(result.load_error as string, /log\.level: expected one of trace, debug/);
    assert.match(result.load_error as string, /extra/);
    assert.equal(result.generation, gen);
    assert.equal((await get('/health')).status, 200);
  });

  test('SIGTERM: exits 0 and removes the admin socket', async () => {
    assert.ok(existsSync(socketPath));
    child!.kill('SIGTERM');
    const [code] = (await once(child!, 'exit')) as [number | null];
    assert.equal(code, 0);
    assert.equal(existsSync(socketPath), false);
  });
});
