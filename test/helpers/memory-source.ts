// An in-memory ConfigSource for unit tests of engine logic (pure logic, no I/O).
import type { ConfigSource, LoadContext, LoadedConfig } from '../../src/shared/types.js';

export class MemorySource implements ConfigSource {
  readonly description = 'memory';
  value: unknown;
  error: Error | null = null;
  loads = 0;
  /** Resolves loads only when released (to hold a pass in its load phase). */
  gate: Promise<void> | null = null;

  constructor(value: unknown) {
    this.value = value;
  }

  set(value: unknown): void {
    this.value = value;
    this.error = null;
  }

  fail(message: string): void {
    this.error = new Error(message);
  }

  async load(ctx: LoadContext): Promise<LoadedConfig> {
    this.loads += 1;
    const snapshot = structuredClone(this.value);
    const err = this.error;
    if (this.gate) await this.gate;
    if (ctx.signal.aborted) throw new Error('aborted');
    if (err) throw err;
    return { value: snapshot, files: [] };
  }
}

/** A promise with its resolve function, for holding hooks and loads open. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
