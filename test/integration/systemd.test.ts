// The built daemon under a stand-in service manager, without systemd as PID 1:
// a Unix datagram socket as NOTIFY_SOCKET receives what `Type=notify` (and
// `Type=notify-reload`) expects, in order, from the daemon's process; and
// systemd-socket-activate passes the admin and HTTP sockets (LISTEN_FDS) the
// daemon serves instead of creating its own, leaving their files in place.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { sendAdminCommand } from '../../src/admin/client.js';
import { serviceManagerToolsOrSkip, startNotifyListener, type Notification, type NotifyListener } from '../helpers/notify-listener.js';
import { cli, startDaemon, type DaemonHandle, type StartOptions } from './daemon-process.js';
import { freePort, httpGet, waitFor } from './helpers.js';

const skip = serviceManagerToolsOrSkip();
const tmp = mkdtempSync(join(tmpdir(), 'rk-systemd-'));
const running = new Set<DaemonHandle>();
const listeners = new Set<NotifyListener>();
after(async () => {
  for (const d of running) await d.stop('SIGKILL');
  for (const l of listeners) l.close();
  rmSync(tmp, { recursive: true, force: true });
});

const caseDir = () => mkdtempSync(join(tmp, 'case-'));

/** A daemon config with one command target `app` whose check fails while `<dir>/broken` exists. */
function writeConfig(dir: string, admin = `admin:\n  socket: ${join(dir, 'admin.sock')}\n  http: ""\n`, extraTargets = ''): string {
  const file = join(dir, 'reloadkit.yaml');
  writeFileSync(
    file,
    `state_dir: ${join(dir, 'state')}
${admin}targets:
  app:
    kind: command
    check: [test, "!", -e, ${join(dir, 'broken')}]
    reload: ["true"]
${extraTargets}`,
  );
  return file;
}

async function listen(address: string): Promise<NotifyListener> {
  const l = await startNotifyListener(address);
  listeners.add(l);
  return l;
}

async function run(o: StartOptions): Promise<DaemonHandle> {
  const d = await startDaemon(o);
  running.add(d);
  void d.exited.then(() => running.delete(d));
  return d;
}

const has = (key: string, value?: string) => (m: Notification) => (value === undefined ? key in m.fields : m.fields[key] === value);
const isRoot = process.getuid?.() === 0;
const nowUsec = () => process.hrtime.bigint() / 1000n;

/** The messages after index `from`, as their fields without MAINPID (systemd-notify's --pid adds it to each). */
function since(l: NotifyListener, from: number): Record<string, string>[] {
  return l.messages.slice(from).map(({ fields: { MAINPID: _pid, ...rest } }) => rest);
}

describe('systemd: notifications and socket activation (built daemon)', { skip }, () => {
  it('Type=notify: READY once the socket answers, RELOADING/READY around SIGHUP reloads that succeed or fail, STATUS after passes, STOPPING at stop', async () => {
    const dir = caseDir();
    const l = await listen(join(dir, 'notify.sock'));
    const d = await run({ args: ['-c', writeConfig(dir)], socket: join(dir, 'admin.sock'), env: { NOTIFY_SOCKET: l.address } });
    const pid = d.proc.pid!;

    const ready = await l.next(has('READY', '1'), 'READY=1');
    assert.equal(l.messages.indexOf(ready), 0, 'READY=1 is the first message');
    assert.match(ready.fields.STATUS ?? '', /^1 target; every unit serves a valid config$/);
    assert.equal(ready.fields.MAINPID, String(pid));
    // As root, systemd-notify --pid attributes the message to the daemon itself (NotifyAccess=main would take it too).
    if (isRoot) assert.equal(ready.pid, pid);
    assert.match(await sendAdminCommand(d.socket, 'status'), /"status":"ok"/);

    // A SIGHUP reload that succeeds: RELOADING=1 with the monotonic time it began, the passes' STATUS, then READY=1.
    let from = l.messages.length;
    const before = nowUsec();
    d.proc.kill('SIGHUP');
    const reloading = await l.next(has('RELOADING', '1'), 'RELOADING=1', from);
    const usec = BigInt(reloading.fields.MONOTONIC_USEC ?? '0');
    assert.ok(usec >= before && usec <= reloading.seenUsec, `MONOTONIC_USEC ${usec} is CLOCK_MONOTONIC between ${before} and ${reloading.seenUsec}`);
    await l.next(has('READY', '1'), 'READY=1 after the reload', from);
    let seen = since(l, from);
    assert.deepEqual(seen[0], { RELOADING: '1', MONOTONIC_USEC: String(usec), STATUS: 'reloading (SIGHUP)' });
    assert.ok(
      seen.slice(1, -1).every((m) => Object.keys(m).join() === 'STATUS'),
      `only STATUS= between RELOADING=1 and READY=1: ${JSON.stringify(seen)}`,
    );
    assert.ok(
      seen.some((m) => /^app: (full_success|unchanged); 1 target; every unit serves a valid config$/.test(m.STATUS ?? '')),
      JSON.stringify(seen),
    );
    assert.equal(seen.at(-1)!.READY, '1');
    assert.ok(d.passes('app').some((p) => p.trigger === 'signal'));

    // A SIGHUP reload whose check fails: the same sequence; the daemon stays ready (it still serves the config it had), STATUS says degraded.
    writeFileSync(join(dir, 'broken'), '');
    from = l.messages.length;
    d.proc.kill('SIGHUP');
    await l.next(has('READY', '1'), 'READY=1 after the failed reload', from);
    seen = since(l, from);
    assert.equal(seen[0]!.RELOADING, '1');
    assert.ok(
      seen.some((m) => /^app: validation_failed \(app: test .* exited with code 1\); 1 target; degraded: app$/.test(m.STATUS ?? '')),
      JSON.stringify(seen),
    );
    assert.deepEqual(seen.at(-1), { READY: '1', STATUS: '1 target; degraded: app' });
    assert.equal(d.passes('app').at(-1)!.status, 'validation_failed');

    // Stop: STOPPING=1 is the last message, then exit 0.
    from = l.messages.length;
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.deepEqual(since(l, from), [{ STOPPING: '1', STATUS: 'stopping' }]);
    // Nothing but these kinds of messages, and no watchdog pings without WATCHDOG_USEC.
    for (const m of l.messages)
      assert.ok(
        ['READY', 'RELOADING', 'STATUS', 'STOPPING'].some((k) => k in m.fields),
        m.text,
      );
    // Messages from the daemon's process: from its pid, or (without the privilege to say so) from its systemd-notify child.
    if (isRoot) assert.ok(l.messages.every((m) => m.pid === pid));
  });

  it('an abstract NOTIFY_SOCKET (@name), and WATCHDOG=1 every half WATCHDOG_USEC once ready', async () => {
    const dir = caseDir();
    const l = await listen(`@reloadkit-test-${process.pid}-${Date.now()}`);
    const d = await run({
      args: ['-c', writeConfig(dir)],
      socket: join(dir, 'admin.sock'),
      env: { NOTIFY_SOCKET: l.address, WATCHDOG_USEC: '300000' },
    });
    const ready = await l.next(has('READY', '1'), 'READY=1');
    await waitFor(() => l.messages.filter(has('WATCHDOG', '1')).length >= 4, 'four watchdog pings');
    const pings = l.messages.filter(has('WATCHDOG', '1'));
    assert.ok(l.messages.indexOf(pings[0]!) > l.messages.indexOf(ready), 'pings start once ready');
    // Every 150 ms; on a loaded machine a ping may come late, never twice as often.
    const gaps = pings.slice(1).map((p, i) => Number(p.seenUsec - pings[i]!.seenUsec) / 1000);
    assert.ok(
      gaps.every((g) => g > 60),
      `gaps ${gaps.join(', ')} ms`,
    );
    const from = l.messages.length;
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(since(l, from).some((m) => m.STOPPING === '1'));
  });

  it(
    'without the privilege to speak for the daemon (not root), messages come from its systemd-notify child, still in order: why the unit says NotifyAccess=all',
    { skip: !isRoot && 'needs root to run the daemon as nobody' },
    async () => {
      const base = mkdtempSync(join(tmpdir(), 'rk-systemd-nobody-'));
      chmodSync(base, 0o755);
      const dir = join(base, 'case');
      mkdirSync(dir);
      chownSync(dir, 65534, 65534);
      try {
        const l = await listen(`@reloadkit-test-nobody-${process.pid}-${Date.now()}`);
        const d = await run({ args: ['-c', writeConfig(dir)], socket: join(dir, 'admin.sock'), env: { NOTIFY_SOCKET: l.address }, uid: 65534, gid: 65534 });
        const ready = await l.next(has('READY', '1'), 'READY=1');
        assert.equal(ready.uid, 65534);
        assert.notEqual(ready.pid, d.proc.pid, 'the sender could not name the daemon: the message is its own');
        assert.equal(ready.fields.MAINPID, String(d.proc.pid));
        const from = l.messages.length;
        d.proc.kill('SIGHUP');
        await l.next(has('READY', '1'), 'READY=1 after the reload', from);
        assert.equal(since(l, from)[0]!.RELOADING, '1');
        assert.equal(await d.stop('SIGTERM'), 0);
        assert.equal(l.messages.at(-1)!.fields.STOPPING, '1');
      } finally {
        rmSync(base, { recursive: true, force: true });
      }
    },
  );

  it('socket activation: the admin socket passed by systemd-socket-activate answers the connection that started the daemon, children see no LISTEN_*/NOTIFY_SOCKET, and the file stays at shutdown', async () => {
    const dir = caseDir();
    const sock = join(dir, 'admin.sock');
    const config = writeConfig(
      dir,
      undefined,
      `  envdump:
    kind: command
    reload: [sh, -c, 'env > ${join(dir, 'env.txt')}; ls -l /proc/$$/fd > ${join(dir, 'fds.txt')}']
`,
    );
    const l = await listen(join(dir, 'notify.sock'));
    const d = await run({
      args: ['-c', config],
      socket: sock,
      wrap: ['systemd-socket-activate', '-l', sock, '--fdname=admin', '-E', 'PATH', '-E', 'NOTIFY_SOCKET'],
      env: { NOTIFY_SOCKET: l.address },
      waitStarted: false,
    });
    await waitFor(() => d.stderr().includes(`Listening on ${sock}`), 'systemd-socket-activate listening');
    // The first connection makes systemd-socket-activate exec the daemon, which answers it on the passed socket.
    const status = JSON.parse(await d.send('status')) as { status: string };
    assert.equal(status.status, 'ok');
    const started = await d.waitForLine((x) => x.msg === 'reloadkit started', 'daemon start');
    assert.equal(started.socket, sock);
    assert.ok(d.lines.some((x) => x.msg?.startsWith('admin socket listening (passed by the service manager') && x.fd === 3));
    assert.equal(d.lines.filter((x) => x.level === 'warn' || x.level === 'error').length, 0, JSON.stringify(d.lines));
    await l.next(has('READY', '1'), 'READY=1');

    const r = await cli(['reload', 'envdump', '--socket', sock]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const env = readFileSync(join(dir, 'env.txt'), 'utf8');
    for (const v of ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'NOTIFY_SOCKET', 'WATCHDOG_USEC']) assert.doesNotMatch(env, new RegExp(`^${v}=`, 'm'));
    assert.match(env, /^PATH=/m);
    // The passed socket is not inherited by children (Node sets close-on-exec on it).
    assert.doesNotMatch(readFileSync(join(dir, 'fds.txt'), 'utf8'), / 3 -> socket:/);

    assert.equal(await d.stop('SIGTERM'), 0);
    assert.ok(lstatSync(sock).isSocket(), 'the socket file systemd-socket-activate made is still there');
  });

  it('socket activation of HTTP (fd named http): served even with admin.http "" and the admin socket the daemon creates itself; removed at stop, unlike a passed one', async () => {
    const dir = caseDir();
    const port = await freePort();
    const sock = join(dir, 'admin.sock');
    const d = await run({
      args: ['-c', writeConfig(dir)],
      socket: sock,
      wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--fdname=http', '-E', 'PATH'],
      waitStarted: false,
    });
    await waitFor(() => d.stderr().includes(`Listening on 127.0.0.1:${port}`), 'systemd-socket-activate listening');
    const health = await httpGet(port, '/health');
    assert.equal(health.status, 200);
    const started = await d.waitForLine((x) => x.msg === 'reloadkit started', 'daemon start');
    assert.equal(started.http, `127.0.0.1:${port}`);
    assert.equal((await httpGet(port, '/ready')).status, 200);
    assert.ok(existsSync(sock));
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.equal(existsSync(sock), false, 'the socket the daemon created is removed');
  });

  it('socket activation: a TCP socket passed as admin is refused (the admin protocol relies on file permissions); the daemon runs without it', async () => {
    const dir = caseDir();
    const port = await freePort();
    const d = await run({
      args: ['-c', writeConfig(dir)],
      socket: join(dir, 'admin.sock'),
      wrap: ['systemd-socket-activate', '-l', `127.0.0.1:${port}`, '--fdname=admin', '-E', 'PATH'],
      waitStarted: false,
    });
    await waitFor(() => d.stderr().includes(`Listening on 127.0.0.1:${port}`), 'systemd-socket-activate listening');
    // Any connection starts the daemon; this one is closed unanswered.
    await httpGet(port, '/').catch(() => null);
    const refused = await d.waitForLine((x) => x.msg?.startsWith('cannot serve the admin socket passed by the service manager') === true, 'refusal');
    assert.match(String(refused.reason), /fd 3 is a TCP socket, not a Unix socket/);
    await d.waitForLine((x) => x.msg === 'reloadkit started', 'daemon start');
    assert.equal(await d.stop('SIGTERM'), 0);
  });
});
