// Temp directories for source tests (real files, removed after each test).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { LoadContext, LoadedConfig } from '../../src/shared/types.js';
import { waitFor } from '../helpers/wait.js';

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reloadkit-sources-'));
  // Never throws: a failing after-hook would skip the hooks registered after it.
  t.after(() => rm(dir, { recursive: true, force: true, maxRetries: 5 }).catch(() => {}));
  return dir;
}

/** Writes `content` to `dir/name` and returns the path. */
export async function put(dir: string, name: string, content: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

export function loadCtx(extra: Partial<LoadContext> = {}): LoadContext {
  return { signal: new AbortController().signal, ...extra };
}

/** The LoadError message of a failed promise (fails the test when it resolves). */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the load to fail, but it succeeded');
}

export interface Churner {
  /** Stops the process (SIGTERM), waits for it to exit and returns all it printed. Idempotent: call it in `finally`. */
  stop(): Promise<string>;
}

/**
 * Starts a real process that changes files (its args after `node`) and waits
 * until it prints "ready". It is killed when the test ends, and it stops by
 * itself when its stdin closes (this process died), so it never outlives us.
 */
export async function startChurner(t: TestContext, args: string[]): Promise<Churner> {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = once(child, 'exit');
  t.after(() => void child.kill('SIGKILL'));
  await waitFor(() => {
    if (out.includes('ready')) return true;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`churner exited early: ${out}`);
    return false;
  }, 'the churner to print "ready"');
  let stopped: Promise<string> | null = null;
  return {
    stop() {
      stopped ??= (async () => {
        child.kill('SIGTERM');
        await exited;
        return out;
      })();
      return stopped;
    },
  };
}

/**
 * Loads `n` times. Each success goes to `kind`, which asserts on it and names
 * what it was; each failure must have exactly the message `allowedError`.
 * Returns how many of each kind (and `error`) were seen.
 */
export async function loadMany(
  n: number,
  load: () => Promise<LoadedConfig>,
  kind: (loaded: LoadedConfig) => string,
  allowedError: string,
): Promise<Record<string, number>> {
  const seen: Record<string, number> = {};
  for (let i = 0; i < n; i += 1) {
    let loaded: LoadedConfig;
    try {
      loaded = await load();
    } catch (err) {
      assert.equal((err as Error).message, allowedError);
      seen.error = (seen.error ?? 0) + 1;
      continue;
    }
    const k = kind(loaded);
    seen[k] = (seen[k] ?? 0) + 1;
  }
  return seen;
}
