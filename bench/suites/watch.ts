// Change detection: change-to-apply latency and passes per edit of
// reloadkit's watcher (createReloader + fileSource + triggers.watch, quiet
// period 100 ms), against baselines watching the same file during the same
// edit script in the same process:
// - naive: a plain fs.watch on the file, calling the hook on every event;
// - chokidar 4 and chokidar 5 (devDependencies: `chokidar` and the alias
//   `chokidar5`), each + the same 100 ms debounce and content hash (skipped
//   if not installed).
// Scripts: atomic saves (temp + rename over), in-place writes, and the
// Kubernetes ConfigMap atomic writer (`..data` swap). Each edit waits until
// every live subject applied it (or a deadline), then a gap, so each apply is
// attributed to its edit.
import { createHash } from 'node:crypto';
import { watch as fsWatch, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { createReloader, fileSource, type Logger } from '../../src/index.js';
import { createWatcher } from '../../src/triggers/watch.js';
import { atomicSave, ConfigMapVolume, inPlaceWrite, vimBackupcopyNo } from '../edits.js';
import { percentile, round, type BenchContext, type BenchRow, type BenchSeries, type BenchSuite } from '../harness.js';

const DEBOUNCE_MS = 100;
/** After every live subject applied an edit: time for late duplicates to show up before the next edit. */
const GAP_MS = 150;
const EDIT_DEADLINE_MS = 2000;

interface Apply {
  /** Sequence number read from the file, or -1 when the read saw a partial or missing file. */
  seq: number;
  at: number;
}

interface Subject {
  name: string;
  applies: Apply[];
  /** reloadkit only: passes (including `unchanged`), from its log. */
  passes?: number[];
  /** reloadkit only: when the watcher reported the change (its debug log line). */
  detected?: number[];
  close(): Promise<void> | void;
}

function configText(seq: number): string {
  const lines = [`seq: ${seq}`];
  for (let i = 0; i < 40; i++) lines.push(`key_${i}: "value ${seq}-${i} ${'x'.repeat(20)}"`);
  lines.push('end: true', '');
  return lines.join('\n');
}

/** What a hook reading the file now would apply. */
function readSeq(path: string): number {
  try {
    const text = readFileSync(path, 'utf8');
    const m = /^seq: (\d+)$/m.exec(text);
    return m && text.endsWith('end: true\n') ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

async function reloadkitSubject(file: string): Promise<Subject> {
  const applies: Apply[] = [];
  const passes: number[] = [];
  const detected: number[] = [];
  const onLine = (_obj: Record<string, unknown>, msg?: string) => {
    if (msg === 'reload pass') passes.push(performance.now());
    else if (msg === 'watched files changed') detected.push(performance.now());
  };
  const logger: Logger = { debug: onLine, info: onLine, warn: onLine, error: () => {} };
  const r = createReloader<{ seq: number }>({
    name: 'bench',
    source: fileSource(file),
    logger,
    historySize: 10,
    hooks: [{ name: 'apply', apply: (_ctx, _old, next) => void applies.push({ seq: next.seq, at: performance.now() }) }],
    triggers: { watch: { debounceMs: DEBOUNCE_MS } },
  });
  await r.start();
  return { name: 'reloadkit', applies, passes, detected, close: () => r.close() };
}

function naiveSubject(file: string): Subject {
  const applies: Apply[] = [];
  const w = fsWatch(file, () => applies.push({ seq: readSeq(file), at: performance.now() }));
  w.on('error', () => {});
  return { name: 'naive fs.watch', applies, close: () => w.close() };
}

interface ChokidarWatcher {
  on(event: 'all', fn: () => void): unknown;
  close(): Promise<void>;
}
type ChokidarModule = { watch(path: string, options: Record<string, unknown>): ChokidarWatcher };

interface Chokidar {
  mod: ChokidarModule;
  version: string;
  /** Subject name: `chokidar@<version>`. */
  name: string;
}

/** The installed chokidar majors: `chokidar` (4) and `chokidar5` (an npm alias of chokidar@5). */
async function loadChokidars(): Promise<Chokidar[]> {
  const out: Chokidar[] = [];
  for (const pkg of ['chokidar', 'chokidar5']) {
    // devDependencies, only for this comparison (a variable keeps tsc from needing their types)
    try {
      const mod = (await import(pkg)) as ChokidarModule;
      const version = (JSON.parse(readFileSync(join(process.cwd(), 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
      out.push({ mod, version, name: `chokidar@${version}` });
    } catch {
      // not installed: that comparison is left out (the notes say which ran)
    }
  }
  return out;
}

/** chokidar events, debounced like ours, then a content hash: applies only real changes. */
async function chokidarSubject(ch: Chokidar, file: string): Promise<Subject> {
  const { mod } = ch;
  const applies: Apply[] = [];
  const hashOf = () => {
    try {
      return createHash('sha256').update(readFileSync(file)).digest('hex');
    } catch {
      return 'missing';
    }
  };
  let last = hashOf();
  let timer: NodeJS.Timeout | null = null;
  const w = mod.watch(file, { ignoreInitial: true });
  await new Promise<void>((resolve) => (w as unknown as { once(e: string, f: () => void): void }).once('ready', resolve));
  w.on('all', () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      const h = hashOf();
      if (h === last) return;
      last = h;
      applies.push({ seq: readSeq(file), at: performance.now() });
    }, DEBOUNCE_MS);
  });
  return {
    name: ch.name,
    applies,
    close: async () => {
      if (timer) clearTimeout(timer);
      await w.close();
    },
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = performance.now() + ms;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(1);
  }
  return true;
}

interface SubjectStats {
  latencies: number[];
  /** reloadkit: change to the watcher's report (the rest of the latency is the pass: read, parse, hooks). */
  detection: number[];
  /** Applies (any content) per edit, attributed to the edit window they fell in. */
  appliesPerEdit: number[];
  passesPerEdit: number[];
  missed: number;
  partialReads: number;
}

type EditKind = 'atomic' | 'in-place';

/** Runs `edits` edits of one kind and attributes every subject's applies to edits. */
async function runScript(file: string, kind: EditKind, edits: number, firstSeq: number, subjects: Subject[]): Promise<Map<string, SubjectStats>> {
  const t0s: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < edits; i++) {
    const seq = firstSeq + i;
    const text = configText(seq);
    if (kind === 'atomic') atomicSave(file, text);
    else inPlaceWrite(file, text);
    t0s.push(performance.now());
    // Wait for every subject that still works (naive dies after the first rename).
    const waiting = subjects.filter((s) => s.name !== 'naive fs.watch');
    await until(() => waiting.every((s) => s.applies.some((a) => a.seq === seq)), EDIT_DEADLINE_MS);
    await sleep(GAP_MS);
    ends.push(performance.now());
  }
  const out = new Map<string, SubjectStats>();
  for (const s of subjects) {
    const st: SubjectStats = { latencies: [], detection: [], appliesPerEdit: [], passesPerEdit: [], missed: 0, partialReads: 0 };
    for (let i = 0; i < edits; i++) {
      const from = t0s[i]!;
      const to = ends[i]!;
      const inWindow = s.applies.filter((a) => a.at >= from && a.at < to);
      st.appliesPerEdit.push(inWindow.length);
      st.partialReads += inWindow.filter((a) => a.seq === -1).length;
      const hit = inWindow.find((a) => a.seq === firstSeq + i);
      if (hit) st.latencies.push(hit.at - from);
      else st.missed += 1;
      if (s.passes) st.passesPerEdit.push(s.passes.filter((p) => p >= from && p < to).length);
      const det = s.detected?.find((d) => d >= from && d < to);
      if (det !== undefined) st.detection.push(det - from);
    }
    out.set(s.name, st);
  }
  return out;
}

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

/** The ConfigMap sequence: how many of `updates` updates each subject applied. */
async function configMapScript(
  ctx: BenchContext,
  updates: number,
  subjectsFor: (file: string) => Promise<Subject[]>,
): Promise<Map<string, { noticed: number; latencies: number[] }>> {
  const volume = new ConfigMapVolume(ctx.tmp('configmap'), 'config.yaml', configText(0));
  const subjects = await subjectsFor(volume.file);
  const result = new Map(subjects.map((s) => [s.name, { noticed: 0, latencies: [] as number[] }]));
  for (let u = 1; u <= updates; u++) {
    volume.update(configText(u));
    const t0 = performance.now();
    const waiting = subjects.filter((s) => s.name !== 'naive fs.watch');
    await until(() => waiting.every((s) => s.applies.some((a) => a.seq === u)), EDIT_DEADLINE_MS);
    await sleep(GAP_MS);
    for (const s of subjects) {
      const hit = s.applies.find((a) => a.seq === u);
      if (hit) {
        result.get(s.name)!.noticed += 1;
        result.get(s.name)!.latencies.push(hit.at - t0);
      }
    }
  }
  for (const s of subjects) await s.close();
  return result;
}

/** reloadkit's watcher alone (the reloader needs a valid file to start; these scenarios begin without one). */
async function watcherSubject(file: string): Promise<Subject> {
  const applies: Apply[] = [];
  const w = await createWatcher([{ path: file }], {
    debounceMs: DEBOUNCE_MS,
    onChange: () => void applies.push({ seq: readSeq(file), at: performance.now() }),
  });
  return { name: 'reloadkit', applies, close: () => w.close() };
}

function naiveOrNull(file: string): Subject | null {
  try {
    return naiveSubject(file);
  } catch {
    return null; // fs.watch cannot watch a path that does not exist
  }
}

interface Scenario {
  name: string;
  /** Lays out the files before the subjects start; returns the watched file. */
  setup(dir: string): string;
  /** The edits; the subjects must end up applying `seq`. */
  steps: Array<{ seq: number; run(file: string): Promise<void> | void }>;
  /** Changes a correct watcher reports (a deletion is one). */
  changes: number;
}

const scenarios: Scenario[] = [
  {
    name: 'file missing at start (its directory exists), then created, then edited',
    setup: (dir) => join(dir, 'config.yaml'),
    steps: [
      { seq: 1, run: (f) => writeFileSync(f, configText(1)) },
      { seq: 2, run: (f) => writeFileSync(f, configText(2)) },
    ],
    changes: 2,
  },
  {
    name: 'file (and its directory) missing at start, then created, then edited',
    setup: (dir) => join(dir, 'later', 'config.yaml'),
    steps: [
      { seq: 1, run: (f) => (mkdirSync(join(f, '..'), { recursive: true }), writeFileSync(f, configText(1))) },
      { seq: 2, run: (f) => writeFileSync(f, configText(2)) },
    ],
    changes: 2,
  },
  {
    name: 'directory deleted and recreated, then edited',
    setup: (dir) => {
      mkdirSync(join(dir, 'conf'));
      writeFileSync(join(dir, 'conf', 'config.yaml'), configText(0));
      return join(dir, 'conf', 'config.yaml');
    },
    steps: [
      { seq: 1, run: async (f) => (rmSync(join(f, '..'), { recursive: true }), await sleep(300), mkdirSync(join(f, '..')), writeFileSync(f, configText(1))) },
      { seq: 2, run: (f) => writeFileSync(f, configText(2)) },
    ],
    changes: 3,
  },
  {
    // rm -rf conf && mkdir conf && write, well within the quiet period: the new directory
    // usually gets the old inode number (ext4), and the old watch died with the old directory.
    name: 'directory deleted and recreated at once (3 times), each time then edited',
    setup: (dir) => {
      mkdirSync(join(dir, 'conf'));
      writeFileSync(join(dir, 'conf', 'config.yaml'), configText(0));
      return join(dir, 'conf', 'config.yaml');
    },
    steps: [1, 3, 5].flatMap((seq) => [
      { seq, run: (f: string) => (rmSync(join(f, '..'), { recursive: true }), mkdirSync(join(f, '..')), writeFileSync(f, configText(seq))) },
      { seq: seq + 1, run: (f: string) => writeFileSync(f, configText(seq + 1)) },
    ]),
    changes: 6,
  },
  {
    name: 'vim backupcopy=no saves (rename to file~, new file)',
    setup: (dir) => (writeFileSync(join(dir, 'config.yaml'), configText(0)), join(dir, 'config.yaml')),
    steps: [1, 2].map((seq) => ({ seq, run: (f: string) => vimBackupcopyNo(f, configText(seq)) })),
    changes: 2,
  },
];

/**
 * Each scenario, `repeats` times from scratch (one run is a coin toss for a
 * watcher that races the file's creation): how many of its steps each
 * subject applied, and how many applies it made, summed over the runs. The
 * chokidar versions take turns being set up first: whether chokidar sees a
 * file created under a missing path depends on whether the creation lands
 * while its initial scan still runs, so a fixed order would favour one.
 */
async function survivalScripts(ctx: BenchContext, chokidars: Chokidar[], repeats: number): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const sc of scenarios) {
    const noticed = new Map<string, number>();
    const applies = new Map<string, number>();
    let naiveStarted = false;
    for (let run = 0; run < repeats; run++) {
      const file = sc.setup(ctx.tmp('survival'));
      const naive = naiveOrNull(file);
      naiveStarted ||= naive !== null;
      const subjects = [await watcherSubject(file), ...(naive ? [naive] : [])];
      for (let i = 0; i < chokidars.length; i++) subjects.push(await chokidarSubject(chokidars[(i + run) % chokidars.length]!, file));
      for (const step of sc.steps) {
        await step.run(file);
        const waiting = subjects.filter((s) => s.name !== 'naive fs.watch');
        await until(() => waiting.every((s) => s.applies.some((a) => a.seq === step.seq)), EDIT_DEADLINE_MS);
        await sleep(GAP_MS);
        for (const s of subjects) if (s.applies.some((a) => a.seq === step.seq)) noticed.set(s.name, (noticed.get(s.name) ?? 0) + 1);
      }
      for (const s of subjects) {
        await s.close();
        applies.set(s.name, (applies.get(s.name) ?? 0) + s.applies.length);
      }
    }
    const n = sc.steps.length * repeats;
    const count = (name: string) => noticed.get(name) ?? 0;
    rows.push({
      metric: `${sc.name}: steps applied (of ${n}, ${repeats} runs), applies`,
      value: count('reloadkit'),
      unit: `of ${n}; ${applies.get('reloadkit')} applies`,
      baseline: count('naive fs.watch'),
      baselineName: `naive fs.watch${naiveStarted ? '' : ' (cannot start)'}`,
      goal: `${n}, ${sc.changes * repeats} applies`,
      pass: count('reloadkit') === n && applies.get('reloadkit') === sc.changes * repeats,
    });
    for (const { name } of chokidars) {
      rows.push({
        metric: `${sc.name}: steps applied, ${name}`,
        value: count(name),
        unit: `of ${n}; ${applies.get(name)} applies`,
        baseline: count('reloadkit'),
        baselineName: 'reloadkit',
      });
    }
  }
  return rows;
}

export const watchSuite: BenchSuite = {
  name: 'watch',
  description: 'change detection: change-to-apply latency and passes per edit vs a naive fs.watch (and chokidar 4 and 5 when installed)',
  async run(ctx) {
    const edits = ctx.quick ? 20 : 200;
    const cmUpdates = ctx.quick ? 3 : 10;
    const loadBefore = loadavg()[0]!;
    const chokidars = await loadChokidars();
    const dir = ctx.tmp('edits');
    const file = join(dir, 'config.yaml');
    writeFileSync(file, configText(0));

    const makeSubjects = async (path: string): Promise<Subject[]> => {
      const list = [await reloadkitSubject(path), naiveSubject(path)];
      for (const ch of chokidars) list.push(await chokidarSubject(ch, path));
      return list;
    };

    const rows: BenchRow[] = [];
    const series: BenchSeries[] = [];
    const notes: string[] = [];
    const byKind = new Map<EditKind, Map<string, SubjectStats>>();
    let seq = 1;
    for (const kind of ['atomic', 'in-place'] as const) {
      // Fresh subjects per script: the naive watcher's death in one script does not carry over.
      const subjects = await makeSubjects(file);
      ctx.log(`${edits} ${kind} edits`);
      byKind.set(kind, await runScript(file, kind, edits, seq, subjects));
      seq += edits;
      for (const s of subjects) await s.close();
    }

    const goals: Record<EditKind, { p50: number; p99: number }> = { atomic: { p50: 20, p99: 50 }, 'in-place': { p50: 105, p99: 125 } };
    for (const [kind, stats] of byKind) {
      const ours = stats.get('reloadkit')!;
      const naive = stats.get('naive fs.watch')!;
      const p50 = percentile(ours.latencies, 50);
      const p99 = percentile(ours.latencies, 99);
      const nP50 = percentile(naive.latencies, 50);
      const nP99 = percentile(naive.latencies, 99);
      const g = goals[kind];
      rows.push(
        {
          metric: `${kind} saves: change-to-apply p50`,
          value: round(p50, 1),
          unit: 'ms',
          baseline: round(nP50, 1),
          baselineName: 'naive fs.watch',
          ratio: round(p50 / nP50, 2),
          goal: `<= ${g.p50} ms`,
          pass: p50 <= g.p50,
        },
        {
          metric: `${kind} saves: change-to-apply p99`,
          value: round(p99, 1),
          unit: 'ms',
          baseline: round(nP99, 1),
          baselineName: 'naive fs.watch',
          ratio: round(p99 / nP99, 2),
          goal: `<= ${g.p99} ms`,
          pass: p99 <= g.p99,
        },
        {
          metric: `${kind} saves: of which change detected (watcher) p50 / p99`,
          value: round(percentile(ours.detection, 50), 1),
          unit: `ms / ${round(percentile(ours.detection, 99), 1)} ms`,
        },
        {
          metric: `${kind} saves: passes per edit (edits with != 1: ${ours.passesPerEdit.filter((n) => n !== 1).length})`,
          value: round(mean(ours.passesPerEdit), 3),
          unit: 'passes',
          goal: 'exactly 1',
          pass: ours.passesPerEdit.every((n) => n === 1),
        },
        {
          metric: `${kind} saves: hook applies per edit`,
          value: round(mean(ours.appliesPerEdit), 3),
          unit: 'applies',
          baseline: round(mean(naive.appliesPerEdit), 3),
          baselineName: 'naive fs.watch',
          goal: 'exactly 1',
          pass: ours.appliesPerEdit.every((n) => n === 1),
        },
        {
          metric: `${kind} saves: edits missed (of ${edits})`,
          value: ours.missed,
          unit: 'edits',
          baseline: naive.missed,
          baselineName: 'naive fs.watch',
          goal: '0',
          pass: ours.missed === 0,
        },
        {
          metric: `${kind} saves: applies that saw a partial or missing file`,
          value: ours.partialReads,
          unit: 'applies',
          baseline: naive.partialReads,
          baselineName: 'naive fs.watch',
          goal: '0',
          pass: ours.partialReads === 0,
        },
      );
      series.push({ name: `reloadkit ${kind}`, unit: 'ms', samples: ours.latencies.map((x) => round(x, 2)) });
      series.push({ name: `naive fs.watch ${kind}`, unit: 'ms', samples: naive.latencies.map((x) => round(x, 2)) });
      for (const { name: subject } of chokidars) {
        const ch = stats.get(subject)!;
        const name = `${subject} + ${DEBOUNCE_MS} ms debounce + hash`;
        rows.push(
          {
            metric: `${kind} saves: change-to-apply p50, ${name}`,
            value: round(percentile(ch.latencies, 50), 1),
            unit: 'ms',
            baseline: round(p50, 1),
            baselineName: 'reloadkit',
          },
          {
            metric: `${kind} saves: change-to-apply p99, ${name}`,
            value: round(percentile(ch.latencies, 99), 1),
            unit: 'ms',
            baseline: round(p99, 1),
            baselineName: 'reloadkit',
          },
          {
            metric: `${kind} saves: applies per edit, ${name}`,
            value: round(mean(ch.appliesPerEdit), 3),
            unit: 'applies',
            baseline: round(mean(ours.appliesPerEdit), 3),
            baselineName: 'reloadkit',
          },
          { metric: `${kind} saves: edits missed, ${name}`, value: ch.missed, unit: 'edits', baseline: ours.missed, baselineName: 'reloadkit' },
        );
        series.push({ name: `${subject} ${kind}`, unit: 'ms', samples: ch.latencies.map((x) => round(x, 2)) });
      }
    }

    ctx.log(`${cmUpdates} ConfigMap updates`);
    const cm = await configMapScript(ctx, cmUpdates, makeSubjects);
    const cmOurs = cm.get('reloadkit')!;
    rows.push(
      {
        metric: `ConfigMap ..data swaps noticed (of ${cmUpdates})`,
        value: cmOurs.noticed,
        unit: 'updates',
        baseline: cm.get('naive fs.watch')!.noticed,
        baselineName: 'naive fs.watch',
        goal: `${cmUpdates}`,
        pass: cmOurs.noticed === cmUpdates,
      },
      { metric: 'ConfigMap ..data swap: change-to-apply p50', value: round(percentile(cmOurs.latencies, 50), 1), unit: 'ms' },
    );
    for (const { name } of chokidars) {
      const cmCh = cm.get(name)!;
      rows.push({
        metric: `ConfigMap ..data swaps noticed (of ${cmUpdates}), ${name}`,
        value: cmCh.noticed,
        unit: 'updates',
        baseline: cmOurs.noticed,
        baselineName: 'reloadkit',
      });
    }

    ctx.log('survival scenarios');
    const survivalRuns = ctx.quick ? 2 : 6; // even: each chokidar version is set up first equally often
    rows.push(...(await survivalScripts(ctx, chokidars, survivalRuns)));

    const loadAfter = loadavg()[0]!;
    notes.push(
      `quiet period ${DEBOUNCE_MS} ms, ${edits} edits per script, ${GAP_MS} ms gap after each edit was applied, each survival scenario run ${survivalRuns} times; 1-min load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`,
      chokidars.length > 0
        ? `${chokidars.map((c) => c.name).join(' and ')} measured on the same edits`
        : 'chokidar not installed (devDependencies chokidar and chokidar5): `npm ci` adds the comparison',
    );
    return { rows, series, notes };
  },
};
