// The nginx target against a real nginx in a temp prefix: check, reload,
// verify new workers, and the failures verification exists for.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateStore } from '../../src/daemon/state.js';
import { Target } from '../../src/daemon/target.js';
import { waitForChildren } from '../../src/daemon/targets/child.js';
import { childrenOf, isRunning } from '../../src/daemon/targets/proc.js';
import { noopLogger } from '../../src/shared/logger.js';
import { freePort, httpGet, nginxOrSkip, startTestNginx, waitFor, type TestNginx } from './helpers.js';

const skip = nginxOrSkip();

describe('nginx target (real nginx)', { skip }, () => {
  let nginx: TestNginx;
  let target: Target;
  let stateDir: string;

  before(async () => {
    nginx = await startTestNginx('v1');
    stateDir = mkdtempSync(join(tmpdir(), 'rk-nginx-state-'));
    target = new Target(
      'nginx',
      {
        kind: 'nginx',
        derive_watch: false,
        cwd: '/',
        binary: 'nginx',
        prefix: nginx.prefix,
        config: nginx.conf,
        watch: [nginx.conf],
        timeout_ms: 15_000,
        reload_on_start: false,
      },
      { logger: noopLogger, state: new StateStore(stateDir) },
    );
    await target.start();
  });

  after(async () => {
    await target?.close();
    await waitForChildren();
    await nginx?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('serves the initial content', async () => {
    assert.deepEqual(await httpGet(nginx.port), { status: 200, body: 'v1' });
  });

  it('a valid edit: nginx -t, reload, new workers verified, new content served', async () => {
    const master = nginx.master()!;
    const workersBefore = childrenOf(master);
    nginx.writeConfig('v2');
    const r = await target.reload('watch');
    assert.equal(r.status, 'full_success', r.error);
    assert.equal(r.generation, 1);
    assert.equal(nginx.master(), master, 'the master must stay the same');
    assert.ok(childrenOf(master).some((p) => !workersBefore.includes(p)));
    // nginx lets the old workers accept for ~100 ms after starting the new ones;
    // after that hand-over every request gets the new content.
    const handedOver = (pid: number) => {
      try {
        return !isRunning(pid) || /shutting down/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        return true; // exited between the two looks
      }
    };
    await waitFor(() => workersBefore.every(handedOver), 'the old workers to stop accepting');
    for (let i = 0; i < 20; i += 1) assert.deepEqual(await httpGet(nginx.port), { status: 200, body: 'v2' });
  });

  it("a broken config: validation_failed with nginx's own message, old content still served", async () => {
    nginx.writeConfig('v3";\n    bogus_directive on;\n    #');
    const r = await target.reload('watch');
    assert.equal(r.status, 'validation_failed');
    assert.match(r.error ?? '', /\[emerg\] \d+#\d+: unknown directive "bogus_directive" in .*nginx\.conf:\d+/);
    assert.deepEqual(await httpGet(nginx.port), { status: 200, body: 'v2' });
  });

  it('a config that passes nginx -t but fails at reload (port in use) is apply_failed, with the error log lines', async () => {
    const busyPort = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(busyPort, '127.0.0.1', r));
    try {
      nginx.writeConfig('v4', `    server { listen 127.0.0.1:${busyPort}; return 200 "other"; }`);
      const r = await target.reload('watch');
      assert.equal(r.status, 'apply_failed', `expected verify to reject the reload, got ${r.status}`);
      assert.match(r.error ?? '', /bind\(\) to 127\.0\.0\.1:\d+ failed \(98: Address already in use\)/);
      // The master retries bind() five times, one log line each: shown once, with the count.
      assert.equal((r.error ?? '').match(/bind\(\) to /g)?.length, 1, r.error);
      assert.match(r.error ?? '', /no new worker processes|rejected the new config/);
      assert.equal(r.generation, 1);
      // nginx keeps the old config
      assert.deepEqual(await httpGet(nginx.port), { status: 200, body: 'v2' });
    } finally {
      holder.close();
    }
  });

  it('when nginx is not running, the reload fails saying so (pidfile removed, or left empty)', async () => {
    const other = await startTestNginx('x');
    const t = new Target(
      'nginx2',
      {
        kind: 'nginx',
        derive_watch: false,
        cwd: '/',
        binary: 'nginx',
        prefix: other.prefix,
        config: other.conf,
        watch: [other.conf],
        timeout_ms: 15_000,
        reload_on_start: false,
      },
      { logger: noopLogger, state: new StateStore(stateDir) },
    );
    try {
      await t.start();
      // A graceful stop: nginx removes its pidfile; its files stay.
      const master = other.master()!;
      process.kill(master, 'SIGQUIT');
      await waitFor(() => !isRunning(master), 'nginx to exit');
      // The check (`nginx -T`) passes, and leaves nginx's pidfile empty while nginx is stopped.
      const r = await t.reload('api');
      assert.equal(r.status, 'apply_failed');
      assert.equal(r.error, `nginx2: nginx is not running: its pidfile ${other.pidfile} is empty (reloadkit reloads a running nginx; start it first)`);
    } finally {
      await t.close();
      await other.stop();
    }
  });

  it('a missing nginx binary is a clear error', async () => {
    const t = new Target(
      'nginx3',
      { kind: 'nginx', derive_watch: false, cwd: '/', binary: 'nginx-not-installed', watch: [], timeout_ms: 5000, reload_on_start: false },
      { logger: noopLogger, state: new StateStore(stateDir) },
    );
    await t.start();
    const r = await t.reload('api');
    assert.equal(r.status, 'validation_failed');
    assert.match(r.error ?? '', /command not found: "nginx-not-installed"/);
    await t.close();
  });

  it('a pid directive kept in a file the main config includes (relative path) is found: reload signalled and verified', async () => {
    nginx.writeConfig('v-included-pid');
    const pidLine = `pid ${nginx.pidfile};`;
    const text = readFileSync(nginx.conf, 'utf8');
    assert.ok(text.includes(pidLine));
    writeFileSync(join(nginx.prefix, 'main-extra.conf'), `${pidLine}\n`);
    writeFileSync(nginx.conf, text.replace(pidLine, 'include main-extra.conf;'));
    const master = nginx.master()!;
    const workersBefore = childrenOf(master);
    const r = await target.reload('api');
    assert.equal(r.status, 'full_success', r.error);
    assert.ok(
      childrenOf(master).some((p) => !workersBefore.includes(p)),
      'new workers under the same master',
    );
    await waitFor(async () => (await httpGet(nginx.port)).body === 'v-included-pid', 'the new content served');
  });
});
