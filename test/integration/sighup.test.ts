// SIGHUP as a trigger, with real signals sent to a real child process
// running createReloader (test/integration/fixtures/sighup-child.ts).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

async function startChild(t: TestContext, config: string, opts: { watch?: boolean; hold?: boolean } = {}): Promise<Child> {
  const proc = spawn(process.execPath, ['--import', 'tsx', fixture, config, JSON.stringify(opts)], {
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
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  t.after(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  const child: Child = {
    proc,
    lines,
    exited,
    send: (cmd) => void proc.stdin!.write(`${cmd}\n`),
    async next(pred, what, from = 0) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const hit = lines.slice(from).find(pred);
        if (hit) return hit;
        if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited before ${what}: ${JSON.stringify(lines)}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(lines)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    passes: () => lines.filter((l) => l.event === 'log' && l.msg === 'reload pass'),
  };
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
  // Nothing else follows (the watcher's content is already applied).
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(child.passes().length, 2);
});
