// Polling trigger: looks at the source at a fixed interval and starts a pass
// only when its content changed (for sources that cannot be watched: a
// config service over HTTP, a network file system). The next look is
// scheduled when the previous one has ended, so looks never overlap however
// slow the source; the timer is unref'd (it never keeps a process alive).
import { OptionsError } from '../shared/errors.js';
import { parseDuration } from '../shared/duration.js';

/** Shortest interval accepted: a faster poll is a busy loop on the source. */
const MIN_POLL_MS = 10;
/** setTimeout's ceiling. */
const MAX_POLL_MS = 2 ** 31 - 1;

/**
 * `triggers.poll`: milliseconds or a duration (`'30s'`, `'5m'`); `0`,
 * `false` or nothing is off (null). Anything else is an ERR_OPTIONS error.
 */
export function checkPoll(value: unknown): number | null {
  if (value === undefined || value === false || value === 0 || value === '0') return null;
  const ms = typeof value === 'number' ? (Number.isInteger(value) ? value : null) : typeof value === 'string' ? parseDuration(value) : null;
  if (ms === null) {
    throw new OptionsError(
      `triggers.poll: expected milliseconds or a duration such as '30s' or '5m', got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
    );
  }
  if (ms < MIN_POLL_MS || ms > MAX_POLL_MS) throw new OptionsError(`triggers.poll: expected from ${MIN_POLL_MS} ms to ${MAX_POLL_MS} ms, got ${ms} ms`);
  return ms;
}

/** Calls `look` every `everyMs`, counted from the end of the previous look. Returns the stop function. */
export function startPolling(everyMs: number, look: () => Promise<unknown>): () => void {
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const schedule = (): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      timer = null;
      void look().finally(schedule);
    }, everyMs);
    timer.unref();
  };
  schedule();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    timer = null;
  };
}
