// What the admin surfaces (socket, HTTP, metrics) need from whoever serves
// them: the library's single reloader, or the daemon with its many units.
import type { ReloadResult, Trigger } from '../types.js';

export interface AdminUnitView {
  readonly name: string;
  readonly generation: number;
  lastResult(): ReloadResult | null;
  pendingRestart(): readonly string[];
  /** Recent results, oldest first (the status page's timeline). */
  history?(): readonly ReloadResult[];
}

/** How a unit notices changes: its watcher works, fell back to polling, or there is none. */
export interface WatchState {
  state: 'watching' | 'polling' | 'off';
  reason?: string;
}

/** The watch state of a unit from its watcher's health (null: the unit has no watcher). */
export function watchStateOf(h: { ok: boolean; reason?: string } | null | undefined): WatchState {
  if (!h) return { state: 'off' };
  if (h.ok) return { state: 'watching' };
  // A watcher is unhealthy only while it polls a directory it cannot watch, or once it is closed.
  return h.reason === 'watcher closed' ? { state: 'off', reason: h.reason } : { state: 'polling', ...(h.reason === undefined ? {} : { reason: h.reason }) };
}

export interface Readiness {
  ok: boolean;
  /** Why not ready (or degraded); empty when ok. */
  reasons: string[];
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
  ready(): Readiness;
  /** The health of a unit's watcher, or null when it has none (the status page's watch state). */
  watchHealth?(unit: string): { ok: boolean; reason?: string } | null;
}
