// What the admin surfaces (socket, HTTP, metrics) need from whoever serves
// them: the library's single reloader, or the daemon with its many units.
import type { RolloutCommand, RolloutCommandOutcome } from '../shared/fleet-commands.js';
import type { ReloadResult, Trigger } from '../shared/types.js';

export interface AdminUnitView {
  readonly name: string;
  readonly generation: number;
  lastResult(): ReloadResult | null;
  pendingRestart(): readonly string[];
  /** Recent results, oldest first (the status page's timeline). */
  history?(): readonly ReloadResult[];
}

/** A watcher's health as its host reports it: `mode` says how it watches. */
export interface WatcherHealth {
  ok: boolean;
  mode: 'watching' | 'polling' | 'lost' | 'closed';
  reason?: string;
}

/** How a unit notices changes: its watcher works, fell back to polling, lost a directory's watch, or there is none. */
export interface WatchState {
  state: 'watching' | 'polling' | 'lost' | 'off';
  reason?: string;
}

/** The watch state of a unit from its watcher's health (null: the unit has no watcher). */
export function watchStateOf(h: WatcherHealth | null | undefined): WatchState {
  if (!h || h.mode === 'closed') return { state: 'off' };
  return { state: h.mode, ...(h.reason === undefined ? {} : { reason: h.reason }) };
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
  /** The health of a unit's watcher, or null when it has none (the status page's watch state). */
  watchHealth?(unit: string): WatcherHealth | null;
  /** This host's fleet view for `status` (a daemon with `fleet:`), as JSON; null without a fleet. */
  fleet?(): object | null;
  /** The whole fleet for `GET /fleet` (JSON), or null when no fleet is configured. */
  fleetStatus?(): Promise<object> | null;
  /**
   * Calls `listener` with the whole fleet (as `fleetStatus()` gives it) soon
   * after subscribing and whenever it changes; returns the function that
   * stops the calls. Without a fleet the listener is never called.
   */
  fleetEvents?(listener: (status: object) => void): () => void;
  /** Pauses, resumes or aborts a target's rollout (`who` is recorded); null when no fleet is configured. */
  steerFleet?(target: string, command: RolloutCommand, who: string): Promise<RolloutCommandOutcome> | null;
}
