// One request per connection: a reload request or a health probe never goes
// out on a kept-alive socket the server may have closed meanwhile (nginx's
// old workers close theirs after a reload). Tested against a real server.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { httpRequest } from '../../src/shared/http-request.js';

describe('httpRequest', () => {
  let server: Server;
  let base: URL;
  const seen: { port: number; connection: string | undefined; method: string }[] = [];
  let connections = 0;

  before(async () => {
    server = createServer((req, res) => {
      seen.push({ port: req.socket.remotePort!, connection: req.headers.connection, method: req.method! });
      if (req.url === '/big') res.end('x'.repeat(100_000));
      else if (req.url === '/slow') setTimeout(() => res.end('late'), 2000).unref();
      else res.writeHead(req.url === '/missing' ? 404 : 200).end(`hello ${req.method}`);
    });
    // A long keep-alive: the server would happily reuse a connection if the client kept one.
    server.keepAliveTimeout = 60_000;
    server.on('connection', () => (connections += 1));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('opens a connection per request and asks the server to close it', async () => {
    seen.length = 0;
    const before = connections;
    for (let i = 0; i < 3; i += 1) assert.equal((await httpRequest(new URL('/ok', base), { timeoutMs: 5000 })).status, 200);
    assert.equal(connections - before, 3, 'three requests, three connections');
    assert.equal(new Set(seen.map((s) => s.port)).size, 3, 'three client ports');
    assert.ok(
      seen.every((s) => s.connection === 'close'),
      JSON.stringify(seen),
    );
  });

  it('returns the status and the body, cut at bodyCap; the method is sent', async () => {
    assert.deepEqual(await httpRequest(new URL('/missing', base), { method: 'POST', timeoutMs: 5000 }), { status: 404, body: 'hello POST' });
    const big = await httpRequest(new URL('/big', base), { timeoutMs: 5000, bodyCap: 10 });
    assert.deepEqual(big, { status: 200, body: 'xxxxxxxxxx' });
  });

  it('no answer within the timeout: ETIMEDOUT', async () => {
    await assert.rejects(
      httpRequest(new URL('/slow', base), { timeoutMs: 100 }),
      (e: NodeJS.ErrnoException) => e.code === 'ETIMEDOUT' && /no answer within 100 ms/.test(e.message),
    );
  });

  it('nothing listening: ECONNREFUSED', async () => {
    const s = createServer();
    s.listen(0, '127.0.0.1');
    await once(s, 'listening');
    const port = (s.address() as AddressInfo).port;
    s.close();
    await once(s, 'close');
    await assert.rejects(httpRequest(new URL(`http://127.0.0.1:${port}/`), { timeoutMs: 5000 }), (e: NodeJS.ErrnoException) => e.code === 'ECONNREFUSED');
  });
});
