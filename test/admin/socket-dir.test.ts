// The default admin socket directory (/run/reloadkit as root,
// $XDG_RUNTIME_DIR/reloadkit or $TMPDIR/reloadkit-<uid> otherwise): created
// 0700 when missing; an existing one that is not ours, not a directory, or
// world-writable is refused, never chmod-ed; an operator's path never gets
// its parent created.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureDefaultSocketDir } from '../../src/admin/socket-path.js';
import { startAdminSocket, type AdminSocketHandle } from '../../src/admin/socket.js';
import { recordingLogger, stubHost, tempDir } from './support.js';

const isRoot = process.getuid?.() === 0;
const mode = (p: string) => lstatSync(p).mode & 0o7777;

test('a missing default directory is created with mode 0700, whatever the umask', async () => {
  const { dir, cleanup } = tempDir();
  const old = process.umask(0o277);
  try {
    const d = join(dir, 'reloadkit');
    assert.deepEqual(await ensureDefaultSocketDir(d), { ok: true, created: true });
    assert.equal(mode(d), 0o700);
    assert.equal(lstatSync(d).uid, process.getuid!());
    // Again: it exists now, is ours and private: used as is.
    assert.deepEqual(await ensureDefaultSocketDir(d), { ok: true, created: false });
  } finally {
    process.umask(old);
    cleanup();
  }
});

test('an existing directory of ours is used without touching its mode (no chmod)', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const d = join(dir, 'reloadkit');
    mkdirSync(d);
    chmodSync(d, 0o750); // e.g. systemd's RuntimeDirectoryMode=0750
    assert.deepEqual(await ensureDefaultSocketDir(d), { ok: true, created: false });
    assert.equal(mode(d), 0o750);
  } finally {
    cleanup();
  }
});

test('world-writable, a symlink, a file, or a missing parent: refused with the reason, nothing changed', async () => {
  const { dir, cleanup } = tempDir();
  try {
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.deepEqual(await ensureDefaultSocketDir(open), { ok: false, reason: `${open} is world-writable (mode 0777)` });
    assert.equal(mode(open), 0o777);

    const real = join(dir, 'real');
    mkdirSync(real, { mode: 0o700 });
    const link = join(dir, 'link');
    symlinkSync(real, link);
    assert.deepEqual(await ensureDefaultSocketDir(link), { ok: false, reason: `${link} is a symbolic link, not a directory` });

    const file = join(dir, 'file');
    writeFileSync(file, '');
    assert.deepEqual(await ensureDefaultSocketDir(file), { ok: false, reason: `${file} is a regular file, not a directory` });

    const orphan = join(dir, 'no-parent', 'reloadkit');
    assert.deepEqual(await ensureDefaultSocketDir(orphan), { ok: false, reason: `cannot create ${orphan} (ENOENT)` });
    assert.equal(existsSync(join(dir, 'no-parent')), false, 'the parent is never created');
  } finally {
    cleanup();
  }
});

test('a directory owned by another user is refused (someone squatting reloadkit-<uid> in /tmp)', { skip: isRoot ? false : 'needs root to chown' }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const d = join(dir, 'reloadkit-0');
    mkdirSync(d, { mode: 0o700 });
    chownSync(d, 65534, 65534);
    assert.deepEqual(await ensureDefaultSocketDir(d), { ok: false, reason: `${d} is owned by uid 65534, not by this user (uid 0)` });
    assert.equal(statSync(d).uid, 65534);
  } finally {
    cleanup();
  }
});

test('an operator-given socket path never gets its parent created', async () => {
  const { dir, cleanup } = tempDir();
  const logger = recordingLogger();
  let sock: AdminSocketHandle | undefined;
  try {
    const path = join(dir, 'missing', 'admin.sock');
    sock = await startAdminSocket({ path, host: stubHost(), logger });
    assert.equal(sock.state, 'failed');
    assert.equal(existsSync(join(dir, 'missing')), false);
  } finally {
    await sock?.close();
    cleanup();
  }
});
