// Partial writes through the whole library path, with the DEFAULT watch timings
// (quiet period 100 ms, max wait 1 s): createReloader + fileSource + triggers.watch: true.
// The schema requires a final `complete: true`, so a pass that read a half-written file
// would end load_failed (schema) and show in history().
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { createReloader, fileSource, type ReloadResult } from '../../src/index.js';
import { tempDir } from '../triggers/watch-helpers.js';
import { waitFor } from '../helpers/wait.js';

const KEYS = 8;
const keyShape = Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`key${i}`, z.string()])) as Record<`key${number}`, z.ZodString>;
const schema = z.object({ version: z.number().int(), ...keyShape, complete: z.literal(true) });

/** What the file of `version` holds once complete. */
function expected(version: number): z.infer<typeof schema> {
  const keys = Object.fromEntries(Array.from({ length: KEYS }, (_, i) => [`key${i}`, `value-${version}-${i}`]));
  return { version, ...keys, complete: true };
}

/** The file as several chunks: `version` first, then the keys, `complete: true` in the last one. */
function chunksOf(version: number): string[] {
  const lines = [`version: ${version}\n`, ...Array.from({ length: KEYS }, (_, i) => `key${i}: value-${version}-${i}\n`)];
  const chunks: string[] = [];
  for (let i = 0; i < lines.length; i += 2) chunks.push(lines.slice(i, i + 2).join(''));
  chunks[chunks.length - 1] += 'complete: true\n';
  return chunks;
}

/**
 * Another process opens the file in place, truncates it, and writes `chunks` with
 * `pauseMs` between them. Resolves with the measured gaps between writes (ms).
 */
function slowWriter(path: string, chunks: string[], pauseMs: number): Promise<number[]> {
  const script = `
    const fs = require('node:fs');
    const [path, chunksJson, pause] = process.argv.slice(1);
    const chunks = JSON.parse(chunksJson);
    const fd = fs.openSync(path, 'r+');
    fs.ftruncateSync(fd, 0);
    const at = [performance.now()];
    let i = 0;
    const next = () => {
      fs.writeSync(fd, chunks[i++]);
      at.push(performance.now());
      if (i < chunks.length) { setTimeout(next, Number(pause)); return; }
      fs.closeSync(fd);
      process.stdout.write(JSON.stringify(at.slice(1).map((t, k) => Math.round(t - at[k]))));
    };
    setTimeout(next, Number(pause));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', script, path, JSON.stringify(chunks), String(pauseMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as number[]) : reject(new Error(`writer exited ${code}`))));
  });
}

/** Version 0 on disk, and a started reloader over it with the default watch timings. */
async function startWatched(t: TestContext) {
  const dir = await tempDir(t, 'reloadkit-partial-');
  const file = join(dir, 'app.yaml');
  await writeFile(file, chunksOf(0).join(''));
  const r = createReloader({ source: fileSource(file), schema, historySize: 1000, triggers: { watch: true } });
  t.after(() => r.close());
  await r.start();
  return { file, r };
}

const failedPasses = (history: readonly ReloadResult[]) =>
  history.filter((r) => r.status !== 'full_success' && r.status !== 'unchanged').map((r) => `${r.status}: ${r.load_error ?? r.error ?? ''}`);

/**
 * The end point of a test: one more complete version, written whole, and its pass.
 * Every request made before it (a stray pass for an earlier write) is a pass of its
 * own in history() before this one, so history() is final when this returns. (A
 * burst of events the watcher has not checked yet takes this write in: one check,
 * one pass.)
 */
async function settle(file: string, r: { current(): { version: number } }, version: number): Promise<void> {
  await writeFile(file, chunksOf(version).join(''));
  await waitFor(() => r.current().version === version, `the final version ${version} in effect`);
}

test('default timings: truncate + chunked slow writes (20 ms apart) from another process are never loaded half-written', async (t) => {
  const { file, r } = await startWatched(t);
  const gaps: number[][] = [];
  for (let v = 1; v <= 3; v += 1) {
    // 20 ms: slow, yet with 80 ms of slack under the quiet period for a loaded CI machine.
    gaps.push(await slowWriter(file, chunksOf(v), 20));
    await waitFor(() => r.current().version === v, `version ${v} in effect`);
  }
  await settle(file, r, 4);
  const history = r.history();
  t.diagnostic(`writer gaps (ms): ${JSON.stringify(gaps)}; ${history.length} passes`);
  // If this fails with schema errors, check the writer's gaps: the quiet period (100 ms)
  // only covers pauses shorter than itself.
  assert.deepEqual(failedPasses(history), [], `writer gaps (ms): ${JSON.stringify(gaps)}`);
  assert.ok(gaps.flat().length >= 15, 'the writes really were chunked');
  assert.ok(history.every((h) => h.trigger === 'watch'));
  // One pass per complete version (a pass is never taken between chunks), and one for the end point.
  assert.equal(history.length, 4, JSON.stringify(history.map((h) => [h.status, h.changed.length])));
  assert.deepEqual(r.current(), expected(4));
  assert.equal(r.generation, 4);
});

// The writes stop WRITE_WINDOW_MS after the first one, however slow the machine is (on a
// fast one, all 1,000 fit: one every 1.5 ms). That makes the strongest check hold on any
// machine: a pass starts after the first write, reads until the file holds still and
// gives up ("kept changing") only after 2 s of constant change, and the changes stop
// 1.5 s after the first write. So no pass may fail, however long the test took.
const WRITES = 1000;
const WRITE_WINDOW_MS = 1500;

test('default timings: up to 1,000 complete in-place writes in 1.5 s: no failed pass, a bounded number of passes, the last content in effect', async (t) => {
  const { file, r } = await startWatched(t);
  const t0 = performance.now();
  let last = 0;
  for (let i = 1; i <= WRITES && performance.now() - t0 < WRITE_WINDOW_MS; i += 1) {
    await writeFile(file, chunksOf(i).join('')); // truncate + one write: complete, in place
    last = i;
    const due = t0 + (i * WRITE_WINDOW_MS) / WRITES; // paced: spread over the window
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
  }
  const elapsed = Math.round(performance.now() - t0);
  const writesEnded = Date.now();
  await waitFor(() => r.current().version === last, 'the last write in effect');
  await settle(file, r, last + 1);
  const history = r.history();
  t.diagnostic(`${history.length} passes (${history.map((h) => h.status).join(', ')}) for ${last} writes in ${elapsed} ms`);
  // Never allowed: a pass that read a partial file (the schema would refuse it), a pass
  // that gave up on a file that kept changing (see above), or any other failure.
  assert.deepEqual(failedPasses(history), [], `${last} writes in ${elapsed} ms`);
  assert.ok(last >= 100, `only ${last} writes in ${elapsed} ms: not a storm`);
  // The max wait (1 s) started a pass while the writes went on; the writes after it got a pass
  // of their own (or shared the end point's, when their burst was still open).
  assert.ok(Date.parse(history[0]!.started_at) < writesEnded, `the first pass started after ${elapsed} ms of writes: the max wait (1 s) did not fire`);
  assert.ok(history.length >= 2, `only ${history.length} passes`);
  assert.ok(history.length <= 30, `${history.length} passes for ${last} writes in ${elapsed} ms`);
  // A pass during the storm may be `unchanged`: one started by the max wait can only get a
  // consistent read once the writes pause, and may then already read the last version.
  assert.ok(history.some((h) => h.status === 'full_success'));
  assert.deepEqual(r.current(), expected(last + 1));
});
