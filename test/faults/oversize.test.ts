// Fault: a config over the 16 MiB limit, for a service using the library
// and for the daemon's own config. Refused with a clear error, quickly, the
// old config kept, and without reading the file into memory: the process's
// peak resident set must not grow by anything near the file's size.
import assert from 'node:assert/strict';
import { closeSync, openSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanup, daemonDir, MiB, peakGrowth, reloadOver, startBuiltDaemon, startHost, tempDir } from './support.js';

after(cleanup);

const LIMIT = 16 * 1024 * 1024;
const SIZE = 20 * 1024 * 1024;
/** Peak growth allowed while refusing: a fraction of the 20 MiB file (reading it would cost all of it). */
const PEAK_BOUND_KB = 6 * MiB;
const REFUSE_WITHIN_MS = 5000;

/** Writes `head`, then valid YAML comment lines up to `size` bytes, 64 KiB at a time (the test never holds the file). */
function writeLarge(path: string, head: string, size: number): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, head);
    const line = `# ${'x'.repeat(62)}\n`;
    const chunk = Buffer.from(line.repeat(1024));
    let written = Buffer.byteLength(head);
    while (written < size) {
      const n = Math.min(chunk.length, size - written);
      writeSync(fd, chunk, 0, n);
      written += n;
    }
  } finally {
    closeSync(fd);
  }
}

const numbers: string[] = [];

describe('a config over the 16 MiB limit', () => {
  it('library: a 20 MiB YAML file is refused (load_failed), unread, quickly; then a sparse 20 GiB one; the old config stays', async () => {
    const dir = tempDir('rk-fault-oversize-lib-');
    const file = join(dir, 'config.yaml');
    writeLarge(file, 'name: good\nversion: 1\n', 100);
    const host = await startHost({ file, socket: join(dir, 'app.sock') });
    const pid = host.proc.pid!;
    const first = (await reloadOver(host)).reply.results!.app!;

    writeLarge(file, 'name: big\nversion: 2\n', SIZE);
    const { value, peakKb, before } = await peakGrowth(pid, () => reloadOver(host));
    const r = value.reply.results!.app!;
    assert.equal(r.status, 'load_failed');
    assert.equal(r.load_error, `${file}: file is 20 MiB (${SIZE} bytes), over the limit of 16 MiB (${LIMIT} bytes)`);
    assert.equal(r.generation, first.generation);
    assert.equal(r.config_hash, first.config_hash);
    assert.ok(value.ms < REFUSE_WITHIN_MS, `${value.ms} ms`);
    assert.ok(peakKb < PEAK_BOUND_KB, `peak grew by ${(peakKb / MiB).toFixed(1)} MB while refusing a 20 MiB file`);
    numbers.push(`# library, 20 MiB: refused in ${value.ms.toFixed(0)} ms, peak +${(peakKb / MiB).toFixed(1)} MB over ${(before.rssKb / MiB).toFixed(0)} MB`);

    // A sparse file claims 20 GiB: one fstat, no read.
    truncateSync(file, 20 * 1024 ** 3);
    const sparse = await peakGrowth(pid, () => reloadOver(host));
    assert.match(sparse.value.reply.results!.app!.load_error!, /: file is 20 GiB \(21474836480 bytes\), over the limit of 16 MiB/);
    assert.ok(sparse.peakKb < PEAK_BOUND_KB);
    numbers.push(`# library, sparse 20 GiB: refused in ${sparse.value.ms.toFixed(0)} ms, peak +${(sparse.peakKb / MiB).toFixed(1)} MB`);

    // Back under the limit: applies.
    writeLarge(file, 'name: good\nversion: 3\n', 100);
    const ok = (await reloadOver(host)).reply;
    assert.equal(ok.status, 'ok');
    assert.deepEqual(ok.results!.app!.changed, ['version']);
    assert.equal(await host.stop('SIGTERM'), 0);
  });

  it('daemon: its own config at 20 MiB (and sparse at 1.5 GiB) is refused unread; its targets keep running', async () => {
    const targets = '  a:\n    kind: command\n    reload: ["true"]\n';
    const { dir, socket, args } = daemonDir('rk-fault-oversize-daemon-', {}, targets);
    const config = join(dir, 'reloadkit.yaml');
    const d = await startBuiltDaemon({ args, socket });
    const pid = d.proc.pid!;
    const head = `state_dir: ./state\nadmin:\n  socket: ./admin.sock\n  http: ""\ntargets:\n${targets}  b:\n    kind: command\n    reload: ["true"]\n`;

    writeLarge(config, head, SIZE);
    const { value, peakKb } = await peakGrowth(pid, () => reloadOver(d, 'reloadkit'));
    const r = value.reply.results!.reloadkit!;
    assert.equal(r.status, 'load_failed');
    assert.match(r.load_error!, new RegExp(`^${config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .*20 MiB.*16 MiB`));
    assert.ok(value.ms < REFUSE_WITHIN_MS, `${value.ms} ms`);
    assert.ok(peakKb < PEAK_BOUND_KB, `peak grew by ${(peakKb / MiB).toFixed(1)} MB while refusing a 20 MiB file`);
    numbers.push(`# daemon own config, 20 MiB: refused in ${value.ms.toFixed(0)} ms, peak +${(peakKb / MiB).toFixed(1)} MB`);

    truncateSync(config, 1536 * 1024 * 1024);
    const sparse = await peakGrowth(pid, () => reloadOver(d, 'reloadkit'));
    assert.equal(sparse.value.reply.results!.reloadkit!.status, 'load_failed');
    assert.ok(sparse.peakKb < PEAK_BOUND_KB, `peak grew by ${(sparse.peakKb / MiB).toFixed(1)} MB for a sparse 1.5 GiB file`);
    numbers.push(`# daemon own config, sparse 1.5 GiB: refused in ${sparse.value.ms.toFixed(0)} ms, peak +${(sparse.peakKb / MiB).toFixed(1)} MB`);

    // The old config (target a only) is in effect and works.
    const status = JSON.parse(await d.send('status')) as { targets: number };
    assert.equal(status.targets, 1);
    assert.equal((await reloadOver(d, 'a')).reply.status, 'ok');
    assert.equal(await d.stop('SIGTERM'), 0);
    process.stdout.write(`${numbers.join('\n')}\n`);
  });
});
