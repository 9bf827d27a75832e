// The CLI's admin client against real sockets: replies, and a clear message
// for every way the daemon can be unreachable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { linkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { sendAdminCommand } from '../../src/admin/client.js';
import { startApp, tempDir } from './support.js';
import { AdminClientError } from '../../src/shared/errors.js';

test('sends one line and returns the reply line', async () => {
  const app = await startApp();
  try {
    const status = JSON.parse(await sendAdminCommand(app.socketPath, 'status')) as { status: string; units: Record<string, unknown> };
    assert.equal(status.status, 'ok');
    assert.deepEqual(Object.keys(status.units), ['app']);
    assert.equal(await sendAdminCommand(app.socketPath, 'RELOAD'), 'OK');
    app.write('port: 5\n');
    const reload = JSON.parse(await sendAdminCommand(app.socketPath, 'reload app')) as { status: string };
    assert.equal(reload.status, 'ok');
  } finally {
    await app.cleanup();
  }
});

async function rejectsWith(p: Promise<unknown>, reason: string, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof AdminClientError, String(err));
    assert.equal(err.reason, reason);
    assert.match(err.message, message);
    return true;
  });
}

test('missing socket, stale socket, a regular file, timeout, closed without reply', async () => {
  const { dir, cleanup } = tempDir();
  // Closed in `finally`, so a failed assertion leaves no server keeping this file's process alive.
  const servers: Server[] = [];
  try {
    const missing = join(dir, 'missing.sock');
    await rejectsWith(sendAdminCommand(missing, 'status'), 'ENOENT', new RegExp(`^no admin socket at ${missing} \\(is reloadkit running\\?\\)$`));

    const stale = join(dir, 'stale.sock');
    const s = createServer();
    servers.push(s);
    await new Promise<void>((r) => s.listen(join(dir, 'live.sock'), r));
    linkSync(join(dir, 'live.sock'), stale);
    await new Promise<void>((r) => s.close(() => r()));
    await rejectsWith(sendAdminCommand(stale, 'status'), 'ECONNREFUSED', /refused the connection \(reloadkit is not running; the socket file is stale\)/);

    writeFileSync(join(dir, 'file'), 'x');
    await assert.rejects(sendAdminCommand(join(dir, 'file'), 'status'), AdminClientError);

    const silent = createServer(() => {});
    servers.push(silent);
    const silentPath = join(dir, 'silent.sock');
    await new Promise<void>((r) => silent.listen(silentPath, r));
    await rejectsWith(sendAdminCommand(silentPath, 'status', { timeoutMs: 200 }), 'ETIMEDOUT', /no reply from the admin socket at .* within 0\.2 s/);

    const rude = createServer((c) => c.end());
    servers.push(rude);
    const rudePath = join(dir, 'rude.sock');
    await new Promise<void>((r) => rude.listen(rudePath, r));
    await rejectsWith(sendAdminCommand(rudePath, 'status'), 'ECLOSED', /closed the connection without a reply/);
  } finally {
    for (const server of servers) if (server.listening) server.close();
    cleanup();
  }
});

test('permission denied names the fix', { skip: process.getuid?.() !== 0 ? 'needs root to run the client as another user' : false }, async () => {
  const app = await startApp();
  try {
    const { chmodSync } = await import('node:fs');
    const { spawn } = await import('node:child_process');
    chmodSync(app.dir, 0o755);
    const clientUrl = new URL('../../src/admin/client.ts', import.meta.url).href;
    const script = `import(${JSON.stringify(clientUrl)}).then((m) => m.sendAdminCommand(${JSON.stringify(app.socketPath)}, 'status')).then((r) => console.log('REPLY', r), (e) => console.log(e.reason, e.message))`;
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c.toString()));
      child.on('close', () => resolve(text.trim()));
    });
    assert.equal(out, `EACCES permission denied on the admin socket at ${app.socketPath} (run as its owner or a member of its group)`);
  } finally {
    await app.cleanup();
  }
});
