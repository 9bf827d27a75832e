// The admin socket under load and under arbitrary input: 1,000 concurrent
// clients, and fast-check's random byte strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { sanitizeWord } from '../../src/admin/protocol.js';
import { gateHook, rawExchange, startApp } from './support.js';
import { waitFor } from '../helpers/wait.js';

async function socketRequests(registry: Registry): Promise<number> {
  const metric = await registry.getSingleMetric('reloadkit_reload_requests_total')!.get();
  return metric.values.filter((v) => v.labels.trigger === 'socket').reduce((a, v) => a + v.value, 0);
}

test('1,000 concurrent clients mixing status and reload: one JSON line each, at most 2 passes', { timeout: 120_000 }, async () => {
  const gate = gateHook();
  const registry = new Registry();
  const app = await startApp({ hooks: [gate], registry });
  try {
    gate.hold();
    // A slow pass in flight before the crowd arrives.
    const inFlight = rawExchange(app.socketPath, 'reload\n', { timeoutMs: 60_000 });
    await waitFor(() => gate.entered === 1, 'the first pass to block');
    app.write('port: 9999\n');
    const N = 1000;
    const kinds = Array.from({ length: N }, (_, i) => (i % 2 === 0 ? 'status' : 'reload'));
    const replies = kinds.map((k) => rawExchange(app.socketPath, `${k}\n`, { timeoutMs: 60_000 }));
    // Every reload request reached the queue while the first pass was still blocked.
    await waitFor(async () => (await socketRequests(registry)) === 1 + N / 2, 'all reload requests to be queued', 60_000);
    assert.equal(gate.entered, 1);
    gate.release();
    const texts = (await Promise.all(replies)).map((x) => x.text);
    let statuses = 0;
    const generations = new Set<number>();
    for (let i = 0; i < N; i++) {
      const text = texts[i]!;
      assert.equal(text.indexOf('\n'), text.length - 1, `reply ${i} is exactly one line`);
      const reply = JSON.parse(text) as { status: string; uptime_secs?: number; results?: { app: { generation: number; coalesced: number } } };
      assert.equal(reply.status, 'ok', text);
      if (kinds[i] === 'status') {
        statuses += 1;
        assert.equal(typeof reply.uptime_secs, 'number');
      } else {
        generations.add(reply.results!.app.generation);
        assert.equal(reply.results!.app.coalesced, N / 2 - 1);
      }
    }
    assert.equal(statuses, N / 2);
    assert.deepEqual([...generations], [2], 'every waiting reload was answered by the one pass that started after it');
    assert.equal(JSON.parse((await inFlight).text).results.app.generation, 1);
    assert.equal(gate.runs, 2, 'exactly two passes: the one in flight and one for everyone who waited');
    assert.deepEqual(app.r.current(), { port: 9999 });
  } finally {
    gate.release();
    await app.cleanup();
  }
});

test('random byte strings never crash the server and always get exactly one reply line', { timeout: 300_000 }, async () => {
  const app = await startApp();
  try {
    const interesting = fc.constantFrom('status', 'reload', 'reload app', 'RELOAD', 'RELOAD app', 'RELOAD x', 'reload x', '', ' ', '\r', '\n', '\0', '\u00ff');
    const payload = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.array(fc.oneof(interesting, fc.string({ maxLength: 20 })), { maxLength: 4 }).map((parts) => Buffer.from(parts.join(''), 'utf8')),
      fc.uint8Array({ minLength: 4090, maxLength: 4200 }),
    );
    await fc.assert(
      fc.asyncProperty(payload, fc.boolean(), async (bytes, newline) => {
        const data = newline ? Buffer.concat([Buffer.from(bytes), Buffer.from('\n')]) : Buffer.from(bytes);
        // Half-close so that input without a newline is answered at once (end of input ends the line).
        const { text } = await rawExchange(app.socketPath, data, { halfClose: true, timeoutMs: 30_000 });
        const nl = data.indexOf(0x0a);
        const line = nl === -1 ? data : data.subarray(0, nl);
        let decoded: string | null = null;
        try {
          decoded = new TextDecoder('utf-8', { fatal: true }).decode(line);
        } catch {
          // invalid UTF-8: must be answered invalid input below
        }
        if (line.length <= 4096 && decoded?.trim() === 'RELOAD') {
          assert.equal(text, 'OK\n');
          return;
        }
        const words = line.length <= 4096 ? (decoded?.trim().split(/\s+/) ?? []) : [];
        if (words.length === 2 && words[0] === 'RELOAD') {
          // RELOAD <unit>: the text protocol too; the unit is `app` or unknown.
          assert.equal(text, words[1] === 'app' ? 'OK\n' : `ERROR: unknown unit: ${sanitizeWord(words[1]!)}\n`);
          return;
        }
        assert.equal(text.indexOf('\n'), text.length - 1, `one line: ${JSON.stringify(text)}`);
        const reply = JSON.parse(text) as { status: string; message?: string };
        assert.ok(reply.status === 'ok' || reply.status === 'error');
        if (reply.message) assert.match(reply.message, /^(invalid input|unknown command: [\x20-\x7e]{1,32}|unknown unit: [\x20-\x7e]{0,32}|app: .+)$/);
      }),
      { numRuns: 300 },
    );
    assert.equal(JSON.parse((await rawExchange(app.socketPath, 'status\n')).text).status, 'ok');
  } finally {
    await app.cleanup();
  }
});
