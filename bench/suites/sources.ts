// Source benchmarks: what fileSource/dirSource add on top of the bare
// "read the file and parse it" a hand-written loader does (the baseline,
// measured in the same run on the same files).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { createReloader } from '../../src/library/reloader.js';
import { z } from 'zod';
import type { ConfigSource } from '../../src/shared/types.js';
import { dirSource, fileSource } from '../../src/sources/index.js';
import { median, round, type BenchContext, type BenchRow, type BenchSuite } from '../harness.js';

/** About 10 KB as JSON. */
function config(): Record<string, unknown> {
  const upstreams = Array.from({ length: 60 }, (_, i) => ({
    name: `upstream-${i}`,
    url: `http://10.0.0.${i}:8080/api`,
    weight: (i % 7) + 1,
    tags: ['blue', `zone-${i % 3}`],
  }));
  const limits = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`route_${i}`, i * 10]));
  return { service: { name: 'bench', port: 8080 }, upstreams, limits };
}

async function timeIt(iterations: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(50, iterations); i += 1) await fn();
  const samples: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

const ctx = { signal: new AbortController().signal };

const LARGE_FRAGMENTS = 10_000;
const pad5 = (i: number) => String(i).padStart(5, '0');
const fragmentText = (i: number, weight: number) => `k${pad5(i)}:\n  enabled: true\n  weight: ${weight}\n`;

/**
 * A directory of 10,000 small YAML fragments: a reload pass (createReloader,
 * dirSource, no schema, no hooks) after one fragment is edited, against the
 * bare work a hand-written loader does for it (readdir, readFile + parse of
 * every fragment, merge).
 */
async function largeDirectory(bench: BenchContext): Promise<BenchRow[]> {
  const conf = join(bench.tmp('sources-large'), 'conf.d');
  mkdirSync(conf);
  for (let i = 0; i < LARGE_FRAGMENTS; i += 1) writeFileSync(join(conf, `${pad5(i)}.yaml`), fragmentText(i, i));
  // Files changed less than 3 s ago are read again on every load (their ctime may hide a change).
  await new Promise((res) => setTimeout(res, 3100));
  const bareSamples: number[] = [];
  for (let r = 0; r < (bench.quick ? 2 : 5); r += 1) {
    const t0 = performance.now();
    const merged: Record<string, unknown> = {};
    for (const name of (await readdir(conf)).sort()) Object.assign(merged, parseYaml(await readFile(join(conf, name), 'utf8')) as object);
    bareSamples.push(performance.now() - t0);
  }
  const reloader = createReloader({ source: dirSource(conf) });
  const t0 = performance.now();
  await reloader.start();
  const startMs = performance.now() - t0;
  const edits = bench.quick ? 5 : 20;
  const passes: number[] = [];
  const cpu: number[] = [];
  for (let e = 0; e < edits; e += 1) {
    const i = (e * 997) % LARGE_FRAGMENTS;
    writeFileSync(join(conf, `${pad5(i)}.yaml`), fragmentText(i, -1 - e));
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    const r = await reloader.reload();
    passes.push(performance.now() - t1);
    const used = process.cpuUsage(c1);
    cpu.push((used.user + used.system) / 1000);
    if (r.status !== 'full_success' || r.changed.join() !== `k${pad5(i)}.weight`) throw new Error(`unexpected result ${r.status} ${r.changed.join()}`);
  }
  await reloader.close();
  const bare = median(bareSamples);
  const pass = median(passes);
  bench.log(`large directory: start ${round(startMs)} ms, passes ${passes.map((p) => round(p)).join(' ')}, CPU ${cpu.map((c) => round(c)).join(' ')}`);
  return [
    {
      metric: `reload pass after one fragment edited, ${LARGE_FRAGMENTS} YAML fragments, median`,
      value: round(pass),
      unit: 'ms',
      baseline: round(bare),
      baselineName: 'readdir + readFile + parse + merge of every fragment',
      ratio: round(pass / bare, 2),
      goal: '<= 100 ms',
      pass: pass <= 100,
    },
    {
      metric: "… the same passes' CPU time (all threads), median: what the machine's load inflates least",
      value: round(median(cpu)),
      unit: 'ms',
    },
    {
      metric: `reloader start (first load), ${LARGE_FRAGMENTS} YAML fragments`,
      value: round(startMs),
      unit: 'ms',
      baseline: round(bare),
      ratio: round(startMs / bare, 2),
    },
  ];
}

const configSchema = z.object({
  service: z.object({ name: z.string(), port: z.number().int() }),
  upstreams: z.array(z.object({ name: z.string(), url: z.string(), weight: z.number(), tags: z.array(z.string()) })),
  limits: z.record(z.string(), z.number()),
});

/** The same source without its position lookup: what a pass costs when errors carry no line. */
function withoutPositions(source: ConfigSource): ConfigSource {
  return {
    description: source.description,
    async load(c) {
      const { value, files } = await source.load(c);
      return { value, files };
    },
  };
}

/**
 * Schema errors with their line: a pass whose config the schema accepts,
 * and one it refuses (one wrong value in the ~10 KB YAML), with the source's
 * position lookup and without it. Positions are computed only for a refusal.
 */
async function schemaErrorPositions(path: string, iterations: number): Promise<BenchRow[]> {
  const text = readFileSync(path, 'utf8');
  const src = fileSource(path);
  const located = createReloader({ source: src, schema: configSchema });
  const bare = createReloader({ source: withoutPositions(src), schema: configSchema });
  await located.start();
  await bare.start();
  const passMedian = (r: typeof located) => timeIt(iterations, () => r.reload());
  const accepted = await passMedian(located);
  const acceptedBare = await passMedian(bare);
  writeFileSync(path, text.replace('port: 8080', 'port: "8080"'));
  const refused = await passMedian(located);
  const refusedBare = await passMedian(bare);
  const sample = (await located.reload()).load_error ?? '';
  if (!/c\.yaml:\d+:\d+: service\.port: /.test(sample)) throw new Error(`no position in: ${sample}`);
  await located.close();
  await bare.close();
  writeFileSync(path, text);
  return [
    {
      metric: 'pass accepted by the schema (10 KB YAML, zod), source with positions, median',
      value: round(accepted),
      unit: 'ms',
      baseline: round(acceptedBare),
      baselineName: 'the same source without them',
      ratio: round(accepted / acceptedBare, 2),
    },
    {
      metric: 'pass refused by the schema (one wrong value), error with its file:line:col, median',
      value: round(refused),
      unit: 'ms',
      baseline: round(refusedBare),
      baselineName: 'the same error without a position',
      ratio: round(refused / refusedBare, 2),
    },
  ];
}

export const sourcesSuite: BenchSuite = {
  name: 'sources',
  description:
    'fileSource load of a ~10 KB config per format, a 20-fragment dirSource, and a pass after one edit in a 10,000-fragment dirSource, against readFile + parse',
  async run(bench) {
    const dir = bench.tmp();
    const iterations = bench.quick ? 100 : 1000;
    const value = config();
    const files = {
      yaml: [join(dir, 'c.yaml'), stringifyYaml(value), (t: string) => parseYaml(t)],
      json: [join(dir, 'c.json'), JSON.stringify(value, null, 2), (t: string) => JSON.parse(t) as unknown],
      toml: [join(dir, 'c.toml'), stringifyToml(value), (t: string) => parseToml(t)],
    } as const;
    const rows: BenchRow[] = [];
    for (const [path, text] of Object.values(files)) writeFileSync(path, text);
    // Within 3 s of a write (ctime in the coarse-clock window) every read is confirmed by a second one.
    const [jsonPath] = files.json;
    const jsonSource = fileSource(jsonPath);
    const fresh = await timeIt(iterations, () => jsonSource.load(ctx));
    await new Promise((res) => setTimeout(res, 3100));
    for (const [format, [path, , parse]] of Object.entries(files)) {
      const size = readFileSync(path).length;
      const baseline = await timeIt(iterations, async () => parse(await readFile(path, 'utf8')));
      const src = fileSource(path);
      const ours = await timeIt(iterations, () => src.load(ctx));
      rows.push({
        metric: `fileSource load median, ${format} (${size} bytes)`,
        value: round(ours),
        unit: 'ms',
        baseline: round(baseline),
        baselineName: 'readFile + parse',
        ratio: round(ours / baseline, 2),
      });
      if (format === 'json') {
        rows.push({
          metric: 'fileSource load median, json, file written < 3 s ago (read twice)',
          value: round(fresh),
          unit: 'ms',
          baseline: round(ours),
          baselineName: 'same file, settled',
          ratio: round(fresh / ours, 2),
        });
      }
    }

    // 20 fragments of ~500 bytes each, merged.
    const conf = join(dir, 'conf.d');
    mkdirSync(conf);
    const fragments = Array.from({ length: 20 }, (_, i) => {
      const text = stringifyYaml({ [`section_${i}`]: { enabled: true, items: Array.from({ length: 20 }, (_, k) => `item-${i}-${k}`) } });
      const path = join(conf, `${String(i).padStart(2, '0')}-part.yaml`);
      writeFileSync(path, text);
      return path;
    });
    const baseline = await timeIt(iterations, async () => {
      const merged: Record<string, unknown> = {};
      for (const p of fragments) Object.assign(merged, parseYaml(await readFile(p, 'utf8')) as object);
      return merged;
    });
    const src = dirSource(conf);
    const ours = await timeIt(iterations, () => src.load(ctx));
    rows.push({
      metric: 'dirSource load median, 20 YAML fragments',
      value: round(ours),
      unit: 'ms',
      baseline: round(baseline),
      baselineName: 'readFile + parse + shallow merge',
      ratio: round(ours / baseline, 2),
    });
    rows.push(...(await schemaErrorPositions(files.yaml[0], bench.quick ? 100 : 500)));
    rows.push(...(await largeDirectory(bench)));
    return {
      rows,
      notes: [
        'fileSource adds: two fstats and a path stat per read (consistency), a second read while the file is younger than 3 s, SHA-256, strict UTF-8 check, the JSON syntax check (duplicate keys, positions), normalisation',
      ],
    };
  },
};
