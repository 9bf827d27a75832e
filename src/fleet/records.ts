// The records the fleet stores in etcd (see keys.ts for where each lives).
// JSON, small, and read by every host and the CLI: field names are part of
// the fleet's contract with older and newer hosts, so fields are only ever
// added (and optional when added).

/** A target's state on one host. */
export type HostTargetStatus = 'idle' | 'applying' | 'done' | 'failed' | 'drift';

export interface HostTargetState {
  /** The revision the host's files are at (0: none from the fleet yet). */
  revision: number;
  status: HostTargetStatus;
  config_hash: string;
  /** The revision the last apply was for (differs from `revision` after a failure). */
  attempted?: number;
  reason?: string;
  /** When the status last changed (RFC 3339). */
  at: string;
  /** How long the host may take for one turn (write, check, reload, verify, gate, restore) before the driver calls it a timeout. */
  turn_timeout_ms?: number;
}

/** What a host publishes under `hosts/<host>` (attached to its lease). */
export interface HostRecord {
  host: string;
  /** A new random id each time the host registers (a new lease): a turn is for one session of a host. */
  session?: string;
  labels: Record<string, string>;
  version: string;
  started_at: string;
  targets: Record<string, HostTargetState>;
}

/** `targets/<t>/desired`: the revision of the target's latest rollout. */
export interface DesiredRecord {
  revision: number;
  rollout: string;
}

export type RolloutState = 'running' | 'paused' | 'halted' | 'done' | 'aborted';

/** Why a rollout halted: the first failing host, the step that failed, and its message. */
export interface HaltReason {
  host: string;
  /** signature, drift, write, check, reload, health, timeout */
  step: string;
  message: string;
}

/** `targets/<t>/rollout`: the target's latest rollout, the state machine the driver advances. */
export interface RolloutRecord {
  /** `<target>-<n>`: n counts the target's rollouts (pushes and rollbacks). */
  id: string;
  kind: 'push' | 'rollback';
  /** The fleet's revision when the rollout started (0: none). */
  from: number;
  to: number;
  state: RolloutState;
  /** `--canary N`: how many hosts go first, one at a time, when none is labelled `canary: "true"`. */
  canary: number;
  /** `--batch K`: at most this many hosts apply at once after the canaries. */
  batch: number;
  /** `--health-wait`: how long each host's health gate must pass (default: the host's `health.for`). */
  health_wait_ms?: number;
  /** The canary hosts, chosen by the driver's first step (absent until then). */
  canaries?: string[];
  reason?: HaltReason;
  author: string;
  message: string;
  started_at: string;
  ended_at?: string;
}

type TurnState = 'applying' | 'done' | 'failed' | 'lost';

/** `turns/<t>/<host>`: a host's turn, written by the driver (applying), finished by the host (done, failed) or the driver (lost, timeout). */
export interface TurnRecord {
  /** The rollout the turn belongs to (a convergence turn: the latest rollout's id, with `converge`). */
  rollout: string;
  /** The revision to apply. */
  revision: number;
  /** The host's session the turn is for: another session of the host (a restart, a new lease) never takes it up. */
  session: string;
  state: TurnState;
  /** 0 for the canaries' turns, then 1, 2, … per batch. */
  batch: number;
  canary?: boolean;
  /** A host bringing itself to the fleet's current revision (it started, or came back), outside a running rollout. */
  converge?: boolean;
  /** The host was already on the revision: done without applying anything. */
  skipped?: boolean;
  health_wait_ms?: number;
  /** The driver calls the turn a timeout (failed, step `timeout`) after this long. */
  deadline_ms: number;
  started_at: string;
  ended_at?: string;
  step?: string;
  reason?: string;
}

/** `targets/<t>/driver`: the host driving the target's rollouts, attached to that host's lease. */
export interface DriverRecord {
  host: string;
  session: string;
  since: string;
}

export function parseJson<T>(kv: { value: Buffer } | null): T | null {
  if (!kv) return null;
  try {
    return JSON.parse(kv.value.toString('utf8')) as T;
  } catch {
    return null;
  }
}
