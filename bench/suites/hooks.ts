// Built-in hooks: what a TLS rotation costs per pass against the
// bare node calls a hand-written rotation makes, and what dotted-path hooks
// (logLevelHook, onChange) cost against hand-written selector hooks.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { pino } from 'pino';
import { logLevelHook, onChange, tlsHook } from '../../src/hooks/index.js';
import type { HookContext, NextPrevHook } from '../../src/shared/types.js';
import { median, round, type BenchRow, type BenchSuite } from '../harness.js';

const ctx = { signal: new AbortController().signal, logger: pino({ level: 'silent' }), unit: 'bench', trigger: 'api' } as HookContext;

async function timeEach(iterations: number, fn: (i: number) => unknown): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < iterations; i += 1) {
    const t0 = performance.now();
    await fn(i);
    samples.push(performance.now() - t0);
  }
  return samples;
}

function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

export const hooksSuite: BenchSuite = {
  name: 'hooks',
  description: 'tlsHook check+apply vs readFile+createSecureContext+setSecureContext; path hooks vs selector hooks',
  async run(bench) {
    const rows: BenchRow[] = [];
    const notes: string[] = [];
    const iterations = bench.quick ? 200 : 1000;

    // ---- TLS rotation -------------------------------------------------------
    let haveOpenssl = true;
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
    } catch {
      haveOpenssl = false;
      notes.push('openssl missing: TLS rows not measured');
    }
    if (haveOpenssl) {
      const dir = bench.tmp();
      const pairs = [makeCert(dir, 'a'), makeCert(dir, 'b')];
      const server = tls.createServer({ cert: readFileSync(pairs[0]!.cert), key: readFileSync(pairs[0]!.key) });
      // Baseline: what a hand-written rotation does, without any verification of its own.
      const bare = await timeEach(iterations, (i) => {
        const p = pairs[i % 2]!;
        const options = { cert: readFileSync(p.cert), key: readFileSync(p.key) };
        tls.createSecureContext(options);
        server.setSecureContext(options);
      });
      const hook = tlsHook(server, { cert: 'tls.cert', key: 'tls.key' });
      const configs = pairs.map((p) => ({ tls: { cert: p.cert, key: p.key } }));
      const rotate = await timeEach(iterations, async (i) => {
        const next = configs[i % 2]!;
        const old = configs[(i + 1) % 2]!;
        await hook.check!(next, old, ctx);
        const status = await hook.apply!(next, old, ctx);
        if (status !== 'applied') throw new Error(`expected applied, got ${String(status)}`);
      });
      const same = configs[0]!;
      await hook.check!(same, same, ctx);
      await hook.apply!(same, same, ctx);
      const unchanged = await timeEach(iterations, async () => {
        await hook.check!(same, same, ctx);
        const status = await hook.apply!(same, same, ctx);
        if (status !== 'skipped') throw new Error(`expected skipped, got ${String(status)}`);
      });
      server.close();
      const b = median(bare);
      const r = median(rotate);
      rows.push(
        {
          metric: 'tlsHook check+apply, new pair (EC P-256), median',
          value: round(r),
          unit: 'ms',
          baseline: round(b),
          baselineName: 'readFile x2 + createSecureContext + setSecureContext',
          ratio: round(r / b, 2),
          goal: '<= 3x baseline (adds X509 parse, key parse, key match, expiry check)',
          pass: r / b <= 3,
        },
        {
          metric: 'tlsHook check+apply, same files (explicit reload), median',
          value: round(median(unchanged)),
          unit: 'ms',
          baseline: round(b),
          baselineName: 'readFile x2 + createSecureContext + setSecureContext',
          ratio: round(median(unchanged) / b, 2),
        },
      );
    }

    // ---- dotted paths vs selectors -----------------------------------------
    const logger = pino({ level: 'info' }, { write: () => {} });
    const configs = [0, 1].map((i) => ({ log: { level: 'info' }, upstream: { url: `http://u${i}` }, deep: { a: { b: { c: { d: i } } } } }));
    const viaPaths: NextPrevHook<unknown>[] = [
      logLevelHook(logger, 'log.level'),
      onChange('upstream.url', () => {}),
      onChange('deep.a.b.c.d', () => {}),
    ] as NextPrevHook<unknown>[];
    type C = (typeof configs)[number];
    const viaSelectors: NextPrevHook<C>[] = [
      logLevelHook(logger, (c: C) => c.log.level),
      onChange(
        (c: C) => c.upstream.url,
        () => {},
      ),
      onChange(
        (c: C) => c.deep.a.b.c.d,
        () => {},
      ),
    ];
    const passes = bench.quick ? 20_000 : 200_000;
    const runHooks = async (hooks: NextPrevHook<unknown>[]) => {
      const t0 = performance.now();
      for (let i = 0; i < passes; i += 1) {
        const old = configs[i % 2]!;
        const next = configs[(i + 1) % 2]!;
        for (const h of hooks) {
          await h.check?.(next, old, ctx);
          await h.apply?.(next, old, ctx);
          await h.afterCommit?.(next, old, ctx);
        }
      }
      return ((performance.now() - t0) * 1000) / passes;
    };
    await runHooks(viaPaths); // warm-up
    await runHooks(viaSelectors as NextPrevHook<unknown>[]);
    const paths = await runHooks(viaPaths);
    const selectors = await runHooks(viaSelectors as NextPrevHook<unknown>[]);
    rows.push({
      metric: '3 path hooks (log level + 2 onChange), check+apply per pass',
      value: round(paths, 2),
      unit: 'µs',
      baseline: round(selectors, 2),
      baselineName: 'the same hooks with selector functions',
      ratio: round(paths / selectors, 2),
      goal: '<= 2x selectors',
      pass: paths / selectors <= 2,
    });
    return { rows, notes };
  },
};
