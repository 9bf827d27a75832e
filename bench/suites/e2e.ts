// End to end, change to apply (issues 7 and 8): the same edit scripts against
// a real nginx, once per contender, each reloading nginx its own way:
// - reloadkit: `node dist/cli.js run` with one nginx target watching the
//   config directory (defaults: quiet period 100 ms, max wait 1 s);
// - naive: bench/baselines/naive-watch.mjs, fs.watch on the file and
//   `nginx -t && nginx -s reload` on every event;
// - inotifywait loop: bench/baselines/inotifywait-loop.sh, the hand-written
//   `while inotifywait DIR; do nginx -t && nginx -s reload; done`.
// "Applied" means nginx serves it: the included site.conf answers `vN` and
// the bench polls GET / on fresh connections until it sees the version just
// written. Reloads are counted by nginx itself (one "reconfiguring" line in
// its error log per reload the master performed), so every contender is
// counted the same way.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/integration/helpers.js';
import { spawnTracked, type TrackedChild } from '../children.js';
import { ensureCliBundle, eachLine, spawnDaemon } from '../daemon-process.js';
import { atomicSave, chunkedWrite, ConfigMapVolume, inPlaceWrite, vimBackupcopyNo, vimBackupcopyYes } from '../edits.js';
import { percentile, round, type BenchContext, type BenchReport, type BenchRow, type BenchSeries, type BenchSuite } from '../harness.js';
import { fetchBody, nginxMissing, startBenchNginx, type BenchNginx } from '../nginx.js';
import type { CdfPanel } from '../plot.js';

const baselines = fileURLToPath(new URL('../baselines/', import.meta.url));

/** A contender gets this long to make nginx serve an edit (reloadkit's max wait is 1 s). */
const DEADLINE_MS = 1500;
/** After this many misses in a row, a contender has stopped reacting: it gets SHORT_DEADLINE_MS per edit. */
const DEAD_AFTER = 2;
const SHORT_DEADLINE_MS = 400;
/** After an edit is served: time for late reloads (a second pass, a loop's next round) to land before the next edit. */
const GAP_MS = 150;
/** Burst: writes per burst and the pause between them. */
const BURST_WRITES = 10;
const BURST_SPACING_MS = 5;
/** Slow writer: chunks per write and the pause between them. */
const CHUNKS = 4;
const CHUNK_SPACING_MS = 20;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** site.conf for version `v` (~2.1 KB: a server block with some locations). */
function siteConf(port: number, v: number): string {
  const lines = [`# site.conf, version ${v}`, 'server {', `    listen 127.0.0.1:${port};`, `    location / { default_type text/plain; return 200 "v${v}"; }`];
  for (let i = 0; i < 24; i++) lines.push(`    location /api/${i} { default_type text/plain; return 200 "route ${i}, version ${v}"; }`);
  lines.push('}', '');
  return lines.join('\n');
}

// ---- edit scripts ---------------------------------------------------------

interface Editor {
  /** The watched file (what the naive watcher watches). */
  file: string;
  write(text: string): void | Promise<void>;
}

interface EditScript {
  key: string;
  title: string;
  /** Writes per edit (a burst has several; the last one must be served). */
  writes: number;
  edits: (quick: boolean) => number;
  layout(confDir: string, text: string): Editor;
}

const plainFile =
  (write: (file: string, text: string) => void | Promise<void>) =>
  (confDir: string, text: string): Editor => {
    const file = join(confDir, 'site.conf');
    writeFileSync(file, text);
    return { file, write: (t) => write(file, t) };
  };

const scripts: EditScript[] = [
  { key: 'in-place', title: 'in-place write', writes: 1, edits: (q) => (q ? 4 : 30), layout: plainFile(inPlaceWrite) },
  { key: 'atomic', title: 'atomic save (temp + rename)', writes: 1, edits: (q) => (q ? 4 : 30), layout: plainFile(atomicSave) },
  { key: 'vim-no', title: 'vim, backupcopy=no', writes: 1, edits: (q) => (q ? 2 : 8), layout: plainFile(vimBackupcopyNo) },
  { key: 'vim-yes', title: 'vim, backupcopy=yes', writes: 1, edits: (q) => (q ? 1 : 8), layout: plainFile(vimBackupcopyYes) },
  {
    key: 'burst',
    title: `burst: ${BURST_WRITES} writes ${BURST_SPACING_MS} ms apart`,
    writes: BURST_WRITES,
    edits: (q) => (q ? 1 : 8),
    layout: plainFile(inPlaceWrite),
  },
  {
    key: 'chunked',
    title: `slow write: ${CHUNKS} chunks ${CHUNK_SPACING_MS} ms apart`,
    writes: 1,
    edits: (q) => (q ? 2 : 8),
    layout: plainFile((file, text) => chunkedWrite(file, text, CHUNKS, CHUNK_SPACING_MS)),
  },
  {
    key: 'configmap',
    title: 'ConfigMap update (..data swap)',
    writes: 1,
    edits: (q) => (q ? 2 : 8),
    layout: (confDir, text) => {
      const vol = new ConfigMapVolume(confDir, 'site.conf', text);
      return { file: vol.file, write: (t) => vol.update(t) };
    },
  },
];

// ---- contenders -------------------------------------------------------------

interface Setup {
  nginx: BenchNginx;
  confDir: string;
  file: string;
  /** A directory for the contender's own files. */
  dir: string;
}

interface Running {
  /** Checks that failed (nginx -t rejected what it read, e.g. a half-written or missing file). */
  failedChecks(): number;
  stop(): Promise<void>;
}

interface Contender {
  name: string;
  /** Why it cannot run here, or null. */
  missing(): string | null;
  start(s: Setup): Promise<Running>;
}

function countIn(text: () => string, needle: string): number {
  const t = text();
  let n = 0;
  for (let i = t.indexOf(needle); i >= 0; i = t.indexOf(needle, i + 1)) n += 1;
  return n;
}

/** Starts a baseline and waits until `ready` appears on its stdout or stderr. */
async function startBaseline(cmd: string, args: string[], ready: string): Promise<{ child: TrackedChild; output: () => string }> {
  const child = spawnTracked(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  eachLine(child.proc.stdout!, (l) => (out += `${l}\n`));
  eachLine(child.proc.stderr!, (l) => (out += `${l}\n`));
  const end = Date.now() + 30_000;
  while (!out.includes(ready)) {
    if (child.proc.exitCode !== null || Date.now() > end) {
      await child.stop('SIGKILL');
      throw new Error(`bench: ${cmd} did not get ready: ${out.slice(-500)}`);
    }
    await sleep(2);
  }
  return { child, output: () => out };
}

/**
 * `reloadkit run`, one nginx target watching the config directory (as an
 * operator writes `watch: [/etc/nginx]`, and as the inotifywait loop does)
 * or only the file (as the naive watcher does).
 */
function reloadkitContender(scope: 'dir' | 'file'): Contender {
  return {
    name: `reloadkit, watch ${scope}`,
    missing: () => null,
    async start({ nginx, confDir, file, dir }) {
      const config = join(dir, 'reloadkit.yaml');
      const q = JSON.stringify;
      writeFileSync(
        config,
        [
          'log_level: info',
          `state_dir: ${q(join(dir, 'state'))}`,
          'admin:',
          `  socket: ${q(join(dir, 'admin.sock'))}`,
          '  http: ""',
          'targets:',
          '  nginx:',
          '    kind: nginx',
          `    prefix: ${q(`${nginx.prefix}/`)}`,
          `    config: ${q(nginx.conf)}`,
          `    watch: [${q(scope === 'dir' ? confDir : file)}]`,
          '',
        ].join('\n'),
      );
      const daemon = spawnDaemon(config);
      try {
        await daemon.waitForLine((l) => l.msg === 'reloadkit started', 'the daemon to start');
      } catch (err) {
        await daemon.stop('SIGKILL');
        throw err;
      }
      return {
        failedChecks: () => daemon.lines.filter((l) => l.msg === 'reload pass' && l.status === 'validation_failed').length,
        stop: () => daemon.stop('SIGTERM'),
      };
    },
  };
}

const contenders: Contender[] = [
  reloadkitContender('dir'),
  reloadkitContender('file'),
  {
    name: 'naive fs.watch',
    missing: () => null,
    async start({ nginx, file }) {
      const { child, output } = await startBaseline(process.execPath, [join(baselines, 'naive-watch.mjs'), file, ...nginx.args], 'watching');
      return { failedChecks: () => countIn(output, 'test failed'), stop: () => child.stop('SIGKILL') };
    },
  },
  {
    name: 'inotifywait loop',
    missing: () =>
      spawnSync('inotifywait', ['--help'], { stdio: 'ignore' }).error === undefined ? null : 'inotifywait is not installed (apt-get install inotify-tools)',
    async start({ nginx, confDir }) {
      const { child, output } = await startBaseline('bash', [join(baselines, 'inotifywait-loop.sh'), confDir, ...nginx.args], 'Watches established.');
      return { failedChecks: () => countIn(output, 'test failed'), stop: () => child.stop('SIGKILL') };
    },
  },
];

// ---- one contender, one script ------------------------------------------------

interface ScriptRun {
  /** Change-to-apply of the served edits (ms from the last write of the edit). */
  latencies: number[];
  /** nginx reloads per edit (in the edit's window: from its first write to GAP_MS after it was served). */
  reloads: number[];
  missed: number;
  edits: number;
  failedChecks: number;
}

/** Polls GET / until the body is `want` (resolves with the time) or the deadline passes (null). */
async function servedAt(port: number, want: string, deadlineMs: number): Promise<number | null> {
  const end = performance.now() + deadlineMs;
  while (performance.now() < end) {
    const body = await fetchBody(port);
    if (body === want) return performance.now();
    await sleep(1);
  }
  return null;
}

async function runOne(ctx: BenchContext, script: EditScript, contender: Contender): Promise<ScriptRun> {
  const dir = ctx.tmp('e2e');
  const confDir = join(dir, 'conf');
  mkdirSync(confDir);
  const port = await freePort();
  let version = 0;
  const editor = script.layout(confDir, siteConf(port, version));
  const nginx = await startBenchNginx(join(dir, 'nginx'), { port, http: () => `    include ${editor.file};` });
  let running: Running | null = null;
  try {
    running = await contender.start({ nginx, confDir, file: editor.file, dir });
    const edits = script.edits(ctx.quick);
    const run: ScriptRun = { latencies: [], reloads: [], missed: 0, edits, failedChecks: 0 };
    let missesInARow = 0;
    for (let i = 0; i < edits; i++) {
      const before = nginx.reloads();
      for (let w = 0; w < script.writes; w++) {
        if (w > 0) await sleep(BURST_SPACING_MS);
        version += 1;
        await editor.write(siteConf(port, version));
      }
      const t0 = performance.now();
      const at = await servedAt(port, `v${version}`, missesInARow >= DEAD_AFTER ? SHORT_DEADLINE_MS : DEADLINE_MS);
      if (at === null) {
        run.missed += 1;
        missesInARow += 1;
      } else {
        run.latencies.push(at - t0);
        missesInARow = 0;
        await sleep(GAP_MS);
      }
      run.reloads.push(nginx.reloads() - before);
    }
    run.failedChecks = running.failedChecks();
    return run;
  } finally {
    await running?.stop();
    await nginx.stop();
  }
}

// ---- the suite ------------------------------------------------------------------

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

export const e2eSuite: BenchSuite = {
  name: 'e2e',
  description: 'change to apply against a real nginx: reloadkit run vs a naive fs.watch reloader vs an inotifywait loop, same edit scripts',
  async run(ctx): Promise<BenchReport> {
    const noNginx = nginxMissing();
    if (noNginx) {
      if (process.env.CI === 'true') throw new Error(`${noNginx}: the e2e bench needs it under CI`);
      return { rows: [{ metric: `skipped: ${noNginx}`, value: Number.NaN, unit: '' }] };
    }
    ensureCliBundle(ctx.log);
    const load0 = loadavg()[0]!;
    const notes: string[] = [];
    const rows: BenchRow[] = [];
    const live = contenders.filter((c) => {
      const why = c.missing();
      if (why) rows.push({ metric: `${c.name}: skipped: ${why}`, value: Number.NaN, unit: '' });
      return why === null;
    });
    // Per script, contenders one after the other (never two on the machine at once).
    const results = new Map<string, Map<string, ScriptRun>>();
    for (const script of scripts) {
      const byContender = new Map<string, ScriptRun>();
      for (const c of live) {
        ctx.log(`${script.title}: ${c.name}`);
        byContender.set(c.name, await runOne(ctx, script, c));
      }
      results.set(script.key, byContender);
    }

    const series: BenchSeries[] = [];
    const panels: CdfPanel[] = [];
    // Each baseline against reloadkit watching the same scope: the file (naive) or the directory (the loop).
    const pairs = [
      ['reloadkit, watch file', 'naive fs.watch'],
      ['reloadkit, watch dir', 'inotifywait loop'],
    ] as const;
    for (const script of scripts) {
      const byContender = results.get(script.key)!;
      const p = (r: ScriptRun, q: number) => round(percentile(r.latencies, q), 1);
      for (const [name, r] of byContender)
        series.push({ name: `${name} ${script.key}`, unit: 'ms', samples: r.latencies.map((x) => round(x, 2)), total: r.edits });
      for (const [ours, theirs] of pairs) {
        const rk = byContender.get(ours);
        const r = byContender.get(theirs);
        if (!rk || !r) continue;
        const vs = `${ours} vs ${theirs}`;
        rows.push(
          {
            metric: `${script.title}: change-to-apply p50, ${vs}`,
            value: p(rk, 50),
            unit: 'ms',
            baseline: p(r, 50),
            baselineName: theirs,
            ratio: round(percentile(rk.latencies, 50) / percentile(r.latencies, 50), 2),
          },
          { metric: `${script.title}: change-to-apply p99, ${vs}`, value: p(rk, 99), unit: 'ms', baseline: p(r, 99), baselineName: theirs },
          {
            metric: `${script.title}: nginx reloads per ${script.writes > 1 ? 'burst' : 'edit'}, ${vs}`,
            value: round(mean(rk.reloads), 2),
            unit: 'reloads',
            baseline: round(mean(r.reloads), 2),
            baselineName: theirs,
            goal: 'exactly 1',
            pass: rk.reloads.every((x) => x === 1),
          },
          {
            metric: `${script.title}: edits not served (of ${rk.edits}), ${vs}`,
            value: rk.missed,
            unit: 'edits',
            baseline: r.missed,
            baselineName: theirs,
            goal: '0',
            pass: rk.missed === 0,
          },
          { metric: `${script.title}: failed nginx checks, ${vs}`, value: rk.failedChecks, unit: 'checks', baseline: r.failedChecks, baselineName: theirs },
        );
      }
      panels.push({
        title: `${script.title} (${script.edits(ctx.quick)} edits)`,
        lines: [...byContender].map(([name, r]) => ({ name, samples: r.latencies, total: r.edits, extra: `${round(mean(r.reloads), 2)} reloads/edit` })),
      });
    }
    notes.push(
      `edits per script: ${scripts.map((s) => `${s.key} ${s.edits(ctx.quick)}`).join(', ')}; deadline ${DEADLINE_MS} ms per edit (${SHORT_DEADLINE_MS} ms after ${DEAD_AFTER} misses in a row), ${GAP_MS} ms after each served edit; 1-min load average ${load0.toFixed(2)} before, ${loadavg()[0]!.toFixed(2)} after`,
    );
    return {
      rows,
      series,
      notes,
      plot: {
        file: 'docs/perf/change-to-apply.svg',
        plot: {
          title: 'Change to apply: reloadkit vs the hand-written reloaders, real nginx',
          subtitle: `share of edits nginx served within x ms of the edit; a curve that stays below 1 missed edits (never served within ${DEADLINE_MS} ms)`,
          panels,
        },
      },
    };
  },
};
