// Timing options of the watcher, their defaults and validation. Kept apart
// from watch.ts so createReloader can check them without loading the watcher.
import { OptionsError, refuseUnknownKeys } from '../shared/errors.js';

export interface WatchTimings {
  /** Quiet period that ends a burst of events (default 100 ms). */
  debounceMs: number;
  /** Longest a burst waits under constant writes (default 1000 ms). */
  maxWaitMs: number;
  /** Period of the full rescan (default 30 000 ms; 0 disables). */
  rescanMs: number;
  /** Fast path: delay between the two looks at a replaced file (default 10 ms). */
  settleMs: number;
  /** Polling interval for directories fs.watch cannot watch (default 500 ms). */
  pollMs: number;
}

const LIMITS: Record<keyof WatchTimings, { fallback: number; min: number }> = {
  debounceMs: { fallback: 100, min: 0 },
  maxWaitMs: { fallback: 1000, min: 1 },
  rescanMs: { fallback: 30_000, min: 0 },
  settleMs: { fallback: 10, min: 0 },
  pollMs: { fallback: 500, min: 10 },
};

/** setTimeout's ceiling. */
const MAX_MS = 2 ** 31 - 1;

/** Fills in defaults; throws a clear ERR_OPTIONS error for a bad value or an unknown key (`where` names the options). */
export function watchTimings(
  input: Partial<Record<keyof WatchTimings, unknown>>,
  allowed: readonly string[] = Object.keys(LIMITS),
  where = 'watch options',
): WatchTimings {
  refuseUnknownKeys(where, input, allowed);
  const out = {} as WatchTimings;
  for (const [name, { fallback, min }] of Object.entries(LIMITS) as [keyof WatchTimings, { fallback: number; min: number }][]) {
    const value = input[name];
    if (value === undefined) {
      out[name] = fallback;
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_MS) {
      throw new OptionsError(`watch option ${name} must be a number of milliseconds from ${min} to ${MAX_MS}, got ${String(value)}`);
    }
    out[name] = value;
  }
  return out;
}
