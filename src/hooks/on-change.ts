// onChange: run something only when one slice of the config changed, e.g.
// flush a cache when the upstream address changes. It runs after the new
// config is committed, so work that reads current() (refilling that cache)
// sees the new config; it cannot fail the pass. Equal slices (deep
// comparison) are skipped.
import { deepEqual } from '../engine/snapshot.js';
import type { ApplyReturn, HookContext, NextPrevHook } from '../shared/types.js';
import { selection, type ConfigPath, type ConfigWith, type PathValue } from './select.js';
import { OptionsError, refuseUnknownKeys } from '../shared/errors.js';

export type OnChangeFn<V> = (next: V, prev: V, ctx: HookContext) => ApplyReturn | Promise<ApplyReturn>;

export interface OnChangeOptions<V> {
  /** Hook name in results (default `on-change:<path>`, or `on-change-<n>` for selectors). */
  name?: string;
  /** Refuses a changed slice (throw); runs in the check phase, only when the slice changed. */
  check?: (next: V, prev: V) => void | Promise<void>;
}

/**
 * `onChange` for one config type, from `onChange<Config>()`: the path is
 * checked (and completed) against `C`, and `fn`'s `next` and `prev` are
 * typed by it without annotations.
 */
export interface TypedOnChange<C> {
  <P extends ConfigPath<C>>(path: P, fn: OnChangeFn<PathValue<C, P>>, options?: OnChangeOptions<PathValue<C, P>>): NextPrevHook<C>;
  <V>(select: (config: C) => V, fn: OnChangeFn<V>, options?: OnChangeOptions<V>): NextPrevHook<C>;
}

let anonymous = 0;

/**
 * Calls `fn(next, prev, ctx)` after a pass committed a config whose value at
 * `path` (a dotted path, or a selector) differs from the previous one. It
 * runs once `current()` returns the new config; a throw (or a returned
 * `'failed'`) is logged and counted (`reloadkit_after_commit_failures_total`)
 * and the config stays committed. To refuse a change, give `check`.
 *
 * Typing: a hook is made before the reloader, so it cannot learn the
 * config type from the reloader's schema. `onChange.of<Config>()` returns
 * an `onChange` for that type, which checks the path and types `next` and
 * `prev` from it: `onChange.of<Config>()('upstream.url', (next, prev) => …)`.
 * Called directly, annotate `fn`'s parameters to have them checked against
 * the config (`onChange('upstream.url', (next: string) => …)`), or pass a
 * typed selector.
 */
export function onChange<P extends string, V = unknown>(path: P, fn: OnChangeFn<V>, options?: OnChangeOptions<V>): NextPrevHook<ConfigWith<P, NoInfer<V>>>;
export function onChange<C, V>(select: (config: C) => V, fn: OnChangeFn<V>, options?: OnChangeOptions<V>): NextPrevHook<C>;
export function onChange(path: string | ((config: never) => unknown), fn: OnChangeFn<unknown>, options: OnChangeOptions<unknown> = {}): NextPrevHook<unknown> {
  refuseUnknownKeys('onChange', options, ['name', 'check']);
  const name = options.name ?? (typeof path === 'string' ? `on-change:${path}` : `on-change-${(anonymous += 1)}`);
  const sel = selection(`onChange "${name}"`, path);
  if (typeof fn !== 'function') throw new OptionsError(`onChange "${name}": fn must be a function, got ${typeof fn}`);
  const slices = (old: unknown, next: unknown) => {
    const prev = sel.pick(old);
    const now = sel.pick(next);
    return { prev, now, changed: !deepEqual(prev, now) };
  };
  const userCheck = options.check;
  return {
    name,
    args: 'next-prev',
    ...(userCheck
      ? {
          check: async (next: unknown, old: unknown) => {
            const s = slices(old, next);
            if (s.changed) await userCheck(s.now, s.prev);
          },
        }
      : {}),
    afterCommit: async (next, old, ctx) => {
      const s = slices(old, next);
      if (!s.changed) return 'skipped';
      return fn(s.now, s.prev, ctx);
    },
  };
}

/**
 * `onChange` typed for one config: `onChange.of<Config>()` (a function, not
 * an overload of onChange, which would cost the plain calls their inference).
 */
onChange.of = function of<C>(): TypedOnChange<C> {
  return onChange as TypedOnChange<C>;
};
