// Shared helpers for the integrity tests: temp dirs, a real pino logger whose
// output is captured, and a free port.
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino, type Logger as PinoLogger } from 'pino';

export { freePort } from '../integration/helpers.js';

/** A fresh temp dir (real path), removed when the test ends. */
export async function tempDir(t: TestContext, prefix = 'rk-int-'): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), prefix)));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CapturedLogger {
  logger: PinoLogger;
  /** Every line pino wrote, as written. */
  text(): string;
  /** Parsed lines. */
  lines(): Record<string, unknown>[];
}

/** A real pino logger at debug level writing JSON lines into memory. */
export function capturedLogger(): CapturedLogger {
  const chunks: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void chunks.push(s) });
  return {
    logger,
    text: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
