// Fault: 10 000 watched files. The daemon watching a tree of 100 directories
// of 100 files (recursively), and the library's dirSource over 10 000
// fragments in one directory. Each must work: start, then detect and apply a
// change to one file (and files added, removed, a new subdirectory). The
// times are measured and printed for docs/RELIABILITY.md, not asserted.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanup, daemonDir, memoryOf, MiB, reloadOver, startBuiltDaemon, startHost, tempDir, waitFor } from './support.js';

after(cleanup);

const DIRS = 100;
const PER_DIR = 100;
const pad = (n: number, w: number) => String(n).padStart(w, '0');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

describe('10 000 watched files', () => {
  it('daemon: a target watching a tree of 10 000 files starts, and each change is detected and reloaded once', async () => {
    const { dir, socket, args } = daemonDir(
      'rk-fault-many-',
      {},
      // The reload records when it ran (ns since the epoch): latency = that - the write.
      '  tree:\n    kind: command\n    reload: [sh, -c, "date +%s%N >> tree.reloads"]\n    watch: [tree]\n    timeout: 1m\n',
    );
    const tree = join(dir, 'tree');
    for (let d = 0; d < DIRS; d += 1) {
      mkdirSync(join(tree, `d${pad(d, 2)}`), { recursive: true });
      for (let f = 0; f < PER_DIR; f += 1) writeFileSync(join(tree, `d${pad(d, 2)}`, `f${pad(f, 3)}.conf`), `file ${d}/${f}\n`);
    }
    const ran = () => (existsSync(join(dir, 'tree.reloads')) ? readFileSync(join(dir, 'tree.reloads'), 'utf8').trim().split('\n') : []);

    const t0 = performance.now();
    const d = await startBuiltDaemon({ args, socket });
    const startMs = performance.now() - t0;
    assert.deepEqual(d.lines.find((l) => l.msg === 'reloadkit started')!.targets, { tree: 'recorded' });
    assert.equal(
      d.lines.some((l) => l.level === 'error' || l.level === 'warn'),
      false,
      JSON.stringify(d.lines.filter((l) => l.level !== 'info')),
    );
    const rss = memoryOf(d.proc.pid!).rssKb;

    // One file edited at a time, in different directories: one pass and one reload each.
    const latencies: number[] = [];
    const passMs: number[] = [];
    const edits: Array<[string, () => void]> = [];
    for (const n of [7, 42, 99]) {
      const path = join(tree, `d${pad(n, 2)}`, `f${pad(n, 3)}.conf`);
      edits.push([`edit d${n}`, () => writeFileSync(path, `edited ${n}\n`)]);
    }
    edits.push(['add a file', () => writeFileSync(join(tree, 'd50', 'new.conf'), 'new\n')]);
    edits.push(['remove a file', () => rmSync(join(tree, 'd51', 'f000.conf'))]);
    edits.push([
      'new subdirectory with a file',
      () => {
        mkdirSync(join(tree, 'd100'));
        writeFileSync(join(tree, 'd100', 'f000.conf'), 'deeper\n');
      },
    ]);
    for (const [what, edit] of edits) {
      const before = ran().length;
      const from = d.lines.length;
      const wrote = Date.now();
      edit();
      const pass = await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'tree', `the pass after: ${what}`, from, 60_000);
      assert.equal(pass.status, 'full_success', what);
      assert.equal(pass.trigger, 'watch', what);
      await waitFor(() => ran().length === before + 1, `the reload after: ${what}`);
      latencies.push(Number(BigInt(ran()[before]!) / 1_000_000n) - wrote);
      passMs.push(Number(pass.duration_ms));
    }
    // The new subdirectory is watched too: a change inside it is seen.
    const from = d.lines.length;
    writeFileSync(join(tree, 'd100', 'f000.conf'), 'deeper, edited\n');
    await d.waitForLine((l) => l.msg === 'reload pass' && l.unit === 'tree' && l.status === 'full_success', 'the pass in the new subdirectory', from, 60_000);
    assert.equal(ran().length, edits.length + 1, 'exactly one reload per change');
    // An explicit reload (all 10 000 files hashed again) for scale.
    const explicit = await reloadOver(d, 'tree');
    assert.equal(explicit.reply.status, 'ok');
    assert.equal(await d.stop('SIGTERM'), 0);
    process.stdout.write(
      `# many-files, daemon: ${DIRS * PER_DIR} files in ${DIRS} dirs; start to "started" ${startMs.toFixed(0)} ms; RSS ${(rss / MiB).toFixed(0)} MB; ` +
        `edit to reload median ${median(latencies)} ms (max ${Math.max(...latencies)} ms, ${latencies.join('/')}); ` +
        `pass duration median ${median(passMs).toFixed(0)} ms; explicit reload round trip ${explicit.ms.toFixed(0)} ms\n`,
    );
  });

  it('library: dirSource over 10 000 fragments in one directory starts, and an edit to one is detected and applied', async () => {
    const work = tempDir('rk-fault-many-lib-');
    const frags = join(work, 'conf.d');
    mkdirSync(frags);
    for (let i = 0; i < DIRS * PER_DIR; i += 1) writeFileSync(join(frags, `${pad(i, 5)}.yaml`), `k${pad(i, 5)}: ${i}\n`);
    const t0 = performance.now();
    const host = await startHost({ file: frags, dir: frags, socket: join(work, 'app.sock'), watch: true });
    const startMs = performance.now() - t0;
    const started = host.lines.find((l) => l.msg === 'host started')!;
    assert.equal(Object.keys(started.config as object).length, DIRS * PER_DIR);
    assert.equal((started.ready as { ok: boolean }).ok, true, JSON.stringify(started.ready));
    const rss = memoryOf(host.proc.pid!).rssKb;

    const latencies: number[] = [];
    for (const n of [123, 5000, 9999]) {
      const from = host.lines.length;
      const wrote = Date.now();
      writeFileSync(join(frags, `${pad(n, 5)}.yaml`), `k${pad(n, 5)}: edited\n`);
      const applied = await host.waitForLine(
        (l) => l.msg === 'config in effect' && l.generation !== undefined,
        `the edit of fragment ${n} applied`,
        from,
        60_000,
      );
      latencies.push(Number(applied.time) - wrote);
      assert.equal((applied.config as Record<string, unknown>)[`k${pad(n, 5)}`], 'edited');
    }
    assert.equal(await host.stop('SIGTERM'), 0);
    process.stdout.write(
      `# many-files, library dirSource: ${DIRS * PER_DIR} fragments; start to "host started" ${startMs.toFixed(0)} ms (incl. ~0.5 s tsx); ` +
        `RSS ${(rss / MiB).toFixed(0)} MB; edit to applied median ${median(latencies)} ms (${latencies.join('/')})\n`,
    );
  });
});
