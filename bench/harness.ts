// Benchmark harness types and helpers. Every suite measures reloadkit and, in
// the same run, a baseline, and reports figures with their ratio and goal.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CdfPlot } from './plot.js';

export interface BenchRow {
  /** What was measured, e.g. "pass median (10 KB YAML, zod, 20 hooks)". */
  metric: string;
  value: number;
  unit: string;
  /** The same figure for the in-run baseline, when there is one. */
  baseline?: number;
  baselineName?: string;
  /** value / baseline (or as the suite defines it). */
  ratio?: number;
  /** Human goal, e.g. "<= 2 ms". */
  goal?: string;
  /** Whether the goal was met (absent when there is no goal). */
  pass?: boolean;
}

export interface BenchSeries {
  /** Samples (e.g. change-to-apply latencies in ms) for CDF plots. */
  name: string;
  unit: string;
  samples: number[];
  /** Attempts the samples are out of (the rest never happened: missed edits). Default: samples.length. */
  total?: number;
}

export interface BenchReport {
  rows: BenchRow[];
  series?: BenchSeries[];
  notes?: string[];
  /** A CDF plot run.ts writes after a full run (never after --quick), `file` relative to the repository root. */
  plot?: { file: string; plot: CdfPlot };
}

export interface BenchContext {
  quick: boolean;
  /** A fresh temp directory, removed after the suite. */
  tmp(prefix?: string): string;
  log(msg: string): void;
}

export interface BenchSuite {
  name: string;
  description: string;
  run(ctx: BenchContext): Promise<BenchReport>;
}

/** Temp directories not yet removed: an interrupted run (Ctrl-C, see children.ts) removes them on exit. */
const liveDirs = new Set<string>();
process.on('exit', () => {
  for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
});

export function makeContext(quick: boolean, suite: string): BenchContext & { cleanup(): void } {
  const dirs: string[] = [];
  return {
    quick,
    tmp(prefix = suite) {
      const d = mkdtempSync(join(tmpdir(), `rk-bench-${prefix}-`));
      dirs.push(d);
      liveDirs.add(d);
      return d;
    },
    log(msg) {
      process.stderr.write(`  [${suite}] ${msg}\n`);
    },
    cleanup() {
      for (const d of dirs) {
        rmSync(d, { recursive: true, force: true });
        liveDirs.delete(d);
      }
    },
  };
}

export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

export const median = (samples: readonly number[]): number => percentile(samples, 50);

export function round(n: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Runs the GC when node was started with --expose-gc. */
export function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Polls `fn` every 2 ms until it returns something truthy; throws after `ms`. */
export async function until<T>(fn: () => T | null | undefined | false, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Wall time of one process from spawn to exit, in ms (it must exit 0). */
export function timeProcess(cmd: string, args: string[], cwd?: string): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { stdio: 'ignore', ...(cwd === undefined ? {} : { cwd }) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  return performance.now() - t0;
}
