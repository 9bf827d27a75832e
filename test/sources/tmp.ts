// Temp directories for source tests (real files, removed after each test).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { LoadContext } from '../../src/types.js';

/** A fresh temp dir, removed when the test ends. */
export async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'reloadkit-sources-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
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
