// One driver per target kind, plus the `check` argv any kind may have.
import type { TargetDef } from '../config.js';
import { runChild } from './child.js';
import { commandDriver } from './command.js';
import type { TargetDriver, TargetStep } from './driver.js';
import { httpDriver } from './http.js';
import { nginxDriver } from './nginx.js';
import { signalDriver } from './signal.js';

function kindDriver(def: TargetDef): TargetDriver {
  switch (def.kind) {
    case 'nginx':
      return nginxDriver(def);
    case 'command':
      return commandDriver(def);
    case 'http':
      return httpDriver(def);
    case 'signal':
      return signalDriver(def);
  }
}

/**
 * The target's driver. A `check` argv (any kind: `promtool check config`
 * before an http reload of Prometheus, `haproxy -c` before a signal) runs in
 * the config file's directory after the kind's own check (nginx -t); a
 * failure of either refuses the config.
 */
export function createDriver(def: TargetDef): TargetDriver {
  const inner = kindDriver(def);
  const argv = def.check;
  if (argv === undefined) return inner;
  return {
    hasCheck: true,
    async check(step: TargetStep) {
      if (inner.hasCheck) await inner.check(step);
      await runChild(argv, { timeoutMs: step.timeoutMs, signal: step.signal, cwd: def.cwd });
    },
    apply: (step) => inner.apply(step),
    ...(inner.readFiles ? { readFiles: () => inner.readFiles!() } : {}),
  };
}

export type { TargetDriver } from './driver.js';
