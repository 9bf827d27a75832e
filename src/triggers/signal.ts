// Signal triggers (SIGHUP by default). Each signal goes through the unit's
// coalescing queue like every other trigger; the listener is removed on close.

export type SignalName = NodeJS.Signals;

/** Installs `handler` for the given signals; returns a function that removes it. */
export function onSignals(signals: readonly SignalName[], handler: (signal: SignalName) => void): () => void {
  const listener = (sig: SignalName) => handler(sig);
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}
