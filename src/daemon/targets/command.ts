// The `command` kind: an optional check argv and a reload argv, no shell.
import type { CommandTargetDef } from '../config.js';
import { runChild } from './child.js';
import type { TargetDriver, TargetStep } from './driver.js';

export function commandDriver(def: Pick<CommandTargetDef, 'check' | 'reload'> & { cwd?: string }): TargetDriver {
  return {
    hasCheck: def.check !== undefined,
    async check(step: TargetStep) {
      if (!def.check) return;
      await runChild(def.check, { timeoutMs: step.timeoutMs, signal: step.signal, ...(def.cwd ? { cwd: def.cwd } : {}) });
    },
    async apply(step: TargetStep) {
      await runChild(def.reload, { timeoutMs: step.timeoutMs, signal: step.signal, ...(def.cwd ? { cwd: def.cwd } : {}) });
    },
  };
}
