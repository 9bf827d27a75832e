// Integrity benchmarks: what signatures, redaction and persisting
// cost. Baselines, in the same run: the same unit without the feature, raw
// pino to the same sink, and a plain writeFile of the same bytes.
import { readFileSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { stringify as stringifyYaml } from 'yaml';
import { z } from 'zod';
import { fileSource } from '../../src/sources/index.js';
import { Unit } from '../../src/engine/unit.js';
import { writeFileAtomic } from '../../src/integrity/atomic-write.js';
import { keygen, signFile } from '../../src/integrity/keys.js';
import { PERSIST_FILE_MODE, serializePersisted } from '../../src/integrity/persist.js';
import { redactingLogger, Redactor } from '../../src/engine/redact.js';
import { createVerifier } from '../../src/integrity/signature.js';
import { median, percentile, round, type BenchSuite } from '../harness.js';
import { configHash } from '../../src/shared/hash.js';

const schema = z.object({
  service: z.object({ name: z.string(), port: z.number().int() }),
  db: z.object({ password: z.string(), url: z.string() }),
  upstreams: z.array(z.object({ name: z.string(), url: z.string(), token: z.string() })),
});

/** About 10 KB of YAML with 90 secret values. */
function config(): unknown {
  return {
    service: { name: 'bench', port: 8080 },
    db: { password: 'db-password-value', url: 'postgres://app:url-password@db/app' },
    upstreams: Array.from({ length: 90 }, (_, i) => ({ name: `upstream-${i}`, url: `http://10.0.0.${i}:8080/api/v1`, token: `token-${i}-abcdef` })),
  };
}

/** Pass times of two units, interleaved so load on a shared machine hits both alike. */
async function interleavedPasses(units: Unit<unknown>[], iterations: number): Promise<number[][]> {
  for (const u of units) await u.start();
  const out = units.map((): number[] => []);
  for (let i = 0; i < iterations; i += 1) {
    for (const [k, u] of units.entries()) {
      const t0 = performance.now();
      const r = await u.reload('api');
      out[k]!.push(performance.now() - t0);
      if (r.status !== 'full_success') throw new Error(`unexpected status ${r.status}: ${r.error ?? ''}`);
    }
  }
  for (const u of units) await u.close();
  return out;
}

export const integritySuite: BenchSuite = {
  name: 'integrity',
  description: 'signature check per pass, redacting logger per line, crash-safe persist write',
  async run(ctx) {
    const dir = ctx.tmp();
    const file = join(dir, 'config.yaml');
    writeFileSync(file, stringifyYaml(config()));
    const keys = await keygen(join(dir, 'keys'));
    await signFile(keys.privateKey, file);
    const iterations = ctx.quick ? 300 : 2000;

    // 1. A pass with and without the signature check (same bytes, same schema).
    const verify = createVerifier({ publicKeyFile: keys.publicKey });
    const [plain, signed] = await interleavedPasses(
      [new Unit<unknown>({ name: 'plain', source: fileSource(file), schema }), new Unit<unknown>({ name: 'signed', source: fileSource(file), schema, verify })],
      iterations,
    );
    const plainMs = median(plain!);
    const signedMs = median(signed!);
    // The check alone: read FILE.sig, decode, Ed25519 verify of 10 KB.
    const bytes = readFileSync(file);
    const checks: number[] = [];
    for (let i = 0; i < iterations; i += 1) {
      const t0 = performance.now();
      await verify(file, bytes);
      checks.push(performance.now() - t0);
    }

    // 2. The engine's "reload pass" line: through redaction vs raw pino, same sink.
    const sink = { write: (_s: string) => {} };
    const raw = pino({ level: 'info' }, sink);
    const redactor = new Redactor();
    const secrets = redactor.secretValues(config());
    const wrapped = redactingLogger(raw, redactor, () => secrets);
    const line = {
      unit: 'app',
      trigger: 'watch',
      status: 'validation_failed',
      generation: 12,
      duration_ms: 1.23,
      changed: ['upstreams[3].url', 'db.password'],
      coalesced: 0,
      requires_restart: [],
      error: 'db: cannot connect to postgres://app:url-password@db/app with db-password-value',
    };
    const lines = ctx.quick ? 20_000 : 100_000;
    const time = (log: typeof raw | typeof wrapped) => {
      const t0 = performance.now();
      for (let i = 0; i < lines; i += 1) log.info(line, 'reload pass');
      return ((performance.now() - t0) * 1000) / lines;
    };
    time(raw);
    time(wrapped);
    const rawUs = time(raw);
    const redactedUs = time(wrapped);

    // 3. Persisting a 10 KB config: temp + fsync + rename + directory fsync vs a plain writeFile.
    const cfg = config();
    const text = serializePersisted({ generation: 1, hash: configHash(cfg), config: cfg });
    const writes = ctx.quick ? 50 : 300;
    const atomic: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < writes; i += 1) {
      let t0 = performance.now();
      await writeFileAtomic(join(dir, 'lkg.json'), text, { mode: PERSIST_FILE_MODE });
      atomic.push(performance.now() - t0);
      t0 = performance.now();
      await writeFile(join(dir, 'plain.json'), text, { mode: PERSIST_FILE_MODE });
      bare.push(performance.now() - t0);
    }

    const verifyMs = median(checks);
    return {
      rows: [
        {
          metric: `pass median with signature check (${iterations} passes, 10 KB YAML)`,
          value: round(signedMs),
          unit: 'ms',
          baseline: round(plainMs),
          baselineName: 'same unit, no signature',
          ratio: round(signedMs / plainMs, 2),
        },
        {
          metric: 'signature check per file (read .sig + Ed25519 verify of 10 KB)',
          value: round(verifyMs * 1000, 1),
          unit: 'µs',
          goal: '<= 500 µs',
          pass: verifyMs <= 0.5,
        },
        {
          metric: `log line through redaction (${secrets.size} known secret values)`,
          value: round(redactedUs, 2),
          unit: 'µs',
          baseline: round(rawUs, 2),
          baselineName: 'raw pino, same sink',
          ratio: round(redactedUs / rawUs, 2),
          goal: '<= 50 µs per line',
          pass: redactedUs <= 50,
        },
        {
          metric: `persist write median (${(text.length / 1024).toFixed(1)} KB, fsync + rename + dir fsync; off the pass path)`,
          value: round(median(atomic)),
          unit: 'ms',
          baseline: round(median(bare)),
          baselineName: 'writeFile, no fsync',
          ratio: round(median(atomic) / median(bare), 2),
        },
        { metric: 'persist write p99', value: round(percentile(atomic, 99)), unit: 'ms' },
      ],
      notes: ['persist writes run after the pass has resolved (an observer of the commit); their cost is disk latency, not pass latency'],
    };
  },
};
