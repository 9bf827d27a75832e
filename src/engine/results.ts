import type { ReloadResult } from '../shared/types.js';
import { OptionsError } from '../shared/errors.js';

/** Bounded ring of the most recent results, oldest first. */
export class ResultHistory {
  private readonly items: ReloadResult[] = [];

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new OptionsError(`historySize must be a positive integer, got ${String(capacity)}`);
  }

  push(result: ReloadResult): void {
    this.items.push(result);
    if (this.items.length > this.capacity) this.items.shift();
  }

  last(): ReloadResult | null {
    return this.items.at(-1) ?? null;
  }

  all(): readonly ReloadResult[] {
    return this.items.slice();
  }
}
