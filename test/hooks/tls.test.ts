// tlsHook against a real TLS server and real openssl-made certificates.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { z } from 'zod';
import { createReloader, tlsHook, type ConfigOf, type Hook, type TlsHook } from '../../src/index.js';
import { makeCert, makeExpiredCert, opensslAvailable, type CertPair } from '../helpers/certs.js';
import { MemorySource } from '../helpers/memory-source.js';

const schema = z.object({ tls: z.object({ cert: z.string(), key: z.string() }) });
type Config = ConfigOf<typeof schema>;

const hasOpenssl = await opensslAvailable();
let dir = '';
let a: CertPair;
let b: CertPair;

before(async () => {
  if (!hasOpenssl) return;
  dir = await mkdtemp(join(tmpdir(), 'reloadkit-tls-'));
  [a, b] = await Promise.all([makeCert(dir, 'a'), makeCert(dir, 'b')]);
  await writeFile(join(dir, 'a.csr.txt'), 'not a certificate\n');
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

// Servers, reloaders and sockets a test opened; closed after it, pass or fail.
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** An echo TLS server; returns it with its port. Closed (with its connections) after the test. */
async function echoServer(options: tls.TlsOptions = {}): Promise<{ server: tls.Server; port: number }> {
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer(options, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise((res) => server.close(res));
  });
  return { server, port: (server.address() as AddressInfo).port };
}

/** Opens a TLS connection and resolves once the handshake is done. */
async function connect(port: number): Promise<tls.TLSSocket> {
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  cleanups.push(() => socket.destroy());
  await once(socket, 'secureConnect');
  return socket;
}

async function fingerprintOfNewHandshake(port: number): Promise<string> {
  const socket = await connect(port);
  const fp = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fp;
}

async function echo(socket: tls.TLSSocket, text: string): Promise<string> {
  socket.write(text);
  const [data] = (await once(socket, 'data')) as [Buffer];
  return data.toString();
}

async function setup(initial: { cert: string; key: string }, options: { baseline?: boolean } = {}) {
  const source = new MemorySource({ tls: initial });
  let server: tls.Server | undefined;
  const hook: TlsHook<Config> = tlsHook(() => server, { cert: 'tls.cert', key: 'tls.key' });
  const r = createReloader({ source, schema, hooks: [hook] });
  cleanups.push(() => r.close());
  await r.start();
  const started = await echoServer(options.baseline === false ? { cert: a.cert, key: a.key } : await hook.serverOptions(r.current()));
  server = started.server;
  return { r, source, port: started.port };
}

describe('tlsHook', { skip: !hasOpenssl }, () => {
  test('a new pair reaches new handshakes while an open connection keeps working', async () => {
    const { r, source, port } = await setup({ cert: a.certFile, key: a.keyFile });
    const open = await connect(port);
    assert.equal(open.getPeerCertificate().fingerprint256, a.fingerprint256);
    assert.equal(await echo(open, 'one'), 'one');

    source.set({ tls: { cert: b.certFile, key: b.keyFile } });
    const res = await r.reload();
    assert.equal(res.status, 'full_success');
    assert.deepEqual(
      res.outcomes.map((o) => [o.name, o.status]),
      [['tls-certificate', 'applied']],
    );
    assert.equal(await fingerprintOfNewHandshake(port), b.fingerprint256);
    assert.equal(await echo(open, 'two'), 'two');
  });

  test('rotated in place under the same path: an explicit reload applies it, the next one skips', async () => {
    const certFile = join(dir, 'live.crt');
    const keyFile = join(dir, 'live.key');
    await copyFile(a.certFile, certFile);
    await copyFile(a.keyFile, keyFile);
    const { r, port } = await setup({ cert: certFile, key: keyFile });

    const unchanged = await r.reload();
    assert.equal(unchanged.outcomes[0]!.status, 'skipped');
    await copyFile(b.certFile, certFile);
    await copyFile(b.keyFile, keyFile);
    const rotated = await r.reload();
    assert.equal(rotated.status, 'full_success');
    assert.equal(rotated.outcomes[0]!.status, 'applied');
    assert.deepEqual(rotated.changed, []);
    assert.equal(await fingerprintOfNewHandshake(port), b.fingerprint256);
    assert.equal((await r.reload()).outcomes[0]!.status, 'skipped');
  });

  test('PEM text in the config works like file paths', async () => {
    const { r, source, port } = await setup({ cert: a.cert, key: a.key });
    source.set({ tls: { cert: b.cert, key: b.key } });
    assert.equal((await r.reload()).status, 'full_success');
    assert.equal(await fingerprintOfNewHandshake(port), b.fingerprint256);
  });

  test('key PEM text in the config never appears in a result', async () => {
    const { r, source } = await setup({ cert: a.cert, key: a.key });
    source.set({ tls: { cert: a.cert, key: b.key } });
    const res = await r.reload();
    assert.equal(res.status, 'validation_failed');
    assert.match(res.error!, /do not match/);
    const body = b.key.split('\n')[1]!;
    assert.ok(body.length > 20);
    assert.ok(!JSON.stringify(res).includes(body));
  });

  const refusals: [string, () => Promise<{ cert: string; key: string }>, RegExp][] = [
    [
      'a key that belongs to another certificate',
      async () => ({ cert: b.certFile, key: a.keyFile }),
      /certificate .*b\.crt and private key \[REDACTED\] do not match/,
    ],
    ['a missing file', async () => ({ cert: join(dir, 'nope.crt'), key: a.keyFile }), /certificate \(tls\.cert\): cannot read .*nope\.crt: ENOENT/],
    [
      'a certificate that is not one',
      async () => ({ cert: join(dir, 'a.csr.txt'), key: a.keyFile }),
      /certificate .*a\.csr\.txt does not load: .*no start line/,
    ],
    ['a key that is not one', async () => ({ cert: a.certFile, key: a.certFile }), /private key \[REDACTED\] does not load/],
    ['an empty value', async () => ({ cert: '', key: a.keyFile }), /certificate \(tls\.cert\): expected a file path or PEM text, got an empty string/],
    [
      'an expired certificate',
      async () => {
        const old = await makeExpiredCert(dir, 'old');
        return { cert: old.certFile, key: old.keyFile };
      },
      /certificate .*old\.crt expired on Jan {2}2 00:00:00 2020 GMT/,
    ],
  ];
  for (const [what, make, message] of refusals) {
    test(`refused in check, old certificate kept: ${what}`, async () => {
      const { r, source, port } = await setup({ cert: a.certFile, key: a.keyFile });
      source.set({ tls: await make() });
      const res = await r.reload();
      assert.equal(res.status, 'validation_failed');
      assert.equal(res.generation, 0);
      assert.match(res.error!, message);
      assert.equal(await fingerprintOfNewHandshake(port), a.fingerprint256);
    });
  }

  test('without serverOptions() the first reload installs the pair (harmless), later ones skip', async () => {
    const { r, port } = await setup({ cert: a.certFile, key: a.keyFile }, { baseline: false });
    assert.equal((await r.reload()).outcomes[0]!.status, 'applied');
    assert.equal((await r.reload()).outcomes[0]!.status, 'skipped');
    assert.equal(await fingerprintOfNewHandshake(port), a.fingerprint256);
  });

  test('a server function that returns nothing is a failed outcome, not a crash', async () => {
    const source = new MemorySource({ tls: { cert: a.certFile, key: a.keyFile } });
    const hook: Hook<Config> = tlsHook(() => undefined, { cert: 'tls.cert', key: 'tls.key' });
    const r = createReloader({ source, schema, hooks: [hook] });
    cleanups.push(() => r.close());
    await r.start();
    const res = await r.reload();
    assert.equal(res.status, 'apply_failed');
    assert.match(res.error!, /no server to give the certificate to yet/);
  });

  test('policy rollback puts the previous certificate back', async () => {
    const source = new MemorySource({ tls: { cert: a.certFile, key: a.keyFile } });
    let server: tls.Server | undefined;
    const hook = tlsHook(() => server, { cert: (c: Config) => c.tls.cert, key: (c: Config) => c.tls.key });
    const failing: Hook<Config> = { name: 'after-tls', apply: () => 'failed' };
    const r = createReloader({ source, schema, hooks: [hook, failing], onApplyFailure: 'rollback' });
    cleanups.push(() => r.close());
    await r.start();
    const started = await echoServer(await hook.serverOptions(r.current()));
    server = started.server;
    source.set({ tls: { cert: b.certFile, key: b.keyFile } });
    const res = await r.reload();
    assert.equal(res.status, 'rolled_back');
    assert.equal(await fingerprintOfNewHandshake(started.port), a.fingerprint256);
  });

  test('serverOptions() at boot with a missing certificate rejects with ERR_LOAD naming the hook and the file', async () => {
    const hook = tlsHook(() => undefined, { cert: (c: Config) => c.tls.cert, key: (c: Config) => c.tls.key });
    await assert.rejects(hook.serverOptions({ tls: { cert: '/nonexistent/tls.crt', key: a.keyFile } }), {
      code: 'ERR_LOAD',
      message: /^tlsHook "tls-certificate": certificate \(selector\): cannot read \/nonexistent\/tls\.crt: ENOENT/,
    });
  });

  test('bad options are refused when the hook is created', () => {
    assert.throws(() => tlsHook({} as never, { cert: 'tls.cert', key: 'tls.key' }), /server must have setSecureContext/);
    assert.throws(() => tlsHook(() => undefined, { cert: 'tls.certs[*]', key: 'tls.key' }), /cert: bad path .*wildcards/);
  });
});
