// One reload pass as a function: load → restart-required diff → check →
// apply (→ rollback) → the status. It decides; the unit commits and records.
import type { Hook, HookOutcome, Logger, ReloadStatus, Trigger } from '../shared/types.js';
import { runApplies, runChecks, runRollbacks, type AbandonedCalls, type HookRunEnv } from './hooks-run.js';
import type { Candidate } from './load.js';
import type { Snapshot } from './plugins.js';
import type { RestartMatcher, RestartPolicy } from './restart.js';
import { changedLeaves } from './snapshot.js';
import { formatPath, type PathSegment } from '../shared/paths.js';

export type ApplyFailurePolicy = 'keep-partial' | 'rollback';

export interface PassEnv<T> {
  unit: string;
  hooks: readonly Hook<T>[];
  restart: RestartMatcher;
  restartPolicy: RestartPolicy;
  onApplyFailure: ApplyFailurePolicy;
  applyTimeoutMs: number;
  logger: Logger;
  load(signal: AbortSignal): Promise<Candidate>;
  /** The candidate's values while hooks run: their secrets must not reach log lines. */
  setInFlight(values: unknown[]): void;
  /** Restart-required paths pending for the snapshot in effect (an unchanged pass repeats them). */
  pendingRestart(): string[];
  /** The unit's hook calls that outlived their timeout (a hook is never called twice at once). */
  abandoned: AbandonedCalls;
}

export interface PassInput<T> {
  trigger: Trigger;
  /** An explicit request always runs the hooks; a watch or rescan pass stops at `unchanged`. */
  explicit: boolean;
  signal: AbortSignal;
  prev: Snapshot<T>;
  boot: Snapshot<T>;
}

/** What a pass decided; `snapshot` is set when the new config is to be committed. */
export interface PassDecision<T> {
  status: ReloadStatus;
  hash: string;
  outcomes?: HookOutcome[];
  requires_restart?: string[];
  changed?: string[];
  changed_from?: Record<string, string>;
  load_error?: string;
  error?: string;
  /** The candidate's raw and validated values: redaction of the result's texts uses them. */
  raw?: unknown;
  next?: unknown;
  snapshot?: Snapshot<T>;
}

/**
 * The status of a pass whose applies ran, in one place. The commit rule:
 * the new config is committed unless a hook failed and either every hook
 * failed (apply_failed: nothing took effect) or the policy is rollback
 * (rolled_back). So with keep-partial a failure elsewhere never depends on
 * whether an unrelated hook applied or had nothing to do (skipped): both
 * commit, as partial_applied.
 */
function statusAfterApply(outcomes: readonly HookOutcome[], policy: ApplyFailurePolicy): 'full_success' | 'apply_failed' | 'partial_applied' | 'rollback' {
  const failed = outcomes.filter((o) => o.status === 'failed').length;
  if (failed === 0) return 'full_success';
  if (failed === outcomes.length) return 'apply_failed';
  return policy === 'rollback' ? 'rollback' : 'partial_applied';
}

function failureText(outcomes: readonly HookOutcome[]): string {
  return outcomes
    .filter((o) => o.status === 'failed')
    .map((o) => `${o.name}: ${o.error ?? 'failed'}`)
    .join('; ');
}

/** For a source made of parts: which part set each changed value (a removed one has none). */
function changedFrom(cand: Candidate & { ok: true }, leaves: readonly PathSegment[][]): { changed_from?: Record<string, string> } {
  if (!cand.origin || leaves.length === 0) return {};
  const out: Record<string, string> = {};
  for (const path of leaves) {
    const from = cand.origin(path);
    if (from !== undefined) out[formatPath(path)] = from;
  }
  return { changed_from: out };
}

export async function runPass<T>(env: PassEnv<T>, input: PassInput<T>): Promise<PassDecision<T>> {
  const { prev, boot, signal } = input;
  const cand = await env.load(signal);
  // Hooks' log lines and the pass's own line must not show the candidate's secrets either.
  env.setInFlight(cand.ok ? [cand.raw, cand.value] : [cand.raw]);
  if (!cand.ok) return { status: 'load_failed', hash: prev.hash, load_error: cand.message, error: cand.message, raw: cand.raw };

  const next = cand.value as T;
  const base = { hash: cand.hash, raw: cand.raw, next };
  if (!input.explicit && cand.hash === prev.hash) return { status: 'unchanged', ...base, requires_restart: env.pendingRestart() };
  const leaves = changedLeaves(prev.config, next);
  const common = { ...base, changed: leaves.map(formatPath), requires_restart: env.restart.diff(boot.config, next), ...changedFrom(cand, leaves) };
  if (common.requires_restart.length > 0 && env.restartPolicy === 'reject') {
    return { status: 'validation_failed', ...common, error: `restart required for: ${common.requires_restart.join(', ')} (policy reject)` };
  }

  const hookEnv: HookRunEnv = {
    unit: env.unit,
    trigger: input.trigger,
    logger: env.logger,
    signal,
    defaultTimeoutMs: env.applyTimeoutMs,
    generation: prev.generation + 1,
    abandoned: env.abandoned,
  };
  const checkFailures = await runChecks(env.hooks, prev.config, next, hookEnv);
  if (checkFailures.length > 0) {
    return { status: 'validation_failed', ...common, outcomes: checkFailures, error: failureText(checkFailures) };
  }

  let outcomes = await runApplies(env.hooks, prev.config, next, hookEnv);
  const decided = statusAfterApply(outcomes, env.onApplyFailure);
  if (decided === 'full_success') {
    return { status: 'full_success', ...common, outcomes, snapshot: { config: next, hash: cand.hash, generation: prev.generation + 1, files: cand.files } };
  }
  let error = failureText(outcomes);
  if (decided === 'rollback') {
    const rbErrors = await runRollbacks(env.hooks, outcomes, prev.config, next, hookEnv);
    outcomes = outcomes.map((o) => {
      const rb = rbErrors.get(o.name);
      return rb === undefined ? o : { ...o, error: o.error ? `${o.error}; ${rb}` : rb };
    });
    if (rbErrors.size > 0) error += `; ${[...rbErrors].map(([n, e]) => `${n}: ${e}`).join('; ')}`;
    return { status: 'rolled_back', ...common, outcomes, error };
  }
  const decision: PassDecision<T> = { status: decided, ...common, outcomes, error };
  if (decided === 'partial_applied') decision.snapshot = { config: next, hash: cand.hash, generation: prev.generation + 1, files: cand.files };
  return decision;
}
