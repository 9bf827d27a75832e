// Running hooks: every check collects its error, every apply runs under its
// own timeout with an AbortSignal, and nothing a hook does (throw, reject,
// hang, return 'failed') escapes as anything but a `failed` outcome.
import type { ApplyReturn, Hook, HookContext, HookOutcome, Logger, Trigger } from '../shared/types.js';
import { errorMessage } from '../shared/errors.js';
import { runBounded } from '../shared/abort.js';

export interface HookRunEnv {
  unit: string;
  trigger: Trigger;
  logger: Logger;
  /** Aborted when the reloader closes. */
  signal: AbortSignal;
  defaultTimeoutMs: number;
}

function ctxFor(env: HookRunEnv, signal: AbortSignal): HookContext {
  return { signal, logger: env.logger, unit: env.unit, trigger: env.trigger };
}

function timeoutOf(hook: Hook<unknown>, env: HookRunEnv): number {
  return hook.applyTimeoutMs ?? env.defaultTimeoutMs;
}

/** Runs every check; returns one failed outcome per hook that refused. */
export async function runChecks<T>(hooks: readonly Hook<T>[], old: T, next: T, env: HookRunEnv): Promise<HookOutcome[]> {
  const failures: HookOutcome[] = [];
  for (const hook of hooks) {
    if (!hook.check) continue;
    const t0 = performance.now();
    try {
      await runBounded(`check of hook "${hook.name}"`, timeoutOf(hook as Hook<unknown>, env), env.signal, (signal) =>
        hook.check!(old, next, ctxFor(env, signal)),
      );
    } catch (err) {
      failures.push({ name: hook.name, status: 'failed', error: errorMessage(err), duration_ms: ms(t0) });
    }
  }
  return failures;
}

function normalize(ret: ApplyReturn): { status: HookOutcome['status']; error?: string } {
  if (ret === undefined || ret === 'applied') return { status: 'applied' };
  if (ret === 'skipped') return { status: 'skipped' };
  if (ret === 'failed') return { status: 'failed', error: 'hook reported failed' };
  if (typeof ret === 'object' && ret !== null && 'status' in ret) {
    if (ret.status === 'failed') return { status: 'failed', error: ret.error ?? 'hook reported failed' };
    if (ret.status === 'applied' || ret.status === 'skipped') return { status: ret.status };
  }
  return { status: 'failed', error: `hook returned an unknown value: ${typeof ret}` };
}

/** Runs every apply in order; one failing never stops the others. */
export async function runApplies<T>(hooks: readonly Hook<T>[], old: T, next: T, env: HookRunEnv): Promise<HookOutcome[]> {
  const outcomes: HookOutcome[] = [];
  for (const hook of hooks) {
    const t0 = performance.now();
    try {
      const ret = await runBounded(`apply of hook "${hook.name}"`, timeoutOf(hook as Hook<unknown>, env), env.signal, (signal) =>
        hook.apply(ctxFor(env, signal), old, next),
      );
      outcomes.push({ name: hook.name, ...normalize(ret), duration_ms: ms(t0) });
    } catch (err) {
      outcomes.push({ name: hook.name, status: 'failed', error: errorMessage(err), duration_ms: ms(t0) });
    }
  }
  return outcomes;
}

/**
 * Undoes applied hooks in reverse order. Returns errors by hook name; a hook
 * without `rollback` cannot be undone and is reported as such.
 */
export async function runRollbacks<T>(
  hooks: readonly Hook<T>[],
  outcomes: readonly HookOutcome[],
  old: T,
  next: T,
  env: HookRunEnv,
): Promise<Map<string, string>> {
  const errors = new Map<string, string>();
  // Rollback must run even while closing, so it gets its own (never aborted) parent signal.
  const rollbackEnv: HookRunEnv = { ...env, signal: new AbortController().signal };
  for (let i = outcomes.length - 1; i >= 0; i -= 1) {
    const outcome = outcomes[i]!;
    const hook = hooks[i]!;
    if (outcome.status !== 'applied') continue;
    if (!hook.rollback) {
      errors.set(hook.name, 'no rollback defined; change stays applied');
      continue;
    }
    try {
      await runBounded(`rollback of hook "${hook.name}"`, timeoutOf(hook as Hook<unknown>, env), rollbackEnv.signal, (signal) =>
        hook.rollback!(ctxFor(rollbackEnv, signal), old, next),
      );
    } catch (err) {
      errors.set(hook.name, `rollback failed: ${errorMessage(err)}`);
    }
  }
  return errors;
}

export function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 1000) / 1000;
}
