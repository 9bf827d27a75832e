// End to end: the real daemon (child process) reloading a real nginx in a
// temp prefix on a free loopback port, driven by file edits and the CLI.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { childrenOf } from '../../src/daemon/targets/proc.js';
import { cli, startDaemon, type DaemonHandle } from './daemon-process.js';
import { freePort, httpGet, nginxOrSkip, startTestNginx, waitFor, type TestNginx } from './helpers.js';

const skip = nginxOrSkip();

describe('daemon + real nginx', { skip }, () => {
  let nginx: TestNginx;
  let dir: string;
  let daemon: DaemonHandle | null = null;

  const start = async () => {
    daemon = await startDaemon({ args: ['-c', join(dir, 'reloadkit.yaml')], socket: join(dir, 'admin.sock') });
    return daemon;
  };

  /** An editor's atomic save: write a temp file, rename it over the config. */
  const save = (text: string, extra = '') => {
    const tmpConf = join(nginx.prefix, '.nginx.conf.tmp');
    nginx.writeConfig(text, extra, tmpConf);
    renameSync(tmpConf, nginx.conf);
  };

  before(async () => {
    nginx = await startTestNginx('v1');
    dir = mkdtempSync(join(tmpdir(), 'rk-dn-'));
    writeFileSync(
      join(dir, 'reloadkit.yaml'),
      `log_level: debug
state_dir: ./state
admin:
  socket: ./admin.sock
  http: ""
targets:
  web:
    kind: nginx
    prefix: ${nginx.prefix}
    config: ${nginx.conf}
    watch: [${nginx.conf}]
    timeout: 20s
`,
    );
  });

  after(async () => {
    await daemon?.stop('SIGKILL');
    await nginx?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('an edit is picked up by the watcher, checked, reloaded, verified and served', async () => {
    const d = await start();
    const from = d.lines.length;
    save('v2');
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web' && l.status !== 'unchanged', 'pass after the edit', from);
    assert.equal(pass.status, 'full_success', String(pass.error));
    assert.equal(pass.trigger, 'watch');
    assert.deepEqual(pass.changed, [`files[${JSON.stringify(nginx.conf)}]`]);
    // the verify step's own line (debug) reports reload and verify time separately
    const verified = d.lines.slice(from).find((l) => l.msg === 'nginx reload verified');
    assert.ok(verified && typeof verified.verify_ms === 'number' && typeof verified.reload_ms === 'number');
    await waitFor(async () => (await httpGet(nginx.port)).body === 'v2', 'v2 served');
    // The old worker may still accept a connection until its graceful shutdown closes the
    // listener; the next test asserts exact bodies, so wait until only the new worker is left.
    const master = nginx.master()!;
    await waitFor(() => childrenOf(master).length === 1, 'the old nginx worker gone');
  });

  it("a broken edit: validation_failed with nginx's message; nginx keeps serving the old content", async () => {
    const d = daemon!;
    const from = d.lines.length;
    save('v3";\n    no_such_directive 1;\n    #');
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web' && l.status !== 'unchanged', 'pass after the broken edit', from);
    assert.equal(pass.status, 'validation_failed');
    assert.match(String(pass.error), /\[emerg\] \d+#\d+: unknown directive "no_such_directive"/);
    assert.deepEqual(await httpGet(nginx.port), { status: 200, body: 'v2' });
    const st = await cli(['status', '--socket', d.socket]);
    assert.equal(st.code, 0);
    assert.match(st.stdout, /web +1 +validation_failed/);
    assert.match(st.stdout, /error: web: nginx .* unknown directive "no_such_directive"/);
  });

  it('passes nginx -t but the master cannot bind: `reloadkit reload` reports apply_failed (exit 1), not success', async () => {
    const d = daemon!;
    const busy = await freePort();
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(busy, '127.0.0.1', r));
    try {
      const from = d.lines.length;
      save('v4', `    server { listen 127.0.0.1:${busy}; return 200 "x"; }`);
      // the watcher's pass runs too; wait for it so the CLI's pass sees the same content
      await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web' && l.status !== 'unchanged', 'watch pass', from);
      const r = await cli(['reload', 'web', '--socket', d.socket]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /^web: apply_failed: .*bind\(\) to 127\.0\.0\.1:\d+ failed \(98: Address already in use\)/);
      assert.deepEqual(await httpGet(nginx.port), { status: 200, body: 'v2' });
    } finally {
      holder.close();
    }
    // Fix the config: the next reload succeeds and serves it.
    save('v5');
    await waitFor(async () => (await httpGet(nginx.port)).body === 'v5', 'v5 served after the fix');
    const ok = await cli(['reload', 'web', '--socket', d.socket]);
    assert.equal(ok.code, 0, ok.stdout);
  });

  it('a restart of the daemon does not reload nginx when nothing changed', async () => {
    const d = daemon!;
    assert.equal(await d.stop('SIGTERM'), 0);
    const master = nginx.master()!;
    // Workers of earlier reloads finish their graceful shutdown first (worker_processes 1).
    await waitFor(() => childrenOf(master).length === 1, 'one nginx worker');
    const workers = childrenOf(master).sort();
    const again = await start();
    const started = again.lines.find((l) => l.msg === 'reloadkit started')!;
    assert.deepEqual(started.targets, { web: 'current' });
    // No pass, and the same nginx workers (a reload would have replaced them).
    const st = JSON.parse(await again.send('status')) as { units: Record<string, { last_result: unknown }> };
    assert.equal(st.units.web!.last_result, null);
    assert.deepEqual(childrenOf(master).sort(), workers);
    assert.equal(await again.stop('SIGTERM'), 0);
  });

  it('first start without state and a broken config: nginx -T runs, nothing is reloaded or recorded, the start pass is validation_failed', async () => {
    const master = nginx.master()!;
    await waitFor(() => childrenOf(master).length === 1, 'one nginx worker');
    const workers = childrenOf(master).sort();
    save('v6";\n    bogus_directive on;\n    #');
    const config = readFileSync(join(dir, 'reloadkit.yaml'), 'utf8').replace('state_dir: ./state', 'state_dir: ./state-first');
    writeFileSync(join(dir, 'first.yaml'), config);
    const d = await startDaemon({ args: ['-c', join(dir, 'first.yaml')], socket: join(dir, 'admin.sock') });
    daemon = d;
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { web: 'check_failed' });
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web', 'the start pass');
    assert.equal(pass.trigger, 'start');
    assert.equal(pass.status, 'validation_failed');
    assert.match(String(pass.error), /unknown directive "bogus_directive"/);
    assert.deepEqual(childrenOf(master).sort(), workers, 'nginx was reloaded');
    assert.equal((await httpGet(nginx.port)).body, 'v5');
    assert.equal(existsSync(join(dir, 'state-first', 'targets', 'web.json')), false);
    // Fixed: checked, reloaded, recorded.
    const from = d.lines.length;
    save('v7');
    const fixed = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'web' && l.status !== 'unchanged', 'the pass after the fix', from);
    assert.equal(fixed.status, 'full_success');
    await waitFor(async () => (await httpGet(nginx.port)).body === 'v7', 'v7 served');
    await waitFor(() => existsSync(join(dir, 'state-first', 'targets', 'web.json')), 'the state recorded');
    assert.equal(await d.stop('SIGTERM'), 0);
  });
});
