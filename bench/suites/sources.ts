// Source benchmarks: what fileSource/dirSource add on top of the bare
// "read the file and parse it" a hand-written loader does (the baseline,
// measured in the same run on the same files).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { dirSource, fileSource } from '../../src/sources/index.js';
import { median, round, type BenchRow, type BenchSuite } from '../harness.js';

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

export const sourcesSuite: BenchSuite = {
  name: 'sources',
  description: 'fileSource load of a ~10 KB config per format, and a 20-fragment dirSource, against readFile + parse',
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
    return {
      rows,
      notes: [
        'fileSource adds: two fstats and a path stat per read (consistency), a second read while the file is younger than 3 s, SHA-256, strict UTF-8 check, the JSON syntax check (duplicate keys, positions), normalisation',
      ],
    };
  },
};
