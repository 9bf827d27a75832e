// reload({ ifChanged: true }) and the polling trigger (triggers.poll): a pass
// that ends `unchanged`, running no hook, when the source's content is the
// config in effect; a poll that looks at a source nothing can watch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createReloader, OptionsError, type ConfigSource, type Hook, type LoadedConfig, type ReloaderOptions } from '../../src/index.js';
import { waitFor } from '../integration/helpers.js';
import { MemorySource } from '../helpers/memory-source.js';

function countingHook(calls: unknown[]): Hook<unknown> {
  return { name: 'count', apply: (_ctx, _old, next) => void calls.push(next) };
}

describe('reload({ ifChanged: true })', () => {
  test('same content: unchanged, no hook, same generation; new content: a full pass; without it the hooks run again', async (t) => {
    const source = new MemorySource({ a: 1 });
    const calls: unknown[] = [];
    const r = createReloader({ source, hooks: [countingHook(calls)] });
    t.after(() => r.close());
    await r.start();

    const same = await r.reload({ ifChanged: true });
    assert.equal(same.status, 'unchanged');
    assert.equal(same.trigger, 'api');
    assert.deepEqual(same.outcomes, []);
    assert.equal(r.generation, 0);
    assert.equal(calls.length, 0);

    source.set({ a: 2 });
    const changed = await r.reload({ ifChanged: true, trigger: 'signal' });
    assert.equal(changed.status, 'full_success');
    assert.equal(changed.trigger, 'signal');
    assert.deepEqual(changed.changed, ['a']);
    assert.deepEqual(calls, [{ a: 2 }]);

    // The default re-applies an unchanged config.
    const explicit = await r.reload();
    assert.equal(explicit.status, 'full_success');
    assert.equal(calls.length, 2);
    // A `rescan` look ends unchanged by default; ifChanged: false makes it re-apply.
    assert.equal((await r.reload({ trigger: 'rescan' })).status, 'unchanged');
    assert.equal((await r.reload({ trigger: 'rescan', ifChanged: false })).status, 'full_success');
    assert.equal(calls.length, 3);
  });

  test('a source that fails is still load_failed', async (t) => {
    const source = new MemorySource({ a: 1 });
    const r = createReloader({ source });
    t.after(() => r.close());
    await r.start();
    source.fail('backend down');
    const result = await r.reload({ ifChanged: true });
    assert.equal(result.status, 'load_failed');
    assert.equal(result.load_error, 'backend down');
  });

  test('bad reload options are refused with an OptionsError naming them', async (t) => {
    const r = createReloader({ source: new MemorySource({ a: 1 }) });
    t.after(() => r.close());
    await r.start();
    const refused = async (options: unknown, message: RegExp) =>
      assert.rejects(r.reload(options as never), (err: unknown) => err instanceof OptionsError && err.code === 'ERR_OPTIONS' && message.test(err.message));
    await refused({ ifChanged: 'yes' }, /^reload\.ifChanged: expected a boolean, got "yes"/);
    await refused({ trigger: 'cron' }, /^reload\.trigger: expected 'start' or .* got "cron"/);
    await refused({ ifchanged: true }, /^reload: unknown option "ifchanged" \(known: trigger, ifChanged\)/);
    await refused(42, /^reload: expected an options object, got 42/);
    assert.equal(r.history().length, 0);
  });
});

/** A custom source nothing can watch: counts its loads and how many run at once. */
class SlowSource implements ConfigSource {
  readonly description = 'slow-service';
  value: unknown = { v: 1 };
  loads = 0;
  running = 0;
  maxRunning = 0;
  constructor(private readonly delayMs: number) {}
  async load(): Promise<LoadedConfig> {
    this.loads += 1;
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise((res) => setTimeout(res, this.delayMs));
      return { value: structuredClone(this.value), files: [] };
    } finally {
      this.running -= 1;
    }
  }
}

describe('triggers.poll', () => {
  test('a change in a custom source is applied by a `rescan` pass; unchanged looks call no hook', async (t) => {
    const source = new SlowSource(0);
    const calls: unknown[] = [];
    const r = createReloader({ source, hooks: [countingHook(calls)], triggers: { poll: 20 } });
    t.after(() => r.close());
    await r.start();
    await waitFor(() => source.loads >= 4, 'a few looks');
    assert.equal(calls.length, 0);
    assert.ok(r.history().every((h) => h.status === 'unchanged' && h.trigger === 'rescan'));
    source.value = { v: 2 };
    const applied = await waitFor(() => r.history().find((h) => h.status === 'full_success'), 'the change applied');
    assert.equal(applied.trigger, 'rescan');
    assert.deepEqual(applied.changed, ['v']);
    assert.deepEqual(calls, [{ v: 2 }]);
    assert.deepEqual(r.current(), { v: 2 });
  });

  test("a duration string ('1h') is accepted; looks never overlap, however slow the source", async (t) => {
    const hourly = createReloader({ source: new MemorySource({}), triggers: { poll: '1h' } });
    await hourly.start();
    await hourly.close();

    const source = new SlowSource(60);
    const r = createReloader({ source, triggers: { poll: 10 } });
    t.after(() => r.close());
    await r.start();
    await waitFor(() => source.loads >= 6, 'six looks');
    assert.equal(source.maxRunning, 1);
  });

  test('close() stops it: no look after close', async () => {
    const source = new SlowSource(0);
    const r = createReloader({ source, triggers: { poll: 10 } });
    await r.start();
    await waitFor(() => source.loads >= 3, 'three looks');
    await r.close();
    const after = source.loads;
    // Ten intervals: had the timer survived, it would have looked again.
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(source.loads, after);
  });

  test('the timer never keeps a process alive', async () => {
    const script = fileURLToPath(new URL('./fixtures/poll-unref.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code] = (await once(child, 'exit')) as [number | null];
    clearTimeout(timer);
    assert.equal(code, 0, 'the process exited by itself with the reloader still polling');
    assert.match(out, /started/);
  });

  test('bad values are refused with an OptionsError naming triggers.poll', () => {
    const source = new MemorySource({});
    for (const [poll, message] of [
      ['soon', /^triggers\.poll: expected milliseconds or a duration such as '30s' or '5m', got "soon"/],
      ['-1s', /got "-1s"/],
      [-5, /^triggers\.poll: expected from 10 ms to 2147483647 ms, got -5 ms/],
      [5, /got 5 ms/],
      [1.5, /got 1\.5$/],
      ['30 days', /got "30 days"/],
      [2 ** 31, /got 2147483648 ms/],
      [true, /got true/],
      [{ every: '30s' }, /got \[object Object\]/],
    ] as const) {
      assert.throws(
        () => createReloader({ source, triggers: { poll } } as unknown as ReloaderOptions<unknown>),
        (err: unknown) => err instanceof OptionsError && err.code === 'ERR_OPTIONS' && message.test(err.message),
        `poll: ${String(poll)}`,
      );
    }
    // Off: nothing polls.
    for (const poll of [0, '0', false] as const) createReloader({ source, triggers: { poll } });
  });
});
