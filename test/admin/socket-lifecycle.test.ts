// The admin socket's file-system lifecycle: stale and live
// sockets, things that are not sockets (never deleted), permissions from the
// first moment, the connection cap, removal at shutdown.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  symlinkSync,
  unlinkSync,
  watch,
  writeFileSync,
  chmodSync,
} from 'node:fs';
import { createServer, connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { PrivateDir, PRIVATE_DIR_PREFIX } from '../../src/admin/socket-path.js';
import { startAdminSocket, type AdminSocketHandle } from '../../src/admin/socket.js';
import { command, rawExchange, recordingLogger, startApp, stubHost, tempDir, type AppFixture } from './support.js';
import { waitFor } from '../helpers/wait.js';

/** A socket file nobody listens on (what a crashed process leaves). */
async function makeStaleSocket(path: string): Promise<void> {
  const tmp = `${path}.live`;
  const server = createServer();
  await new Promise<void>((r) => server.listen(tmp, r));
  linkSync(tmp, path);
  await new Promise<void>((r) => server.close(() => r()));
  assert.ok(lstatSync(path).isSocket());
}

const privateDirs = (dir: string) => readdirSync(dir).filter((n) => n.startsWith(PRIVATE_DIR_PREFIX));

const host = stubHost();

describe('existing entries at the socket path', () => {
  test('a stale socket is removed and replaced', async () => {
    const { dir, cleanup } = tempDir();
    let app: AppFixture | undefined;
    try {
      await makeStaleSocket(join(dir, 'admin.sock'));
      writeFileSync(join(dir, 'config.yaml'), 'port: 1\n');
      app = await startApp({ dir });
      assert.equal((await command(app.socketPath, 'status')).status, 'ok');
      assert.ok(app.logger.at('info').some((e) => e.msg === 'removed a stale admin socket'));
      await app.cleanup();
      assert.equal(existsSync(app.socketPath), false);
      assert.deepEqual(privateDirs(dir), []);
    } finally {
      await app?.cleanup();
      cleanup();
    }
  });

  test('a live socket: the second instance warns and runs without it; the first keeps working', async () => {
    const first = await startApp();
    let second: AppFixture | undefined;
    try {
      const ino = lstatSync(first.socketPath).ino;
      second = await startApp({ dir: first.dir, name: 'second' });
      assert.ok(second.logger.at('warn').some((e) => /another process answers/.test(e.msg)));
      assert.equal((await second.r.reload()).status, 'full_success');
      const status = (await command(first.socketPath, 'status')) as { units: Record<string, unknown> };
      assert.deepEqual(Object.keys(status.units), ['app']);
      await second.r.close();
      assert.equal(lstatSync(first.socketPath).ino, ino, "the second instance left the first one's socket alone");
      assert.equal((await command(first.socketPath, 'reload')).status, 'ok');
    } finally {
      await second?.r.close();
      await first.cleanup();
    }
  });

  const cases: { name: string; make: (path: string, dir: string) => void | Promise<void>; check: (path: string, dir: string) => void }[] = [
    {
      name: 'a regular file',
      make: (p) => writeFileSync(p, 'precious'),
      check: (p) => {
        assert.ok(lstatSync(p).isFile());
        assert.equal(readFileSync(p, 'utf8'), 'precious');
      },
    },
    {
      name: 'a directory',
      make: (p) => {
        mkdirSync(p);
        writeFileSync(join(p, 'inside'), 'x');
      },
      check: (p) => assert.equal(readFileSync(join(p, 'inside'), 'utf8'), 'x'),
    },
    {
      name: 'a symlink to a file',
      make: (p, d) => {
        writeFileSync(join(d, 'target'), 'target content');
        symlinkSync(join(d, 'target'), p);
      },
      check: (p, d) => {
        assert.ok(lstatSync(p).isSymbolicLink());
        assert.equal(readlinkSync(p), join(d, 'target'));
        assert.equal(readFileSync(join(d, 'target'), 'utf8'), 'target content');
      },
    },
    {
      name: 'a dangling symlink',
      make: (p, d) => symlinkSync(join(d, 'nowhere'), p),
      check: (p, d) => assert.equal(readlinkSync(p), join(d, 'nowhere')),
    },
    {
      name: 'a symlink to a stale socket',
      make: async (p, d) => {
        await makeStaleSocket(join(d, 'other.sock'));
        symlinkSync(join(d, 'other.sock'), p);
      },
      check: (p, d) => {
        assert.ok(lstatSync(p).isSymbolicLink());
        assert.ok(lstatSync(join(d, 'other.sock')).isSocket());
      },
    },
    {
      name: 'a FIFO',
      make: (p) => execFileSync('mkfifo', [p]),
      check: (p) => assert.ok(lstatSync(p).isFIFO()),
    },
  ];
  for (const c of cases) {
    test(`${c.name} is never deleted: error logged, the reloader runs without the socket`, async () => {
      const { dir, cleanup } = tempDir();
      let app: AppFixture | undefined;
      try {
        const path = join(dir, 'admin.sock');
        await c.make(path, dir);
        const before = lstatSync(path);
        writeFileSync(join(dir, 'config.yaml'), 'port: 1\n');
        app = await startApp({ dir });
        assert.ok(
          app.logger.at('error').some((e) => /not a socket/.test(e.msg)),
          'an error is logged',
        );
        assert.equal((await app.r.reload()).status, 'full_success');
        await app.r.close();
        const now = lstatSync(path);
        assert.equal(now.ino, before.ino);
        c.check(path, dir);
        assert.deepEqual(privateDirs(dir), []);
      } finally {
        await app?.r.close();
        cleanup();
      }
    });
  }

  test('an entry swapped in during the removal check is put back, never deleted (quarantine)', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const path = join(dir, 'admin.sock');
      const pd = await PrivateDir.create(path);
      writeFileSync(join(dir, 'target'), 'keep me');
      for (const make of [() => writeFileSync(path, 'file'), () => symlinkSync(join(dir, 'target'), path), () => mkdirSync(path)]) {
        make();
        const ino = lstatSync(path).ino;
        assert.equal(await pd.quarantineRemove(null), 'restored');
        assert.equal(lstatSync(path).ino, ino);
        execFileSync('rm', ['-rf', path]);
      }
      // A socket with another identity than the expected one is also put back.
      await makeStaleSocket(path);
      const ino = lstatSync(path).ino;
      assert.equal(await pd.quarantineRemove({ dev: 0, ino: 1 }), 'restored');
      assert.equal(lstatSync(path).ino, ino);
      assert.equal(await pd.quarantineRemove(null), 'removed');
      assert.equal(existsSync(path), false);
      assert.equal(await pd.quarantineRemove(null), 'gone');
      assert.equal(readFileSync(join(dir, 'target'), 'utf8'), 'keep me');
      await pd.dispose();
      assert.deepEqual(privateDirs(dir), []);
    } finally {
      cleanup();
    }
  });

  test('private directories left by a crash are cleaned up; others are left alone', async () => {
    const { dir, cleanup } = tempDir();
    let sock: AdminSocketHandle | undefined;
    try {
      const crashed = join(dir, `${PRIVATE_DIR_PREFIX}dead01`);
      mkdirSync(crashed, { mode: 0o700 });
      await makeStaleSocket(join(crashed, 's'));
      const foreign = join(dir, `${PRIVATE_DIR_PREFIX}other1`);
      mkdirSync(foreign, { mode: 0o700 });
      writeFileSync(join(foreign, 's'), 'not a socket');
      sock = await startAdminSocket({ path: join(dir, 'a.sock'), host });
      assert.equal(existsSync(crashed), false);
      assert.equal(readFileSync(join(foreign, 's'), 'utf8'), 'not a socket');
    } finally {
      await sock?.close();
      cleanup();
    }
  });
});

describe('permissions', () => {
  test('mode 0600 from the first moment the path exists; the private directory is 0700', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'admin.sock');
    const seen: number[] = [];
    const privateModes: number[] = [];
    // Observe every appearance of the path while the socket is being created.
    const watcher = watch(dir, (_e, name) => {
      try {
        if (name === 'admin.sock') seen.push(lstatSync(path).mode & 0o777);
        else if (name?.startsWith(PRIVATE_DIR_PREFIX)) privateModes.push(lstatSync(join(dir, name)).mode & 0o777);
      } catch {
        // gone again
      }
    });
    let sock: AdminSocketHandle | undefined;
    try {
      sock = await startAdminSocket({ path, host });
      assert.equal(lstatSync(path).mode & 0o777, 0o600);
      await waitFor(() => seen.length > 0, 'the watcher to see the socket appear');
      assert.ok(
        seen.every((m) => m === 0o600),
        `modes seen: ${seen.map((m) => m.toString(8))}`,
      );
      assert.ok(
        privateModes.every((m) => m === 0o700),
        `private dir modes: ${privateModes.map((m) => m.toString(8))}`,
      );
    } finally {
      await sock?.close();
      watcher.close();
      cleanup();
    }
  });

  test('socket mode 0660 with a group', async () => {
    const { dir, cleanup } = tempDir();
    let sock: AdminSocketHandle | undefined;
    try {
      const path = join(dir, 'admin.sock');
      const gid = process.getgid!();
      sock = await startAdminSocket({ path, host, mode: 0o660, group: gid });
      const st = lstatSync(path);
      assert.equal(st.mode & 0o777, 0o660);
      assert.equal(st.gid, gid);
      await sock.close();
      await assert.rejects(startAdminSocket({ path, host, group: 'no-such-group-rk' }), /socket group "no-such-group-rk" does not exist/);
      await assert.rejects(startAdminSocket({ path, host, mode: 0o1777 }), /socket mode/);
    } finally {
      await sock?.close();
      cleanup();
    }
  });

  test(
    'another user cannot connect to a 0600 socket; a member of socket_group can with 0660',
    { skip: process.getuid?.() !== 0 ? 'needs root to run a client as another user' : false },
    async () => {
      const { dir, cleanup } = tempDir();
      chmodSync(dir, 0o755);
      const connectAs = (path: string) =>
        new Promise<string>((resolve) => {
          const script = `const s=require('net').connect(${JSON.stringify(path)});s.on('connect',()=>s.end('status\\n'));let d='';s.on('data',c=>d+=c);s.on('close',()=>process.stdout.write('REPLY '+d));s.on('error',e=>{process.stdout.write('ERR '+e.code);process.exit(0)})`;
          const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
          let out = '';
          child.stdout.on('data', (c: Buffer) => (out += c.toString()));
          child.on('close', () => resolve(out));
        });
      let a: AdminSocketHandle | undefined;
      let b: AdminSocketHandle | undefined;
      try {
        a = await startAdminSocket({ path: join(dir, 'a.sock'), host });
        assert.equal(await connectAs(join(dir, 'a.sock')), 'ERR EACCES');
        b = await startAdminSocket({ path: join(dir, 'b.sock'), host, mode: 0o660, group: 65534 });
        assert.match(await connectAs(join(dir, 'b.sock')), /^REPLY \{"status":"ok"/);
      } finally {
        await a?.close();
        await b?.close();
        cleanup();
      }
    },
  );
});

describe('limits and shutdown', () => {
  test('connection cap: excess connections get an error reply and close; capacity comes back', async () => {
    const app = await startApp({ socket: { maxConnections: 3 } });
    const idle: Socket[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        idle.push(
          await new Promise<Socket>((resolve) => {
            const s = connect({ path: app.socketPath }, () => resolve(s));
            s.on('error', () => {});
          }),
        );
      }
      // Accepted in order: by the time the 4th is served the first three are counted.
      assert.equal((await rawExchange(app.socketPath, 'status\n')).text, '{"status":"error","message":"too many connections"}\n');
      assert.ok(app.logger.at('warn').some((e) => /connection limit/.test(e.msg)));
      for (const s of idle) s.destroy();
      await waitFor(async () => (await rawExchange(app.socketPath, 'status\n')).text.startsWith('{"status":"ok"'), 'capacity to come back');
    } finally {
      for (const s of idle) s.destroy();
      await app.cleanup();
    }
  });

  test('close() resolves with a silent client still connected: it is cut after the grace period', async () => {
    const { dir, cleanup } = tempDir();
    let sock: AdminSocketHandle | undefined;
    try {
      sock = await startAdminSocket({ path: join(dir, 'a.sock'), host });
      const client = connect({ path: join(dir, 'a.sock') });
      client.on('error', () => {});
      const closed = new Promise<void>((r) => client.on('close', () => r()));
      await waitFor(() => sock!.connections === 1, 'the server to accept');
      const t0 = Date.now();
      await sock.close(300);
      assert.ok(Date.now() - t0 >= 250);
      assert.equal(sock.connections, 0);
      await closed;
    } finally {
      await sock?.close();
      cleanup();
    }
  });

  test('at shutdown the socket is removed only if it is still ours', async () => {
    const app = await startApp();
    try {
      unlinkSync(app.socketPath);
      writeFileSync(app.socketPath, 'someone else');
      await app.r.close();
      assert.equal(readFileSync(app.socketPath, 'utf8'), 'someone else');
      assert.deepEqual(privateDirs(app.dir), []);
    } finally {
      await app.cleanup();
    }
  });

  test('a missing parent directory: error logged, health says why, the reloader still starts', async () => {
    const { dir, cleanup } = tempDir();
    let sock: AdminSocketHandle | undefined;
    try {
      const logger = recordingLogger();
      sock = await startAdminSocket({ path: join(dir, 'missing', 'a.sock'), host, logger });
      assert.equal(sock.listening, false);
      assert.equal(sock.state, 'failed');
      assert.match(sock.health().reason ?? '', /ENOENT/);
      assert.ok(logger.at('error').length === 1);
    } finally {
      await sock?.close();
      cleanup();
    }
  });

  test('a path too long for a Unix socket is refused with a clear error', async () => {
    await assert.rejects(startAdminSocket({ path: `/tmp/${'x'.repeat(120)}.sock`, host }), { code: 'ERR_SOCKET_PATH', message: /longer than the 107 bytes/ });
    const { dir, cleanup } = tempDir();
    try {
      // Fits itself, but not with the private directory next to it (same parent, longer name).
      const parent = join(dir, 'd'.repeat(95 - dir.length - 1));
      mkdirSync(parent);
      const path = join(parent, 'a.sock');
      assert.ok(path.length <= 107);
      await assert.rejects(startAdminSocket({ path, host }), /too long/);
      assert.deepEqual(privateDirs(parent), []);
    } finally {
      cleanup();
    }
  });

  test('the socket file mode survives a stale-socket restart (0600 again)', async () => {
    const { dir, cleanup } = tempDir();
    let sock: AdminSocketHandle | undefined;
    try {
      const path = join(dir, 'admin.sock');
      await makeStaleSocket(path);
      chmodSync(path, 0o777);
      sock = await startAdminSocket({ path, host });
      assert.equal(statSync(path).mode & 0o777, 0o600);
    } finally {
      await sock?.close();
      cleanup();
    }
  });
});
