// The commands that steer a running rollout, and their outcome: shared by the
// fleet (which carries them out) and the admin HTTP (which offers them as
// POST /fleet/pause|resume|abort) without either importing the other.

export type RolloutCommand = 'pause' | 'resume' | 'abort';

/**
 * The outcome of a rollout command: done (the rollout's new state), refused
 * because the target is not one the fleet knows, refused because the
 * rollout's state does not allow it, or etcd could not be asked.
 */
export type RolloutCommandOutcome =
  { ok: true; target: string; rollout: string; state: string } | { ok: false; reason: 'unknown_target' | 'refused' | 'unavailable'; message: string };
