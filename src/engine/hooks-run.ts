// Running hooks: every check collects its error, every apply runs under its
// own timeout with an AbortSignal, and nothing a hook does (throw, reject,
// hang, return 'failed') escapes as anything but a `failed` outcome.
//
// A hook never runs twice at once: a call that outlived its timeout keeps
// running in the background (JavaScript cannot stop it), so until it settles
// the hook is not called again. A later pass waits for it up to the hook's
// timeout, then reports the hook failed "still running from generation N".
import { runBounded, sleep } from '../shared/abort.js';
import { errorMessage } from '../shared/errors.js';
import type { ApplyReturn, Hook, HookContext, HookOutcome, Logger, Trigger } from '../shared/types.js';

/** Code of the warning for hooks in the 0.1 argument order (docs: CHANGELOG, docs/library.md). */
const HOOK_ARGS_DEPRECATION = 'RELOADKIT_HOOK_ARGS';
let legacyWarned = false;

/**
 * Warns once per process (a DeprecationWarning, code RELOADKIT_HOOK_ARGS)
 * when a hook with check, apply or rollback does not say `args:
 * 'next-prev'`: it is called in the 0.1 order, which 0.3.0 will refuse.
 */
export function warnLegacyHooks(hooks: readonly Hook<never>[]): void {
  if (legacyWarned) return;
  const legacy = hooks.find((h) => h.args !== 'next-prev' && (h.check !== undefined || h.apply !== undefined || h.rollback !== undefined));
  if (!legacy) return;
  legacyWarned = true;
  process.emitWarning(
    `reloadkit: hook "${legacy.name}" takes its arguments in the 0.1 order (check(old, next, ctx), apply(ctx, old, next), rollback(ctx, old, next)). ` +
      "Add args: 'next-prev' and take (next, prev, ctx) in every phase, as afterCommit, onChange and subscribe do; 0.3.0 refuses hooks without it.",
    { type: 'DeprecationWarning', code: HOOK_ARGS_DEPRECATION },
  );
}

/** Calls of a unit's hooks that outlived their timeout and have not settled yet. */
export type AbandonedCalls = Map<Hook<never>, { settled: Promise<void>; generation: number }>;

export interface HookRunEnv {
  unit: string;
  trigger: Trigger;
  logger: Logger;
  /** Aborted when the reloader closes. */
  signal: AbortSignal;
  defaultTimeoutMs: number;
  /** The generation the pass would commit (named when a hook is still busy with it later). */
  generation: number;
  abandoned: AbandonedCalls;
}

function ctxFor(env: HookRunEnv, signal: AbortSignal): HookContext {
  return { signal, logger: env.logger, unit: env.unit, trigger: env.trigger };
}

function timeoutOf(hook: Hook<never>, env: HookRunEnv): number {
  return hook.applyTimeoutMs ?? env.defaultTimeoutMs;
}

/**
 * Calls one phase of a hook under its timeout, unless an earlier call of the
 * same hook is still running: then waits for that one (up to the timeout)
 * and, if it is still running, throws without calling the hook.
 */
async function callHook<R>(hook: Hook<never>, phase: string, env: HookRunEnv, parent: AbortSignal, fn: (signal: AbortSignal) => R | Promise<R>): Promise<R> {
  const timeoutMs = timeoutOf(hook, env);
  const busy = env.abandoned.get(hook);
  if (busy) {
    const done = await Promise.race([busy.settled.then(() => true), sleep(timeoutMs, parent).then(() => false)]);
    if (!done) throw new Error(`still running from generation ${busy.generation}; not called again until it ends`);
  }
  let call: Promise<R> | undefined;
  let finished = false;
  try {
    return await runBounded(`${phase} of hook "${hook.name}"`, timeoutMs, parent, (signal) => {
      call = Promise.resolve(fn(signal));
      // Registered before the deadline race: a call that failed on its own is marked finished first.
      call.then(
        () => (finished = true),
        () => (finished = true),
      );
      return call;
    });
  } catch (err) {
    if (call && !finished) {
      const settled = call.then(
        () => {},
        () => {},
      );
      env.abandoned.set(hook, { settled, generation: env.generation });
      void settled.then(() => {
        if (env.abandoned.get(hook)?.settled === settled) env.abandoned.delete(hook);
      });
    }
    throw err;
  }
}

function failed(name: string, err: unknown, t0: number): HookOutcome {
  return { name, status: 'failed', error: errorMessage(err), duration_ms: ms(t0) };
}

/** Runs every check; returns one failed outcome per hook that refused. */
export async function runChecks<T>(hooks: readonly Hook<T>[], old: T, next: T, env: HookRunEnv): Promise<HookOutcome[]> {
  const failures: HookOutcome[] = [];
  for (const hook of hooks) {
    if (!hook.check) continue;
    const t0 = performance.now();
    try {
      await callHook(hook as Hook<never>, 'check', env, env.signal, (signal) =>
        hook.args === 'next-prev' ? hook.check!(next, old, ctxFor(env, signal)) : hook.check!(old, next, ctxFor(env, signal)),
      );
    } catch (err) {
      failures.push(failed(hook.name, err, t0));
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

/** Runs every apply in order; one failing never stops the others. Hooks without apply are left out. */
export async function runApplies<T>(hooks: readonly Hook<T>[], old: T, next: T, env: HookRunEnv): Promise<HookOutcome[]> {
  const outcomes: HookOutcome[] = [];
  for (const hook of hooks) {
    if (!hook.apply) continue;
    const t0 = performance.now();
    try {
      const ret = await callHook(hook as Hook<never>, 'apply', env, env.signal, (signal) =>
        hook.args === 'next-prev' ? hook.apply!(next, old, ctxFor(env, signal)) : hook.apply!(ctxFor(env, signal), old, next),
      );
      outcomes.push({ name: hook.name, ...normalize(ret), duration_ms: ms(t0) });
    } catch (err) {
      outcomes.push(failed(hook.name, err, t0));
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
  const never = new AbortController().signal;
  const byName = new Map(hooks.map((h) => [h.name, h]));
  for (const outcome of [...outcomes].reverse()) {
    const hook = byName.get(outcome.name);
    if (!hook || outcome.status !== 'applied') continue;
    if (!hook.rollback) {
      errors.set(hook.name, 'no rollback defined; change stays applied');
      continue;
    }
    try {
      await callHook(hook as Hook<never>, 'rollback', env, never, (signal) =>
        hook.args === 'next-prev' ? hook.rollback!(next, old, ctxFor(env, signal)) : hook.rollback!(ctxFor(env, signal), old, next),
      );
    } catch (err) {
      errors.set(hook.name, `rollback failed: ${errorMessage(err)}`);
    }
  }
  return errors;
}

/**
 * After the swap (current() returns the new config): every hook's
 * afterCommit, in order. They cannot fail the pass; what one throws (or a
 * returned 'failed') is handed to `onFailure` to be logged and counted.
 */
export async function runAfterCommit<T>(
  hooks: readonly Hook<T>[],
  next: T,
  prev: T,
  env: HookRunEnv,
  onFailure: (hook: string, error: string) => void,
): Promise<void> {
  // After the commit nothing aborts this work but its own timeout: the config is in effect.
  const never = new AbortController().signal;
  for (const hook of hooks) {
    if (!hook.afterCommit) continue;
    try {
      const ret = await callHook(hook as Hook<never>, 'after-commit work', env, never, (signal) => hook.afterCommit!(next, prev, ctxFor(env, signal)));
      const n = normalize(ret);
      if (n.status === 'failed') onFailure(hook.name, n.error ?? 'failed');
    } catch (err) {
      onFailure(hook.name, errorMessage(err));
    }
  }
}

export function ms(t0: number): number {
  return Math.round((performance.now() - t0) * 1000) / 1000;
}
