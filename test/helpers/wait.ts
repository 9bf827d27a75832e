// The one polling helper of the test suite: wait for something observable
// (a file, a log line, a counter, a state) instead of sleeping and hoping.
//
// The deadline is generous (30 s by default) because the machine running the
// tests may be shared and loaded; a condition that holds returns at once, so
// a generous deadline costs nothing when things work. Polling starts at 5 ms
// and backs off to 100 ms, so a quick condition is seen quickly and a slow one
// does not burn the CPU the code under test needs.

/** What a truthy result of `fn` narrows to. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

const FIRST_DELAY_MS = 5;
const MAX_DELAY_MS = 100;

/**
 * Calls `fn` until it returns a truthy value and returns that value. Fails
 * after `timeoutMs` with "timed out after N ms waiting for <what>"; `what`
 * may be a function, to describe the state at the moment of failure (the
 * last log lines, a count). An exception from `fn` ends the wait at once
 * (e.g. "the process exited while waiting").
 */
export async function waitFor<T>(fn: () => T | Promise<T>, what: string | (() => string), timeoutMs = 30_000): Promise<Truthy<T>> {
  const deadline = performance.now() + timeoutMs;
  let delay = FIRST_DELAY_MS;
  for (;;) {
    const value = await fn();
    if (value) return value as Truthy<T>;
    if (performance.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}
