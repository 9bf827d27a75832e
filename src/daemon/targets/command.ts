// The `command` kind: a reload argv, no shell (its optional `check` is run
// for every kind by createDriver).
import type { CommandTargetDef } from '../config.js';
import { runChild } from './child.js';
import type { TargetDriver, TargetStep } from './driver.js';

export function commandDriver(def: Pick<CommandTargetDef, 'reload'> & { cwd?: string }): TargetDriver {
  return {
    hasCheck: false,
    async check() {},
    async apply(step: TargetStep) {
      await runChild(def.reload, { timeoutMs: step.timeoutMs, signal: step.signal, ...(def.cwd ? { cwd: def.cwd } : {}) });
    },
  };
}
