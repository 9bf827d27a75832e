// Engine benchmarks: pass cost, enqueue cost under a burst, heap
// growth over many passes. Baselines are the bare work a hand-written reload
// would do (read + parse + validate + call 20 functions), measured in the same run.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { fileSource } from '../../src/sources/index.js';
import { Unit } from '../../src/engine/unit.js';
import type { NextPrevHook } from '../../src/shared/types.js';
import { gc, median, percentile, round, type BenchSuite } from '../harness.js';

const schema = z.object({
  service: z.object({ name: z.string(), port: z.number().int() }),
  upstreams: z.array(z.object({ name: z.string(), url: z.string(), weight: z.number(), tags: z.array(z.string()) })),
  limits: z.record(z.string(), z.number()),
});

/** A config whose YAML is about 10 KB. */
function tenKbConfig(): unknown {
  const upstreams = Array.from({ length: 90 }, (_, i) => ({
    name: `upstream-${i}`,
    url: `http://10.0.${Math.floor(i / 250)}.${i % 250}:8080/api`,
    weight: (i % 7) + 1,
    tags: ['blue', `zone-${i % 3}`],
  }));
  const limits = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`route_${i}`, i * 10]));
  return { service: { name: 'bench', port: 8080 }, upstreams, limits };
}

const noopHooks = (n: number): NextPrevHook<unknown>[] => Array.from({ length: n }, (_, i) => ({ name: `h${i}`, args: 'next-prev', apply: () => undefined }));

export const engineSuite: BenchSuite = {
  name: 'engine',
  description: 'pass cost (10 KB YAML, zod, 20 hooks), 10,000-request burst, heap over 10,000 passes',
  async run(ctx) {
    const dir = ctx.tmp();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringifyYaml(tenKbConfig()));
    const size = readFileSync(file).length;
    const iterations = ctx.quick ? 300 : 2000;

    // Baseline: the bare work, no engine.
    const hooks = noopHooks(20);
    const bare: number[] = [];
    for (let i = 0; i < iterations; i += 1) {
      const t0 = performance.now();
      const parsed = schema.parse(parseYaml(readFileSync(file, 'utf8')));
      for (const h of hooks) void (h.apply ?? h.afterCommit)?.(parsed, parsed, {} as never);
      bare.push(performance.now() - t0);
    }

    const unit = new Unit<unknown>({ name: 'bench', source: fileSource(file), schema, hooks });
    await unit.start();
    // Same bytes every pass (SIGHUP or `reload` with nothing edited).
    const passes: number[] = [];
    for (let i = 0; i < iterations; i += 1) {
      const t0 = performance.now();
      const r = await unit.reload('api');
      passes.push(performance.now() - t0);
      if (r.status !== 'full_success') throw new Error(`unexpected status ${r.status}`);
    }
    // New content every pass (an edit per reload): the parser's cost is in every figure.
    const base = tenKbConfig() as { service: { port: number } };
    const edited: number[] = [];
    // The heap figure below reuses parses (same bytes); this one parses and commits new content every pass.
    gc();
    gc();
    const editedHeapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < iterations; i += 1) {
      base.service.port = 10_000 + i;
      writeFileSync(file, stringifyYaml(base));
      const t0 = performance.now();
      const r = await unit.reload('api');
      edited.push(performance.now() - t0);
      if (r.status !== 'full_success' || r.changed[0] !== 'service.port') throw new Error(`unexpected result ${r.status}`);
    }
    gc();
    gc();
    const editedGrowthMb = (process.memoryUsage().heapUsed - editedHeapBefore) / 2 ** 20;
    const editedMedian = median(edited);
    const parseOnly: number[] = [];
    const text = readFileSync(file, 'utf8');
    for (let i = 0; i < iterations; i += 1) {
      const t0 = performance.now();
      parseYaml(text);
      parseOnly.push(performance.now() - t0);
    }
    const passMedian = median(passes);
    const bareMedian = median(bare);

    // Burst: one pass held open, 10,000 requests join the pending pass.
    let release!: () => void;
    let applies = 0;
    const gate = new Promise<void>((res) => (release = res));
    const burstUnit = new Unit<unknown>({
      name: 'burst',
      source: fileSource(file),
      schema,
      hooks: [{ name: 'gate', apply: async () => void (++applies === 1 ? await gate : undefined) }],
    });
    await burstUnit.start();
    const first = burstUnit.reload('api');
    await new Promise((res) => setImmediate(res));
    const n = 10_000;
    const t0 = performance.now();
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < n; i += 1) burst.push(burstUnit.reload('api'));
    const enqueueUs = ((performance.now() - t0) * 1000) / n;
    const tb = performance.now();
    const plain: Promise<unknown>[] = [];
    for (let i = 0; i < n; i += 1) plain.push(new Promise((res) => setImmediate(res)));
    const plainUs = ((performance.now() - tb) * 1000) / n;
    await Promise.all(plain);
    release();
    const results = await Promise.all([first, ...burst]);
    const passesRun = applies;
    if (results.length !== n + 1) throw new Error('not every request resolved');

    // Heap growth over many passes (needs --expose-gc for a meaningful figure).
    const heapPasses = ctx.quick ? 1000 : 10_000;
    const heapUnit = new Unit<unknown>({ name: 'heap', source: fileSource(file), schema, hooks: noopHooks(20) });
    await heapUnit.start();
    for (let i = 0; i < 200; i += 1) await heapUnit.reload('api');
    gc();
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < heapPasses; i += 1) await heapUnit.reload('api');
    gc();
    gc();
    const growthMb = (process.memoryUsage().heapUsed - before) / 2 ** 20;
    const hasGc = typeof (globalThis as { gc?: unknown }).gc === 'function';

    await Promise.all([unit.close(), burstUnit.close(), heapUnit.close()]);
    return {
      rows: [
        {
          metric: `pass median, same bytes (${(size / 1024).toFixed(1)} KB YAML, zod, 20 no-op hooks, ${iterations} passes)`,
          value: round(passMedian),
          unit: 'ms',
          baseline: round(bareMedian),
          baselineName: 'readFile+yaml.parse+zod+20 calls',
          ratio: round(passMedian / bareMedian, 2),
          goal: '<= 2 ms',
          pass: passMedian <= 2,
        },
        { metric: 'pass p99 (same bytes)', value: round(percentile(passes, 99)), unit: 'ms' },
        {
          metric: 'pass median, file edited before every pass',
          value: round(editedMedian),
          unit: 'ms',
          baseline: round(bareMedian),
          baselineName: 'readFile+yaml.parse+zod+20 calls',
          ratio: round(editedMedian / bareMedian, 2),
        },
        { metric: 'of which yaml.parse alone (median)', value: round(median(parseOnly)), unit: 'ms' },
        {
          metric: `burst: passes run for 1 running + ${n} requests`,
          value: passesRun,
          unit: 'passes',
          goal: '== 2 (exactly one more)',
          pass: passesRun === 2,
        },
        {
          metric: 'enqueue cost per request during a running pass',
          value: round(enqueueUs, 3),
          unit: 'µs',
          baseline: round(plainUs, 3),
          baselineName: 'new Promise + setImmediate',
          ratio: round(enqueueUs / plainUs, 2),
        },
        {
          metric: `heap growth after GC over ${heapPasses} passes${hasGc ? '' : ' (no --expose-gc: indicative only)'}`,
          value: round(growthMb, 2),
          unit: 'MB',
          goal: '<= 5 MB',
          pass: growthMb <= 5,
        },
        {
          metric: `heap growth after GC over ${iterations} edited passes (new content parsed and committed each time)`,
          value: round(editedGrowthMb, 2),
          unit: 'MB',
          goal: '<= 5 MB',
          pass: editedGrowthMb <= 5,
        },
      ],
    };
  },
};
