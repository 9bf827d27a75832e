// What the admin surfaces (socket, HTTP, metrics) need from whoever serves
// them: the library's single reloader, or the daemon with its many units.
import type { ReloadResult, Trigger } from '../shared/types.js';

export interface AdminUnitView {
  readonly name: string;
  readonly generation: number;
  lastResult(): ReloadResult | null;
  pendingRestart(): readonly string[];
}

/**
 * Ready means "serving a valid config": every unit has one and every
 * watcher works (polling counts). Problems that leave the config in effect
 * valid (a refused reload, a fallback start, polling, a failing persist
 * file, an admin socket that could not be served) are `degraded`: listed,
 * and not-ready only when asked for strictly.
 */
export interface Readiness {
  ok: boolean;
  /** Why not ready; empty when ok. */
  reasons: string[];
  /** What is wrong without taking the service out of rotation (strict mode counts these as reasons). */
  degraded: string[];
}

export interface ReadinessOptions {
  /** Also not ready while a unit's last pass failed, it runs on a fallback config, or anything is degraded. */
  strict?: boolean;
}

export interface AdminHost {
  /** Epoch milliseconds when the host started (for `uptime_secs`). */
  readonly startedAt: number;
  /** `status.targets`: daemon targets, or 1 in the library. */
  targetCount(): number;
  units(): readonly AdminUnitView[];
  /**
   * Reloads one unit, or every unit (daemon: its own config first, then all
   * targets in parallel) and waits. Rejects with UnknownUnitError or
   * ShutdownError when it cannot run.
   */
  reload(unit: string | undefined, trigger: Trigger): Promise<Record<string, ReloadResult>>;
  /**
   * Queues the same without waiting (the `RELOAD [unit]` text command);
   * throws UnknownUnitError for an unknown unit, or another error when it
   * cannot be queued (shutting down).
   */
  enqueue(unit: string | undefined, trigger: Trigger): void;
  ready(options?: ReadinessOptions): Readiness;
}
