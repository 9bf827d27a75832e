// `npm run bench [-- --quick] [-- --only <suite>]`: runs every suite, prints a
// table, and writes bench/results/latest.json (machine, node, load, figures)
// and, after a full run, the plots suites ask for (docs/perf/*.svg).
import { writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem, release } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeContext, type BenchReport } from './harness.js';
import { cdfSvg } from './plot.js';
import { suites } from './suites/index.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? (args[onlyIdx + 1] ?? '').split(',') : null;

/** 1-, 5- and 15-minute load averages, rounded: the machine is shared, figures depend on it. */
const load = () => loadavg().map((x) => Math.round(x * 100) / 100);

type SuiteResult = BenchReport & { duration_s: number; loadavg_before: number[]; loadavg_after: number[]; error?: string };
const results: Record<string, SuiteResult> = {};
const t0 = Date.now();
const loadAtStart = load();
for (const suite of suites) {
  if (only && !only.includes(suite.name)) continue;
  process.stderr.write(`\n== ${suite.name}: ${suite.description}\n`);
  const ctx = makeContext(quick, suite.name);
  const s0 = Date.now();
  const loadBefore = load();
  try {
    const report = await suite.run(ctx);
    results[suite.name] = { ...report, duration_s: (Date.now() - s0) / 1000, loadavg_before: loadBefore, loadavg_after: load() };
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`  suite failed: ${message}\n`);
    results[suite.name] = { rows: [], duration_s: (Date.now() - s0) / 1000, loadavg_before: loadBefore, loadavg_after: load(), error: message };
    process.exitCode = 1;
  } finally {
    ctx.cleanup();
  }
}

const fmt = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? '' : String(n));
console.log('\n| suite | metric | value | unit | baseline | ratio | goal | met |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [name, rep] of Object.entries(results)) {
  if (rep.error) console.log(`| ${name} | FAILED: ${rep.error.split('\n')[0]} | | | | | | |`);
  for (const r of rep.rows) {
    const base = r.baseline === undefined ? '' : `${fmt(r.baseline)}${r.baselineName ? ` (${r.baselineName})` : ''}`;
    const met = r.pass === undefined ? '' : r.pass ? 'yes' : 'NO';
    console.log(`| ${name} | ${r.metric} | ${fmt(r.value)} | ${r.unit} | ${base} | ${fmt(r.ratio)} | ${r.goal ?? ''} | ${met} |`);
  }
  for (const n of rep.notes ?? []) console.log(`|   | note: ${n} | | | | | | |`);
  console.log(
    `|   | ${rep.duration_s.toFixed(1)} s; load average (1/5/15 min) ${rep.loadavg_before.join(' / ')} before, ${rep.loadavg_after.join(' / ')} after | | | | | | |`,
  );
}

const repoRoot = fileURLToPath(new URL('../', import.meta.url));
const plots: string[] = [];
for (const rep of Object.values(results)) {
  if (!rep.plot) continue;
  if (quick) {
    console.log(`\nplot ${rep.plot.file} not written: --quick (the committed plot comes from a full run)`);
    continue;
  }
  const path = join(repoRoot, rep.plot.file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, cdfSvg(rep.plot.plot));
  plots.push(rep.plot.file);
}

const outDir = fileURLToPath(new URL('./results/', import.meta.url));
mkdirSync(outDir, { recursive: true });
const machine = {
  cpus: cpus().length,
  cpu_model: cpus()[0]?.model ?? 'unknown',
  mem_gib: Math.round(totalmem() / 2 ** 30),
  kernel: release(),
  node: process.version,
};
writeFileSync(
  `${outDir}latest.json`,
  JSON.stringify(
    { date: new Date().toISOString(), quick, machine, total_s: (Date.now() - t0) / 1000, loadavg_start: loadAtStart, loadavg_end: load(), results },
    null,
    2,
  ),
);
for (const p of plots) console.log(`wrote ${p}`);
console.log(
  `\nwrote bench/results/latest.json (${((Date.now() - t0) / 1000).toFixed(1)} s, quick=${quick}; load average ${loadAtStart.join(' / ')} at the start, ${load().join(' / ')} at the end)`,
);
