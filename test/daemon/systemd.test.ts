// The service manager wiring in pieces: which passed sockets are used
// (LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES), the environment children no longer
// see, the one-line STATUS= summary, and the notification queue (order,
// coalescing, a sender that is missing or fails) with a stand-in sender
// script; the watchdog pings from the event loop, so a stuck loop sends none.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AdminHost, Readiness } from '../../src/admin/host.js';
import { takeListenFds } from '../../src/daemon/activation.js';
import { NotifySender } from '../../src/daemon/notify.js';
import { ServiceManager, statusSummary, type NotifiedDaemon } from '../../src/daemon/systemd.js';
import type { ReloadResult } from '../../src/shared/types.js';
import { recordingLogger } from '../admin/support.js';
import { waitFor } from '../integration/helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'rk-sd-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let seq = 0;

/** A stand-in for systemd-notify: appends "<ns timestamp> <args>" to a file, optionally exits with `code`. */
function fakeSender(code = 0): { binary: string; lines(): string[] } {
  const n = ++seq;
  const log = join(tmp, `sent-${n}.txt`);
  const binary = join(tmp, `notify-${n}.sh`);
  writeFileSync(
    binary,
    `#!/bin/sh\necho "$(date +%s%N) $*" >> ${log}\n${code === 0 ? '' : `echo "Failed to notify init system: Connection refused" >&2\nexit ${code}\n`}`,
  );
  chmodSync(binary, 0o755);
  return {
    binary,
    lines: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []).map((l) => l.slice(l.indexOf(' ') + 1)),
  };
}

function timestampsMs(binaryLog: { binary: string }): number[] {
  const log = binaryLog.binary.replace(/notify-(\d+)\.sh$/, 'sent-$1.txt');
  return readFileSync(log, 'utf8')
    .trim()
    .split('\n')
    .map((l) => Number(BigInt(l.slice(0, l.indexOf(' '))) / 1_000_000n));
}

function host(readiness: Readiness, targets = 2): AdminHost {
  return {
    startedAt: Date.now(),
    targetCount: () => targets,
    units: () => [],
    reload: () => Promise.resolve({}),
    enqueue: () => {},
    ready: () => readiness,
  };
}

function result(over: Partial<ReloadResult>): ReloadResult {
  return {
    unit: 'nginx',
    generation: 2,
    status: 'full_success',
    trigger: 'watch',
    outcomes: [],
    requires_restart: [],
    config_hash: 'x',
    changed: [],
    started_at: '',
    ended_at: '',
    duration_ms: 1,
    coalesced: 0,
    ...over,
  };
}

describe('socket activation variables', () => {
  it('uses the sockets named admin and http when LISTEN_PID is this process, and removes the variables', () => {
    const env: NodeJS.ProcessEnv = { LISTEN_FDS: '2', LISTEN_PID: '4242', LISTEN_FDNAMES: 'admin:http', PATH: '/bin' };
    const logger = recordingLogger();
    assert.deepEqual(takeListenFds(env, 4242, logger), { admin: 3, http: 4 });
    assert.deepEqual(env, { PATH: '/bin' });
    assert.equal(logger.entries.length, 0);
    assert.deepEqual(takeListenFds({}, 4242, logger), {});
  });

  it('ignores sockets meant for another process, unnamed or miscounted ones, with a warning; the variables go anyway', () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ LISTEN_FDS: '1', LISTEN_PID: '1', LISTEN_FDNAMES: 'admin' }, /another process/],
      [{ LISTEN_FDS: '1', LISTEN_FDNAMES: 'admin' }, /another process/],
      [{ LISTEN_FDS: 'two', LISTEN_PID: '4242' }, /not a number/],
      [{ LISTEN_FDS: '2', LISTEN_PID: '4242', LISTEN_FDNAMES: 'admin' }, /does not name every passed socket/],
    ];
    for (const [env, warning] of cases) {
      const logger = recordingLogger();
      assert.deepEqual(takeListenFds(env, 4242, logger), {});
      assert.deepEqual(env, {});
      assert.match(logger.at('warn')[0]?.msg ?? '', warning);
    }
  });

  it('leaves a socket with another name (or a second admin) alone, naming what it expects', () => {
    const logger = recordingLogger();
    assert.deepEqual(takeListenFds({ LISTEN_FDS: '3', LISTEN_PID: '7', LISTEN_FDNAMES: 'reloadkit.socket:admin:admin' }, 7, logger), { admin: 4 });
    assert.deepEqual(
      logger.at('warn').map((e) => [e.obj.fd, e.msg.slice(0, 40)]),
      [
        [3, 'a passed socket has a name reloadkit doe'],
        [5, 'a second passed socket has the same name'],
      ],
    );
    assert.match(logger.at('warn')[0]!.msg, /expected admin or http: FileDescriptorName=/);
    // Without LISTEN_FDNAMES every socket is "unknown": none is taken for the admin socket by guesswork.
    assert.deepEqual(takeListenFds({ LISTEN_FDS: '1', LISTEN_PID: '7' }, 7, recordingLogger()), {});
  });
});

describe('ServiceManager environment', () => {
  it('takes NOTIFY_SOCKET and the watchdog variables out of the environment; the watchdog pings every half WATCHDOG_USEC', () => {
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '/run/systemd/notify', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '99', HOME: '/root' };
    const sm = new ServiceManager({ logger: recordingLogger(), env, pid: 99 });
    assert.deepEqual(env, { HOME: '/root' });
    assert.equal(sm.notifying, true);
    assert.equal(sm.watchdogPeriodMs, 15_000);
    assert.deepEqual(sm.listenFds, {});
  });

  it('has no watchdog for another WATCHDOG_PID, a bad WATCHDOG_USEC, or without NOTIFY_SOCKET', () => {
    const logger = recordingLogger();
    assert.equal(new ServiceManager({ logger, env: { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '1000000', WATCHDOG_PID: '1' }, pid: 99 }).watchdogPeriodMs, null);
    assert.equal(new ServiceManager({ logger, env: { NOTIFY_SOCKET: '@x', WATCHDOG_USEC: '-5' }, pid: 99 }).watchdogPeriodMs, null);
    const plain = new ServiceManager({ logger, env: { WATCHDOG_USEC: '1000000' }, pid: 99 });
    assert.equal(plain.notifying, false);
    assert.equal(plain.watchdogPeriodMs, null);
  });
});

describe('STATUS= summary', () => {
  it('says what the last pass did, how many targets, and which units are degraded or why not ready, on one bounded line', () => {
    assert.equal(statusSummary(host({ ok: true, reasons: [], degraded: [] })), '2 targets; every unit serves a valid config');
    assert.equal(
      statusSummary(host({ ok: true, reasons: [], degraded: [] }, 1), result({})),
      'nginx: full_success; 1 target; every unit serves a valid config',
    );
    const failed = result({ status: 'apply_failed', error: 'nginx: reload rejected:\n  bind() to 127.0.0.1:80 failed' });
    assert.equal(
      statusSummary(host({ ok: true, reasons: [], degraded: ['nginx: last reload apply_failed: …', 'nginx: watch: polling', 'app: fallback'] }), failed),
      'nginx: apply_failed (nginx: reload rejected: bind() to 127.0.0.1:80 failed); 2 targets; degraded: nginx, app',
    );
    assert.equal(statusSummary(host({ ok: false, reasons: ['shutting down'], degraded: [] })), '2 targets; not ready: shutting down');
    const long = statusSummary(host({ ok: true, reasons: [], degraded: [] }), result({ status: 'validation_failed', error: 'x'.repeat(500) }));
    assert.equal(long.length, 200);
    assert.ok(long.endsWith('…'));
  });
});

describe('NotifySender', () => {
  it('sends one message at a time in order; a waiting STATUS= is replaced by a newer one, a waiting WATCHDOG=1 not doubled', async () => {
    const fake = fakeSender();
    const sender = new NotifySender('/run/notify', { pid: 4242, logger: recordingLogger(), binary: fake.binary });
    sender.send('state', ['READY=1', 'STATUS=a']);
    // The first is on its way; these wait behind it.
    sender.send('status', ['STATUS=b']);
    sender.send('status', ['STATUS=c']);
    sender.send('watchdog', ['WATCHDOG=1']);
    sender.send('watchdog', ['WATCHDOG=1']);
    sender.send('state', ['RELOADING=1', 'MONOTONIC_USEC=5']);
    sender.send('status', ['STATUS=d']);
    sender.send('state', ['READY=1']);
    assert.equal(await sender.flush(20_000), true);
    assert.deepEqual(fake.lines(), [
      '--pid=4242 READY=1 STATUS=a',
      '--pid=4242 STATUS=c',
      '--pid=4242 WATCHDOG=1',
      '--pid=4242 RELOADING=1 MONOTONIC_USEC=5',
      '--pid=4242 STATUS=d',
      '--pid=4242 READY=1',
    ]);
    assert.equal(sender.failed, 0);
  });

  it('a sender that cannot be run is reported once and not tried again', async () => {
    const logger = recordingLogger();
    const sender = new NotifySender('/run/notify', { pid: 1, logger, binary: join(tmp, 'no-such-systemd-notify') });
    sender.send('state', ['READY=1']);
    assert.equal(await sender.flush(10_000), true);
    sender.send('state', ['STOPPING=1']);
    assert.equal(await sender.flush(10_000), true);
    assert.equal(logger.at('error').length, 1);
    assert.match(logger.at('error')[0]!.msg, /NOTIFY_SOCKET is set but systemd-notify cannot be run/);
    assert.equal(logger.at('error')[0]!.obj.err, 'ENOENT');
  });

  it('a failed delivery is a warning with the sender’s message the first time, then debug; later messages still go', async () => {
    const fake = fakeSender(1);
    const logger = recordingLogger();
    const sender = new NotifySender('/run/notify', { pid: 1, logger, binary: fake.binary });
    sender.send('state', ['READY=1']);
    await sender.flush(10_000);
    sender.send('state', ['STOPPING=1']);
    await sender.flush(10_000);
    assert.equal(fake.lines().length, 2);
    assert.equal(sender.failed, 2);
    assert.equal(logger.at('warn').length, 1);
    assert.equal(logger.at('warn')[0]!.obj.stderr, 'Failed to notify init system: Connection refused');
    assert.equal(logger.at('debug').length, 1);
  });
});

describe('the watchdog', () => {
  const daemon: NotifiedDaemon = {
    host: host({ ok: true, reasons: [], degraded: [] }),
    socketPath: null,
    onResult: () => () => {},
    reloadAll: () => {},
  };

  it('pings from a timer on the event loop: none while the loop is stuck, again once it runs; none after STOPPING=1', async () => {
    const fake = fakeSender();
    const sm = new ServiceManager({ logger: recordingLogger(), env: { NOTIFY_SOCKET: '/run/notify', WATCHDOG_USEC: '40000' }, pid: 1, sender: fake.binary });
    assert.equal(sm.watchdogPeriodMs, 20);
    await sm.started(daemon);
    const pings = () => fake.lines().filter((l) => l.endsWith('WATCHDOG=1')).length;
    await waitFor(() => pings() >= 3, 'three pings');
    // Stuck for 600 ms: a watchdog fed from another thread would keep pinging through this.
    const stuckFrom = Date.now();
    while (Date.now() - stuckFrom < 600) {
      /* a stuck event loop */
    }
    const stuckTo = Date.now();
    const before = pings();
    await waitFor(() => pings() >= before + 3, 'pings after the loop runs again');
    // A sender spawned just before the stall may still write its line early in it.
    const during = timestampsMs(fake).filter((t) => t > stuckFrom + 200 && t < stuckTo);
    assert.deepEqual(during, [], 'no ping while the loop was stuck');

    sm.stopping();
    await sm.close(10_000);
    const last = fake.lines();
    assert.equal(last.at(-1), '--pid=1 STOPPING=1 STATUS=stopping');
    const stoppedAt = Date.now();
    await waitFor(() => Date.now() - stoppedAt > 200, 'ten ping periods');
    assert.deepEqual(fake.lines(), last, 'no pings after STOPPING=1');
  });
});
