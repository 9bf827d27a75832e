// What the admin surfaces (socket, HTTP, metrics) need from whoever serves
// them: the library's single reloader, or the daemon with its many units.
import type { ReloadResult, Trigger } from '../types.js';
import type { FleetSummary } from '../fleet/agent.js';
import type { FleetStatus } from '../fleet/status.js';

export interface AdminUnitView {
  readonly name: string;
  readonly generation: number;
  lastResult(): ReloadResult | null;
  pendingRestart(): readonly string[];
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
  /** This host's fleet view for `status` (daemon with `fleet:`), else null. */
  fleet?(): FleetSummary | null;
  /** The whole fleet for `GET /fleet`, else null (no fleet configured). */
  fleetStatus?(): Promise<FleetStatus> | null;
}
