// Fault: binary garbage and YAML bombs fed to a service using the library
// (a real process, reloaded over its admin socket). Each must be refused
// (`load_failed`, a clear message naming the file) within a generous 5 s,
// with the process's peak memory bounded, and the config in effect kept.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DaemonHandle } from '../integration/daemon-process.js';
import { cleanup, MiB, peakGrowth, reloadOver, startHost, tempDir, type Result } from './support.js';

after(cleanup);

/** Refused within this (the machine is shared: 10x slack on what takes ~0.5 s alone). */
const REFUSE_WITHIN_MS = 5000;
/**
 * Peak resident growth allowed while refusing one input. The yaml library's
 * document tree costs about 100 bytes per input byte (an 800 KB file: ~85 MB)
 * before anything can be refused; a blow-up is what these inputs did before:
 * 450 MB for 800 KB, 4 GB and a crash for the 16 MB nesting.
 */
const PEAK_BOUND_KB = 128 * MiB;

interface Case {
  name: string;
  content: () => string | Buffer;
  error: RegExp;
}

const GOOD = 'name: good\nversion: 1\n';

function laughs(): string {
  let text = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
  for (let i = 1; i < 10; i += 1)
    text += `a${i}: &a${i} [${Array(9)
      .fill(`*a${i - 1}`)
      .join(',')}]\n`;
  return text; // 9^10 = 3.5 billion strings if expanded
}

/** One mapping of `keys` entries, then 99 aliases (or merges) of it: under yaml's own alias limit of 100. */
function wide(keys: number, use: (i: number) => string): string {
  const lines = ['base: &b'];
  for (let i = 0; i < keys; i += 1) lines.push(`  k${i}: v${i}`);
  for (let i = 0; i < 99; i += 1) lines.push(use(i));
  return `${lines.join('\n')}\n`;
}

const yamlCases: Case[] = [
  { name: '1 MiB of random bytes', content: () => randomBytes(1 << 20), error: /not valid UTF-8 text \(binary file\?\)/ },
  {
    name: 'a PNG (header + random data)',
    content: () => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(64 * 1024)]),
    error: /:1:1: not valid UTF-8 text \(binary file\?\)/,
  },
  { name: 'NUL bytes in otherwise valid YAML', content: () => `${GOOD}extra: "a\0b"\n\0\0\0\n`, error: /:3:10: contains a NUL byte \(binary file\?\)/ },
  { name: 'billion laughs (10 levels of 9 aliases)', content: laughs, error: /YAML aliases expand too much/ },
  { name: '99 aliases of a 50 000-key mapping (800 KB)', content: () => wide(50_000, (i) => `c${i}: *b`), error: /YAML aliases expand too much/ },
  { name: '99 merges (<<) of a 50 000-key mapping', content: () => wide(50_000, (i) => `c${i}:\n  <<: *b`), error: /YAML aliases expand too much/ },
  { name: 'an alias inside its own anchor (a cycle)', content: () => 'a: &a [1, *a]\n', error: /YAML aliases expand too much/ },
  {
    name: '16 000 anchor/alias pairs (yaml resolves aliases in quadratic time)',
    content: () => Array.from({ length: 16_000 }, (_, i) => `a${i}: &x${i} v\nb${i}: *x${i}\n`).join(''),
    error: /more than 10000 YAML anchors and aliases; refused/,
  },
  {
    name: 'flow sequences nested 8 million deep (16 MB, just under the size limit)',
    content: () => `x: ${'['.repeat(8_000_000)}${']'.repeat(8_000_000)}\n`,
    error: /:1:1004: nested deeper than 1000 levels/,
  },
  {
    name: 'block mappings nested 3000 deep',
    content: () => Array.from({ length: 3000 }, (_, i) => `${' '.repeat(i)}k${i}:\n`).join('') + `${' '.repeat(3000)}v: 1\n`,
    error: /nested too deeply/,
  },
];

const jsonCases: Case[] = [
  { name: 'random bytes', content: () => randomBytes(256 * 1024), error: /not valid UTF-8 text/ },
  {
    name: 'arrays nested 8 million deep',
    content: () => `{"x": ${'['.repeat(8_000_000)}${']'.repeat(8_000_000)}}`,
    error: /:1:1006: nested deeper than 1000 levels/,
  },
];

/** What each case cost, for docs/RELIABILITY.md. */
const report: string[] = [];

function suite(ext: 'yaml' | 'json', good: string, cases: Case[]): void {
  describe(`garbage and bombs in a .${ext} config`, () => {
    let host: DaemonHandle;
    let file: string;
    let goodHash: string;

    before(async () => {
      const dir = tempDir(`rk-fault-garbage-${ext}-`);
      file = join(dir, `config.${ext}`);
      writeFileSync(file, good);
      host = await startHost({ file, socket: join(dir, 'app.sock') });
      // The hash of the config in effect: a refused pass reports it unchanged.
      const first = await reloadOver(host);
      assert.equal(first.reply.status, 'ok');
      goodHash = first.reply.results!.app!.config_hash;
    });

    for (const c of cases) {
      it(`${c.name}: load_failed, quickly, memory bounded, old config kept`, async () => {
        const content = c.content();
        writeFileSync(file, content);
        const { value, peakKb, before: mem } = await peakGrowth(host.proc.pid!, () => reloadOver(host));
        const { reply, ms } = value;
        assert.equal(reply.status, 'error');
        const r: Result = reply.results!.app!;
        assert.equal(r.status, 'load_failed', JSON.stringify(r));
        assert.match(r.load_error!, c.error);
        assert.ok(r.load_error!.startsWith(`${file}:`), `the message names the file: ${r.load_error}`);
        assert.match(r.load_error!, /^[\x20-\x7e]+$/, 'printable, no input echoed');
        assert.equal(r.generation, 1, 'generation unchanged');
        assert.equal(r.config_hash, goodHash, 'the config in effect is the old one');
        assert.ok(ms < REFUSE_WITHIN_MS, `refused in ${ms.toFixed(0)} ms`);
        assert.ok(peakKb < PEAK_BOUND_KB, `peak grew by ${(peakKb / MiB).toFixed(1)} MB`);
        report.push(
          `# ${ext}: ${c.name} (${(content.length / 1e6).toFixed(2)} MB): ${ms.toFixed(0)} ms, ` +
            `peak +${(peakKb / MiB).toFixed(1)} MB over ${(mem.rssKb / MiB).toFixed(0)} MB`,
        );
      });
    }

    it('afterwards a good config applies as usual (the service is fine)', async () => {
      writeFileSync(file, ext === 'yaml' ? 'name: good\nversion: 2\n' : '{"name": "good", "version": 2}');
      const { reply } = await reloadOver(host);
      assert.equal(reply.status, 'ok', JSON.stringify(reply));
      assert.equal(reply.results!.app!.generation, 2);
      assert.deepEqual(reply.results!.app!.changed, ['version']);
      assert.equal(await host.stop('SIGTERM'), 0);
    });
  });
}

suite('yaml', GOOD, yamlCases);
suite('json', '{"name": "good", "version": 1}', jsonCases);

describe('large but legitimate YAML is accepted (no false refusal, no quadratic parse)', () => {
  it('150 `<<: *defaults` merges (yaml alone refuses more than 99) and a 4 MB mapping of 200 000 keys', async () => {
    const dir = tempDir('rk-fault-yaml-ok-');
    const file = join(dir, 'config.yaml');
    writeFileSync(file, GOOD);
    const host = await startHost({ file, socket: join(dir, 'app.sock') });

    const defaults = Array.from({ length: 20 }, (_, i) => `  k${i}: v${i}`).join('\n');
    const services = Array.from({ length: 150 }, (_, i) => `s${i}:\n  <<: *d\n  name: n${i}`).join('\n');
    writeFileSync(file, `defaults: &d\n${defaults}\n${services}\n`);
    let { reply } = await reloadOver(host);
    assert.equal(reply.status, 'ok', JSON.stringify(reply));

    // yaml's duplicate-key check is quadratic: this took ~4 minutes before reloadkit checked keys itself.
    const big = Array.from({ length: 200_000 }, (_, i) => `key${i}: value ${i}`).join('\n');
    writeFileSync(file, `${big}\n`);
    const t = await reloadOver(host);
    reply = t.reply;
    assert.equal(reply.status, 'ok', JSON.stringify(reply));
    assert.ok(t.ms < 60_000, `a 4 MB mapping took ${t.ms.toFixed(0)} ms`);
    report.push(`# yaml: 4 MB mapping of 200 000 keys accepted in ${t.ms.toFixed(0)} ms`);

    // A duplicate key is still found, with its position.
    writeFileSync(file, `${big}\nkey7: again\n`);
    reply = (await reloadOver(host)).reply;
    assert.equal(reply.results!.app!.status, 'load_failed');
    assert.equal(reply.results!.app!.load_error, `${file}:200001:1: duplicate key`);
    assert.equal(await host.stop('SIGTERM'), 0);
    process.stdout.write(`${report.join('\n')}\n`);
  });
});
