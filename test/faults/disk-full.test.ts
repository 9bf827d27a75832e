// Fault: the disk fills up (a 64 KiB tmpfs) under the files reloadkit writes:
// the library's last known good config (`persist`) and the daemon's state
// dir. Writes fail with a clear error, the previous file stays whole and
// usable, and the reloads themselves go on. Without permission to mount, a
// read-only directory (mode 0500, the process as `nobody`) stands in.
import assert from 'node:assert/strict';
import { chmodSync, closeSync, existsSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parsePersisted } from '../../src/integrity/persist.js';
import type { DaemonHandle } from '../integration/daemon-process.js';
import { chownTree, cleanup, daemonDir, mountTmpfs, reloadOver, startBuiltDaemon, startHost, tempDir, unprivileged, waitFor, type Creds } from './support.js';

after(cleanup);

const PERSIST_ERROR = 'cannot save the last known good config; the reload itself is not affected';

interface Disk {
  /** Where the written files go. */
  dir: string;
  /** The process to run, and the error its writes get. */
  creds: Creds;
  expected: RegExp;
  /** Makes writes fail (`leaveBytes` free, on a real filesystem). */
  break(leaveBytes?: number): void;
  /** Writes work again. */
  fix(): void;
  what: string;
}

/** A 64 KiB tmpfs filled up by a filler file, or (when we cannot mount) a directory made read-only. */
function faultyDisk(prefix: string): Disk {
  const mnt = mountTmpfs(64);
  if (mnt !== null) {
    const filler = join(mnt, 'filler');
    return {
      dir: mnt,
      creds: {},
      expected: /no space left on device \(ENOSPC\)/,
      what: 'full 64 KiB tmpfs',
      break(leaveBytes = 0) {
        const fd = openSync(filler, 'w');
        const chunk = Buffer.alloc(4096, 1);
        let size = 0;
        try {
          for (;;) size += writeSync(fd, chunk);
        } catch (err) {
          assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
        }
        ftruncateSync(fd, Math.max(0, size - leaveBytes));
        closeSync(fd);
      },
      fix() {
        rmSync(filler, { force: true });
      },
    };
  }
  process.stderr.write('\n!!! disk-full: cannot mount a tmpfs here; using a read-only directory (mode 0500) instead\n\n');
  const creds = unprivileged();
  const dir = join(tempDir(prefix, creds), 'ro');
  mkdirSync(dir);
  chownTree(dir, creds);
  return {
    dir,
    creds,
    expected: /permission denied \(EACCES\)/,
    what: 'read-only directory',
    break: () => chmodTree(dir, 0o500),
    fix: () => chmodTree(dir, 0o700),
  };
}

/** Sets the mode of `dir` and every directory under it. */
function chmodTree(dir: string, mode: number): void {
  chmodSync(dir, mode);
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) chmodTree(join(dir, e.name), mode);
}

/** The files in `dir` other than the filler: what reloadkit left there. */
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n !== 'filler');

function persisted(path: string) {
  const read = parsePersisted(readFileSync(path, 'utf8'));
  assert.ok(read.ok, `persisted file invalid: ${read.ok ? '' : read.reason}`);
  return read.persisted;
}

const errorsOf = (h: DaemonHandle, msg: string) => h.lines.filter((l) => l.level === 'error' && l.msg === msg);

describe('disk full under the files reloadkit writes', () => {
  it('library persist: every save fails clearly, the last good file stays whole, reloads go on; after a crash the service starts from it', async () => {
    const disk = faultyDisk('rk-fault-disk-lib-');
    const work = tempDir('rk-fault-disk-lib-src-', disk.creds);
    const file = join(work, 'config.yaml');
    const path = join(disk.dir, 'lkg.json');
    const socket = join(work, 'app.sock');
    writeFileSync(file, 'name: app\nversion: 0\n');
    chownTree(work, disk.creds);
    const options = { file, socket, persist: { path, fallback: true }, ...disk.creds };
    let host = await startHost(options);
    await waitFor(() => existsSync(path) && persisted(path).generation === 0, 'generation 0 persisted');
    const good = readFileSync(path, 'utf8');

    // 8 KiB left, a 32 KiB config: the write starts and runs out of space in the middle.
    disk.break(8192);
    const blob = 'x'.repeat(32 * 1024);
    writeFileSync(file, `name: app\nversion: 1\nblob: ${blob}\n`);
    let r = (await reloadOver(host)).reply.results!.app!;
    assert.equal(r.status, 'full_success', 'the reload itself is not affected');
    assert.equal(r.generation, 1);
    let line = await host.waitForLine((l) => l.msg === PERSIST_ERROR && l.generation === 1, 'the persist error of generation 1');
    assert.match(String(line.err), new RegExp(`^cannot write ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    assert.match(String(line.err), disk.expected);
    assert.equal(readFileSync(path, 'utf8'), good, 'the last good file is untouched');
    assert.deepEqual(leftovers(disk.dir), ['lkg.json'], 'the partial temp file is removed');

    // Completely full now, and ten more commits: each one fails the same way, none tears the file.
    disk.break();
    for (let v = 2; v <= 11; v += 1) {
      writeFileSync(file, `name: app\nversion: ${v}\n`);
      r = (await reloadOver(host)).reply.results!.app!;
      assert.equal(r.status, 'full_success');
      assert.equal(r.generation, v);
    }
    line = await host.waitForLine((l) => l.msg === PERSIST_ERROR && l.generation === 11, 'the persist error of generation 11');
    assert.match(String(line.err), disk.expected);
    const failures = errorsOf(host, PERSIST_ERROR);
    assert.ok(failures.every((l) => disk.expected.test(String(l.err))));
    assert.equal(readFileSync(path, 'utf8'), good);
    assert.deepEqual(leftovers(disk.dir), ['lkg.json']);

    // The service crashes while the disk is full, and its source is broken when it comes back:
    // it starts from the intact last known good config (generation 0): ready (it serves a valid
    // config), with the fallback listed as degraded.
    host.proc.kill('SIGKILL');
    await host.exited;
    writeFileSync(file, 'name: [unclosed\n');
    host = await startHost(options);
    const started = host.lines.find((l) => l.msg === 'host started')!;
    assert.deepEqual(started.config, { name: 'app', version: 0 });
    const ready = started.ready as { ok: boolean; degraded: string[] };
    assert.equal(ready.ok, true);
    assert.match(ready.degraded.join(' '), /running on last known good config/);
    assert.ok(host.lines.some((l) => l.level === 'warn' && String(l.msg).startsWith('source cannot be loaded; starting from last known good config')));

    // Space again and the source fixed: the next commit is saved.
    disk.fix();
    writeFileSync(file, 'name: app\nversion: 12\n');
    r = (await reloadOver(host)).reply.results!.app!;
    assert.equal(r.status, 'full_success');
    await waitFor(() => persisted(path).generation === 1, 'the new config persisted');
    assert.deepEqual(persisted(path).config, { name: 'app', version: 12 });
    assert.equal(await host.stop('SIGTERM'), 0);
    process.stdout.write(`# disk-full (${disk.what}), library persist: ${failures.length} failed saves logged for 11 commits, last good file intact\n`);
  });

  it('daemon state dir: the applied hash cannot be recorded → clear error, reload done anyway; the restart reloads once more (fail-safe), then it is recorded', async () => {
    const disk = faultyDisk('rk-fault-disk-daemon-');
    const targets = '  app:\n    kind: command\n    reload: [sh, -c, "echo x >> app.reloads"]\n    watch: [app.conf]\n';
    const { dir, socket, args } = daemonDir('rk-fault-disk-daemon-', { 'app.conf': 'v1\n' }, targets, '', disk.creds);
    const state = join(disk.dir, 'state');
    writeFileSync(join(dir, 'reloadkit.yaml'), `state_dir: ${state}\nadmin:\n  socket: ./admin.sock\n  http: ""\ntargets:\n${targets}`);
    chownTree(dir, disk.creds);
    const stateFile = join(state, 'targets', 'app.json');
    const reloads = () => (existsSync(join(dir, 'app.reloads')) ? readFileSync(join(dir, 'app.reloads'), 'utf8').length / 2 : 0);

    let d = await startBuiltDaemon({ args, socket, ...disk.creds });
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { app: 'recorded' });
    const recorded = readFileSync(stateFile, 'utf8');

    disk.break();
    writeFileSync(join(dir, 'app.conf'), 'v2\n');
    const r = (await reloadOver(d, 'app')).reply.results!.app!;
    assert.equal(r.status, 'full_success');
    assert.equal(reloads(), 1);
    const line = await d.waitForLine((l) => l.msg === 'cannot record the applied content hash', 'the state error');
    assert.equal(line.level, 'error');
    assert.match(String(line.err), disk.expected);
    assert.equal(line.state_dir, state);
    assert.equal(readFileSync(stateFile, 'utf8'), recorded, 'the old record stays whole');
    assert.deepEqual(readdirSync(join(state, 'targets')), ['app.json'], 'no temp file left');
    assert.equal(await d.stop('SIGTERM'), 0);

    // The record says v1 is applied: the restart reloads v2 once more rather than assume it.
    disk.fix();
    d = await startBuiltDaemon({ args, socket, ...disk.creds });
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { app: 'reload' });
    const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'app', 'the start pass');
    assert.equal(pass.status, 'full_success');
    assert.equal(reloads(), 2);
    await waitFor(() => readFileSync(stateFile, 'utf8') !== recorded, 'v2 recorded');
    assert.equal(await d.stop('SIGTERM'), 0);
    d = await startBuiltDaemon({ args, socket, ...disk.creds });
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { app: 'current' });
    assert.equal(await d.stop('SIGTERM'), 0);
    assert.equal(reloads(), 2);
  });
});
