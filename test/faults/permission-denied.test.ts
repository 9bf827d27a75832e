// Fault: a config file the process may not read (a real chmod; the process
// runs as `nobody` when the tests run as root, since root bypasses file
// modes). The pass is `load_failed` with a message naming the file and the
// permission problem, the old config stays, and fixing the mode recovers.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { chownTree, cleanup, daemonDir, reloadOver, startBuiltDaemon, startHost, tempDir, unprivileged } from './support.js';

after(cleanup);

const creds = unprivileged();
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('permission denied on a config file', () => {
  it('library: chmod 000 → load_failed naming the file, old config kept; an untraversable directory too; chmod back → applies', async () => {
    const dir = tempDir('rk-fault-perm-lib-', creds);
    const confDir = join(dir, 'conf');
    const file = join(confDir, 'config.yaml');
    mkdirSync(confDir);
    writeFileSync(file, 'name: app\nversion: 1\n');
    chownTree(dir, creds);
    const host = await startHost({ file, socket: join(dir, 'app.sock'), ...creds });
    const first = (await reloadOver(host)).reply.results!.app!;
    assert.equal(first.status, 'full_success');

    // The edit lands, but the process may not read it.
    writeFileSync(file, 'name: app\nversion: 2\n');
    chmodSync(file, 0o000);
    let r = (await reloadOver(host)).reply.results!.app!;
    assert.equal(r.status, 'load_failed');
    assert.equal(r.load_error, `${file}: permission denied`);
    assert.equal(r.generation, first.generation);
    assert.equal(r.config_hash, first.config_hash, 'the old config stays in effect');

    // The file readable again, its directory not traversable: the same clear error.
    chmodSync(file, 0o644);
    chmodSync(confDir, 0o000);
    r = (await reloadOver(host)).reply.results!.app!;
    assert.equal(r.status, 'load_failed');
    assert.equal(r.load_error, `${file}: permission denied`);

    // Fixed: the edit applies.
    chmodSync(confDir, 0o755);
    r = (await reloadOver(host)).reply.results!.app!;
    assert.equal(r.status, 'full_success');
    assert.equal(r.generation, first.generation + 1);
    assert.deepEqual(r.changed, ['version']);
    assert.equal(await host.stop('SIGTERM'), 0);
  });

  it("daemon: a target's watched file unreadable → load_failed, its reload does not run; readable again → reloaded once", async () => {
    const { dir, socket, args } = daemonDir(
      'rk-fault-perm-target-',
      { 'app.conf': 'v1\n' },
      '  app:\n    kind: command\n    reload: [sh, -c, "echo x >> app.reloads"]\n    watch: [app.conf]\n',
      'watch:\n  debounce: 50ms\n',
      creds,
    );
    const conf = join(dir, 'app.conf');
    const reloads = () => (existsSync(join(dir, 'app.reloads')) ? readFileSync(join(dir, 'app.reloads'), 'utf8') : '');
    const d = await startBuiltDaemon({ args, socket, ...creds });

    const from = d.lines.length;
    writeFileSync(conf, 'v2\n');
    chmodSync(conf, 0o000);
    let r = (await reloadOver(d, 'app')).reply.results!.app!;
    assert.equal(r.status, 'load_failed', JSON.stringify(r));
    assert.equal(r.load_error, `${conf}: permission denied`);
    assert.equal(r.generation, 0);
    // The watcher's pass (the edit and the chmod) fails the same way; nothing was reloaded.
    const watchPass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'app' && l.trigger === 'watch', 'the watch pass', from);
    assert.equal(watchPass.status, 'load_failed');
    assert.equal(reloads(), '', 'no reload for content the daemon cannot read');

    chmodSync(conf, 0o644);
    r = (await reloadOver(d, 'app')).reply.results!.app!;
    assert.equal(r.status, 'full_success');
    assert.equal(r.generation, 1);
    assert.equal(reloads(), 'x\n');
    assert.equal(await d.stop('SIGTERM'), 0);
  });

  it('daemon: an unreadable file inside a watched directory → load_failed naming it, no reload; readable again → reloaded once', async () => {
    const { dir, socket, args } = daemonDir(
      'rk-fault-perm-tree-',
      {},
      '  app:\n    kind: command\n    reload: [sh, -c, "echo x >> app.reloads"]\n    watch: [conf.d]\n',
      'watch:\n  debounce: 50ms\n',
      creds,
    );
    mkdirSync(join(dir, 'conf.d'));
    writeFileSync(join(dir, 'conf.d', 'a.conf'), 'a v1\n');
    writeFileSync(join(dir, 'conf.d', 'b.conf'), 'b v1\n');
    chownTree(dir, creds);
    const b = join(dir, 'conf.d', 'b.conf');
    const reloads = () => (existsSync(join(dir, 'app.reloads')) ? readFileSync(join(dir, 'app.reloads'), 'utf8') : '');
    const d = await startBuiltDaemon({ args, socket, ...creds });

    writeFileSync(b, 'b v2\n');
    chmodSync(b, 0o000);
    let r = (await reloadOver(d, 'app')).reply.results!.app!;
    assert.equal(r.status, 'load_failed', JSON.stringify(r));
    assert.equal(r.load_error, `${b}: permission denied`);
    assert.equal(reloads(), '', 'no reload for content the daemon cannot read');

    chmodSync(b, 0o644);
    r = (await reloadOver(d, 'app')).reply.results!.app!;
    assert.equal(r.status, 'full_success', JSON.stringify(r));
    assert.equal(r.generation, 1);
    assert.equal(reloads(), 'x\n');
    assert.equal(await d.stop('SIGTERM'), 0);
  });

  it('daemon: its own config unreadable → load_failed naming it, the targets stay; readable again → applies', async () => {
    const targets = '  a:\n    kind: command\n    reload: ["true"]\n';
    const { dir, socket, args } = daemonDir('rk-fault-perm-daemon-', {}, targets, '', creds);
    const config = join(dir, 'reloadkit.yaml');
    const d = await startBuiltDaemon({ args, socket, ...creds });

    writeFileSync(
      config,
      `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: ""\ntargets:\n${targets}  b:\n    kind: command\n    reload: ["true"]\n`,
    );
    chmodSync(config, 0o000);
    let r = (await reloadOver(d, 'reloadkit')).reply.results!.reloadkit!;
    assert.equal(r.status, 'load_failed');
    assert.match(r.load_error!, new RegExp(`^${escape(config)}: cannot read the config file: permission denied$`));
    assert.equal((JSON.parse(await d.send('status')) as { targets: number }).targets, 1, 'the old target set stays');
    assert.equal((await reloadOver(d, 'a')).reply.status, 'ok', 'and works');

    chmodSync(config, 0o600);
    r = (await reloadOver(d, 'reloadkit')).reply.results!.reloadkit!;
    assert.equal(r.status, 'full_success');
    assert.equal((JSON.parse(await d.send('status')) as { targets: number }).targets, 2);
    assert.equal(await d.stop('SIGTERM'), 0);
  });
});
