// Signal triggers (SIGHUP by default). Each signal goes through the unit's
// coalescing queue like every other trigger; the listener is removed on
// close, which also restores the signal's default action when it was the
// last listener.
import { constants } from 'node:os';
import { OptionsError } from '../shared/errors.js';

export type SignalName = NodeJS.Signals;

/** Signals a process cannot catch, or that Node reserves. */
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP', 'SIGVTALRM', 'SIGPROF']);

/** Throws a clear ERR_OPTIONS error for a name that is not a catchable signal. */
export function checkSignals(signals: readonly unknown[]): SignalName[] {
  for (const s of signals) {
    if (typeof s !== 'string' || !Object.hasOwn(constants.signals, s)) {
      throw new OptionsError(`triggers.signal: ${JSON.stringify(s)} is not a signal name (e.g. "SIGHUP", "SIGUSR2")`);
    }
    if (UNCATCHABLE.has(s)) throw new OptionsError(`triggers.signal: ${s} cannot be used as a reload trigger`);
  }
  return signals as SignalName[];
}

/** Installs `handler` for the given signals; returns a function that removes it (safe to call twice). */
export function onSignals(signals: readonly SignalName[], handler: (signal: SignalName) => void): () => void {
  checkSignals(signals);
  const listener = (sig: SignalName) => handler(sig);
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}
