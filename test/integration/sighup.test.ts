// SIGHUP as a trigger, with real signals sent to a real child process
// running createReloader (test/integration/fixtures/sighup-child.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '../helpers/wait.js';

const fixture = fileURLToPath(new URL('./fixtures/sighup-child.ts', import.meta.url));

interface Line {
  event: string;
  [k: string]: unknown;
}

interface Child {
  proc: ChildProcess;
  lines: Line[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(cmd: string): void;
  /** Resolves with the first line (from index `from`) matching `pred`. */
  next(pred: (l: Line) => boolean, what: string, from?: number): Promise<Line>;
  passes(): Line[];
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reloadkit-sighup-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A tsx child whose stdout is JSON lines (one event each); killed when the test ends. */
function spawnChild(t: TestContext, args: string[]): Child {
  const proc = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines: Line[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(text) as Line);
      } catch {
        lines.push({ event: 'stdout', text });
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const child: Child = {
    proc,
    lines,
    exited,
    send: (cmd) => void proc.stdin!.write(`${cmd}\n`),
    next: (pred, what, from = 0) =>
      waitFor(
        () => {
          const hit = lines.slice(from).find(pred);
          if (!hit && (proc.exitCode !== null || proc.signalCode !== null)) throw new Error(`child exited before ${what}: ${JSON.stringify(lines)}`);
          return hit;
        },
        () => `${what}: ${JSON.stringify(lines)}`,
      ),
    passes: () => lines.filter((l) => l.event === 'log' && l.msg === 'reload pass'),
  };
  return child;
}

async function startChild(t: TestContext, config: string, opts: { watch?: boolean; hold?: boolean } = {}): Promise<Child> {
  const child = spawnChild(t, [fixture, config, JSON.stringify(opts)]);
  await child.next((l) => l.event === 'ready', 'the child to start');
  return child;
}

test('SIGHUP: a pass (trigger signal) that applies the file as it is now', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'app.json');
  await writeFile(config, '{"v": 1}');
  const child = await startChild(t, config);
  await writeFile(config, '{"v": 2}');
  child.proc.kill('SIGHUP');
  const pass = await child.next((l) => l.event === 'log' && l.msg === 'reload pass', 'a pass after SIGHUP');
  assert.equal(pass.trigger, 'signal');
  assert.equal(pass.status, 'full_success');
  assert.equal(pass.generation, 1);
  assert.ok(child.lines.some((l) => l.event === 'apply' && l.v === 2));
  // A second SIGHUP with nothing changed still runs (an explicit reload always runs).
  child.proc.kill('SIGHUP');
  await child.next((l) => l.event === 'log' && l.msg === 'reload pass' && l.generation === 2, 'a second pass');
  child.send('close');
  await child.next((l) => l.event === 'closed', 'close');
  child.proc.stdin!.end();
  assert.deepEqual(await child.exited, { code: 0, signal: null });
});

test('the SIGHUP listener is removed on close: SIGHUP then has its default action again', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'app.json');
  await writeFile(config, '{"v": 1}');
  const child = await startChild(t, config);
  const ready = child.lines.find((l) => l.event === 'ready')!;
  assert.equal(ready.listeners, 1, 'the reloader listens while it runs');
  child.send('close');
  const closed = await child.next((l) => l.event === 'closed', 'close');
  assert.equal(closed.listeners, 0);
  child.proc.kill('SIGHUP');
  assert.deepEqual(await child.exited, { code: null, signal: 'SIGHUP' });
  assert.equal(child.passes().length, 0);
});

test('SIGHUP + file change + API call together: one pass answers them all and sees the newest content', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'app.json');
  await writeFile(config, '{"v": 1}');
  const child = await startChild(t, config, { watch: true, hold: true });
  // Hold a pass in its apply, so the three requests arrive while it runs.
  child.send('reload');
  await child.next((l) => l.event === 'holding', 'the first pass to hold');
  const mark = child.lines.length;
  await writeFile(config, '{"v": 2}');
  await child.next((l) => l.event === 'log' && l.msg === 'watched files changed', 'the watcher request', mark);
  child.proc.kill('SIGHUP');
  await child.next((l) => l.event === 'sighup', 'the signal request', mark);
  child.send('reload');
  await child.next((l) => l.event === 'api-requested', 'the API request', mark);
  child.send('release');
  const apiResults = () => child.lines.filter((l) => l.event === 'api-result');
  await child.next(() => apiResults().length === 2, 'both API calls to be answered');
  assert.equal(apiResults()[1]!.coalesced, 2, 'the API call was answered by the joined pass');
  const passes = child.passes();
  assert.equal(passes.length, 2, JSON.stringify(passes));
  assert.equal(passes[1]!.coalesced, 2, 'watch, signal and API joined one pass');
  assert.equal(passes[1]!.status, 'full_success');
  const applies = child.lines.filter((l) => l.event === 'apply').map((l) => l.v);
  assert.deepEqual(applies, [1, 2], 'the second pass saw the newest file');
  // Nothing else follows (the watcher's content is already applied): one more API call is
  // the next pass, of its own. A stray request queued before it would be a pass of its own too.
  child.send('reload');
  await child.next(() => apiResults().length === 3, 'the third API call to be answered');
  assert.deepEqual(
    child.passes().map((p) => p.trigger),
    ['api', 'watch', 'api'],
  );
});

// ---- SIGHUP with a broken or missing file ----
// The child here also answers `state` with current(), generation and lastResult(), so
// the tests can see that a refused pass kept the config in effect. It is written to the
// test's temp dir and imports the sources by absolute URL.

const keepChildSource = (srcIndex: string, zodUrl: string) => `
import { createInterface } from 'node:readline';
import { createReloader, fileSource } from ${JSON.stringify(srcIndex)};
import { z } from ${JSON.stringify(zodUrl)};
const print = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + '\\n');
const line = (level) => (obj, msg) => print('log', { level, msg, ...obj });
const logger = { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
const r = createReloader({
  source: fileSource(process.argv[2]),
  schema: z.object({ v: z.number().int(), label: z.string() }),
  logger,
  hooks: [{ name: 'record', apply: (_ctx, _old, next) => void print('apply', { v: next.v }) }],
  triggers: { signal: true },
});
await r.start();
print('ready', { config: r.current(), generation: r.generation });
for await (const cmd of createInterface({ input: process.stdin })) {
  if (cmd === 'state') print('state', { config: r.current(), generation: r.generation, last: r.lastResult() });
  else if (cmd === 'close') { await r.close(); print('closed'); }
}
`;

async function startKeepChild(t: TestContext, dir: string, config: string) {
  const script = join(dir, 'keep-child.mts');
  const srcIndex = new URL('../../src/index.ts', import.meta.url).href;
  await writeFile(script, keepChildSource(srcIndex, import.meta.resolve('zod')));
  const { proc, lines, exited, next } = spawnChild(t, [script, config]);
  const isPass = (l: Line) => l.event === 'log' && l.msg === 'reload pass';
  const child = {
    proc,
    lines,
    exited,
    next,
    passes: () => lines.filter(isPass),
    /** Sends SIGHUP and resolves with the pass it caused (the next pass line after it). */
    async hup(what: string): Promise<Line> {
      const mark = lines.length;
      proc.kill('SIGHUP');
      return next(isPass, `a pass after SIGHUP (${what})`, mark);
    },
    /** current(), generation and lastResult() as the child sees them now. */
    async state(): Promise<Line> {
      const mark = lines.length;
      proc.stdin!.write('state\n');
      return next((l) => l.event === 'state', 'the state reply', mark);
    },
    async close(): Promise<void> {
      proc.stdin!.write('close\n');
      await next((l) => l.event === 'closed', 'close');
      proc.stdin!.end();
      assert.deepEqual(await exited, { code: 0, signal: null });
    },
  };
  const ready = await next((l) => l.event === 'ready', 'the child to start');
  assert.deepEqual(ready.config, { v: 1, label: 'one' });
  assert.equal(ready.generation, 0);
  return child;
}

type KeepChild = Awaited<ReturnType<typeof startKeepChild>>;

/** A refused SIGHUP pass: load_failed, nothing applied, and the child still runs on the old config. */
async function assertRefused(child: KeepChild, pass: Line, errorPattern: RegExp, config: unknown): Promise<void> {
  assert.equal(pass.trigger, 'signal');
  assert.equal(pass.status, 'load_failed', JSON.stringify(pass));
  assert.equal(pass.generation, 0);
  assert.match(String(pass.error), errorPattern);
  assert.equal(pass.level, 'warn', 'a failed pass is logged as a warning');
  const state = await child.state();
  assert.deepEqual(state.config, config, 'current() is the config in effect before the SIGHUP');
  assert.equal(state.generation, 0);
  const last = state.last as { status: string; load_error?: string; generation: number };
  assert.equal(last.status, 'load_failed');
  assert.equal(last.generation, 0);
  assert.match(last.load_error ?? '', errorPattern);
  assert.equal(child.lines.filter((l) => l.event === 'apply').length, 0, 'no hook ran for a refused config');
}

test('SIGHUP with an invalid file (malformed JSON, then a schema error): load_failed naming the file, old config kept; the fix commits', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'app.json');
  await writeFile(config, '{"v": 1, "label": "one"}');
  const child = await startKeepChild(t, dir, config);
  const esc = config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  await writeFile(config, '{"v": 2, "label": "two",\n');
  // Malformed: the message names the file and where (file:line:col).
  await assertRefused(child, await child.hup('malformed JSON'), new RegExp(`${esc}:\\d+:\\d+`), { v: 1, label: 'one' });

  await writeFile(config, '{"v": "two", "label": "two"}');
  // Parses, but the schema refuses it: the message names the file and the field.
  await assertRefused(child, await child.hup('schema error'), new RegExp(`^${esc}: schema validation failed: .*\\bv: `), { v: 1, label: 'one' });

  await writeFile(config, '{"v": 3, "label": "three"}');
  const fixed = await child.hup('fixed file');
  assert.equal(fixed.status, 'full_success', JSON.stringify(fixed));
  assert.equal(fixed.trigger, 'signal');
  assert.equal(fixed.generation, 1, 'the refused passes did not count as generations');
  assert.deepEqual([...(fixed.changed as string[])].sort(), ['label', 'v'], 'changed is against the config kept in effect');
  const state = await child.state();
  assert.deepEqual(state.config, { v: 3, label: 'three' });
  assert.equal(state.generation, 1);
  assert.deepEqual(
    child.lines.filter((l) => l.event === 'apply').map((l) => l.v),
    [3],
  );
  assert.equal(child.passes().length, 3);
  await child.close();
});

test('SIGHUP with the file missing: load_failed "file not found" naming the path, old config kept; the file back commits', async (t) => {
  const dir = await tempDir(t);
  const config = join(dir, 'app.json');
  await writeFile(config, '{"v": 1, "label": "one"}');
  const child = await startKeepChild(t, dir, config);
  const esc = config.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  await unlink(config);
  await assertRefused(child, await child.hup('missing file'), new RegExp(`^${esc}: file not found$`), { v: 1, label: 'one' });
  // Still missing: a second SIGHUP is refused the same way and the process still runs.
  await assertRefused(child, await child.hup('still missing'), new RegExp(`^${esc}: file not found$`), { v: 1, label: 'one' });

  await writeFile(config, '{"v": 4, "label": "four"}');
  const back = await child.hup('file back');
  assert.equal(back.status, 'full_success', JSON.stringify(back));
  assert.equal(back.generation, 1);
  const state = await child.state();
  assert.deepEqual(state.config, { v: 4, label: 'four' });
  assert.equal(state.generation, 1);
  assert.equal((state.last as { status: string }).status, 'full_success');
  await child.close();
});
