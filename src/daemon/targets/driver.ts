// What every target kind implements: an optional check (validation without
// side effects) and an apply that reloads AND confirms the reload, as one
// step, within a deadline, stopping when the signal aborts.
import type { Logger } from '../../shared/types.js';

export interface TargetStep {
  /** Target name, for messages. */
  name: string;
  /** Aborted at shutdown or when the hook's own timeout passes. */
  signal: AbortSignal;
  /** This step's time budget (the target's `timeout`). */
  timeoutMs: number;
  logger: Logger;
}

export interface TargetDriver {
  /** False when the kind has nothing to validate (signal, http, command without `check`). */
  readonly hasCheck: boolean;
  /** Rejects with the validator's own message when the config is refused. */
  check(step: TargetStep): Promise<void>;
  /** Reload and verify; rejects when either fails (nothing took effect). */
  apply(step: TargetStep): Promise<void>;
  /** The files the last successful check read, when the kind knows them (nginx: the files `nginx -T` listed). */
  readFiles?(): readonly string[] | null;
}

/** Milliseconds left before `deadline` (performance.now() based), at least 1. */
export function remaining(deadline: number): number {
  return Math.max(1, Math.round(deadline - performance.now()));
}
