// The real daemon with signed configs : its own config and a
// target's files need valid signatures; keys and signatures are made with
// the real `reloadkit keygen` and `reloadkit sign`.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cli, startDaemon, type DaemonHandle } from './daemon-process.js';
import { waitFor } from './helpers.js';

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'rk-signed-')));
const running = new Set<DaemonHandle>();
after(async () => {
  for (const d of running) await d.stop('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

async function sign(...files: string[]): Promise<void> {
  const r = await cli(['sign', '--key', join(tmp, 'keys', 'reloadkit.key'), ...files]);
  assert.equal(r.code, 0, r.stderr);
}

const reloads = (marker: string) => (existsSync(marker) ? readFileSync(marker, 'utf8').split('\n').length - 1 : 0);

/** Waits until the unit's passes stop coming (its watcher may add passes after an explicit reload). */
async function settled(d: DaemonHandle, unit: string): Promise<void> {
  let last = -1;
  let since = Date.now();
  await waitFor(
    () => {
      const n = d.passes(unit).length;
      if (n !== last) {
        last = n;
        since = Date.now();
      }
      return Date.now() - since > 1500;
    },
    `passes of ${unit} to settle`,
    30_000,
  );
}

describe('reloadkit run with signed configs', () => {
  it('own config and target files must verify; unsigned edits are refused and logged, signed ones apply', async () => {
    assert.equal((await cli(['keygen', '--out', join(tmp, 'keys')])).code, 0);
    const dir = tmp;
    const app = join(dir, 'app.conf');
    const marker = join(dir, 'reloads');
    writeFileSync(app, 'v1\n');
    const cfg = join(dir, 'reloadkit.yaml');
    const config = (level: string) =>
      // No rescan during the test: only the watcher can notice a re-signed file.
      `state_dir: ./state\nlog_level: ${level}\nadmin:\n  socket: ./admin.sock\n  http: ""\nwatch:\n  rescan: 1h\n` +
      `signature:\n  public_key: keys/reloadkit.pub\n` +
      `targets:\n  app:\n    kind: command\n    check: [test, -s, ${app}]\n    reload: [sh, -c, "echo x >> ${marker}"]\n` +
      `    watch: [${app}]\n    signature:\n      public_key: keys/reloadkit.pub\n`;

    // Unsigned at start: the daemon refuses to start and says why.
    writeFileSync(cfg, config('info'));
    const refused = await startDaemon({ args: ['-c', cfg], socket: join(dir, 'admin.sock'), waitStarted: false });
    running.add(refused);
    assert.equal(await refused.exited, 1);
    assert.match(refused.stderr(), /signature verification failed: .*reloadkit\.yaml: missing signature/);

    await sign(cfg, app);
    const d = await startDaemon({ args: ['-c', cfg], socket: join(dir, 'admin.sock') });
    running.add(d);

    // A signed target change applies.
    writeFileSync(app, 'v2\n');
    await sign(app);
    let reply = JSON.parse(await d.send('reload app')) as { status: string; results: Record<string, { status: string; load_error?: string }> };
    assert.equal(reply.status, 'ok');
    assert.ok(reloads(marker) >= 1);
    await settled(d, 'app');
    const applied = reloads(marker);

    // A tampered target file: load_failed, nothing runs, a security event is logged.
    writeFileSync(app, 'v3 unsigned\n');
    reply = JSON.parse(await d.send('reload app')) as typeof reply;
    assert.equal(reply.status, 'error');
    assert.equal(reply.results.app!.status, 'load_failed');
    assert.equal(reply.results.app!.load_error, `signature verification failed: ${app}: bad signature`);
    await d.waitForLine((l) => l.event === 'security' && l.unit === 'app' && l.reason === 'bad signature', 'the security log line');

    // Re-signing is noticed by the watcher (the .sig is watched): the pass runs by itself.
    await settled(d, 'app');
    assert.equal(reloads(marker), applied, 'no reload ran for the tampered file');
    await sign(app);
    await waitFor(() => reloads(marker) > applied, 'the re-signed file to be reloaded', 30_000);

    // The daemon's own config edited without signing: refused, the old config stays.
    writeFileSync(cfg, config('debug'));
    reply = JSON.parse(await d.send('reload reloadkit')) as typeof reply;
    assert.equal(reply.results.reloadkit!.status, 'load_failed');
    assert.match(reply.results.reloadkit!.load_error ?? '', /^signature verification failed: .*reloadkit\.yaml: bad signature$/);
    await sign(cfg);
    reply = JSON.parse(await d.send('reload reloadkit')) as typeof reply;
    assert.equal(reply.results.reloadkit!.status, 'full_success');

    assert.equal(await d.stop(), 0);
    assert.ok(!existsSync(join(dir, 'admin.sock')));
    // No key material in anything the daemon wrote.
    const keyBody = readFileSync(join(tmp, 'keys', 'reloadkit.key'), 'utf8').split('\n')[1]!;
    assert.ok(!JSON.stringify(d.lines).includes(keyBody) && !d.stderr().includes(keyBody));
  });
});
