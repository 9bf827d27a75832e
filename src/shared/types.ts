// Public types shared by the engine, its triggers and the daemon.
// Field names of ReloadResult are snake_case on purpose: they are the JSON
// JSON contract of every reply, log line and status page, and they match
// what other reload tools' replies call them.

/** Every status a reload pass can end with. */
export const RELOAD_STATUSES = ['full_success', 'partial_applied', 'apply_failed', 'rolled_back', 'validation_failed', 'load_failed', 'unchanged'] as const;
export type ReloadStatus = (typeof RELOAD_STATUSES)[number];

/** What started a pass. */
export const TRIGGERS = ['start', 'api', 'signal', 'watch', 'rescan', 'socket', 'http'] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** Statuses after which the new snapshot is in effect. */
export const COMMITTED_STATUSES: ReadonlySet<ReloadStatus> = new Set(['full_success', 'partial_applied']);
/** Statuses a pass can end with without anything going wrong. */
export const OK_STATUSES: ReadonlySet<ReloadStatus> = new Set(['full_success', 'unchanged']);

export type OutcomeStatus = 'applied' | 'skipped' | 'failed';

export interface HookOutcome {
  name: string;
  status: OutcomeStatus;
  error?: string;
  duration_ms: number;
}

/** The record of one pass; serialised as-is in socket replies, HTTP and logs. */
export interface ReloadResult {
  unit: string;
  /** Generation in effect after the pass. */
  generation: number;
  status: ReloadStatus;
  trigger: Trigger;
  outcomes: HookOutcome[];
  /** Concrete dotted paths that changed against the boot config and need a restart. */
  requires_restart: string[];
  /** What failed to load and where (file:line:col or field path). Only for `load_failed`. */
  load_error?: string;
  /** One-line reason for any status other than full_success/unchanged (reloadkit extension). */
  error?: string;
  /** SHA-256 of the candidate config's canonical JSON; for `load_failed`, of the config still in effect. */
  config_hash: string;
  /** Leaf dotted paths that differ from the config in effect before the pass; never values. */
  changed: string[];
  /**
   * For a source made of parts (dirSource fragments, layers): for each path
   * in `changed` that still has a value, the part that set it (a file,
   * `$ENV_VAR`). Absent for single-file sources.
   */
  changed_from?: Record<string, string>;
  started_at: string;
  ended_at: string;
  duration_ms: number;
  /** How many requests beyond the first this pass answered. */
  coalesced: number;
}

/** Methods whose names start with `set`, typed `never`: calling one does not compile, and the value still fits where a T is expected. */
type NoSetters<T> = { readonly [K in keyof T as K extends `set${string}` ? K : never]: never };
/** A snapshot's Date: its `set*` methods throw at run time and do not compile; it can still be passed as a Date. */
type SnapshotDate = Date & NoSetters<Date>;
/** A snapshot's URL: `href`, `port`… are read-only and `searchParams` cannot be changed; it can still be passed as a URL (`fetch(url)`). */
type SnapshotURL = Readonly<URL> & { readonly searchParams: URLSearchParams & { readonly [K in 'append' | 'delete' | 'set' | 'sort']: never } };

/**
 * Recursively read-only view of a config snapshot, as deepFreeze makes it at
 * run time: objects and arrays read-only, Map and Set as ReadonlyMap and
 * ReadonlySet, a Date without its setters, a URL with read-only parts.
 */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends Date
    ? SnapshotDate
    : T extends URL
      ? SnapshotURL
      : T extends RegExp
        ? Readonly<T>
        : T extends ReadonlyMap<infer K, infer V>
          ? ReadonlyMap<DeepReadonly<K>, DeepReadonly<V>>
          : T extends ReadonlySet<infer V>
            ? ReadonlySet<DeepReadonly<V>>
            : T extends readonly (infer E)[]
              ? readonly DeepReadonly<E>[]
              : T extends object
                ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
                : T;

/**
 * A prom-client `Registry`, as reloadkit uses it (typed here, so the
 * package's types do not need prom-client installed).
 */
export interface MetricsRegistry {
  registerMetric(metric: never): void;
  getSingleMetric(name: string): unknown;
  metrics(): Promise<string>;
}

type LogFn = (obj: Record<string, unknown>, msg?: string) => void;
/** The subset of a pino logger reloadkit uses; any pino logger satisfies it. */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

export interface HookContext {
  /** Aborted when the hook's timeout passes or the reloader closes. */
  signal: AbortSignal;
  logger: Logger;
  unit: string;
  trigger: Trigger;
}

/** What an apply may return: nothing (= applied), a status, or a status with its reason. */
export type ApplyReturn = void | undefined | OutcomeStatus | { status: OutcomeStatus; error?: string };

/**
 * A hook takes part in a pass. Every phase takes `(next, prev, ctx)`, the
 * order of every callback reloadkit calls: the config the pass moves to, the
 * config in effect before it, then the context. `check` throws (or rejects)
 * to refuse a config; `apply` makes it take effect before the swap;
 * `rollback` undoes `apply` under policy `rollback`; `afterCommit` runs after
 * the swap, when `current()` already returns the new config (flush a cache,
 * re-read derived state): it cannot fail the pass, and what it throws is
 * logged and counted. A hook has at least one of them. One hook is never
 * called twice at once. `args: 'next-prev'` says the hook takes this order
 * (hooks without it are called in the 0.1 order: `LegacyHook`, deprecated).
 */
export interface NextPrevHook<T> {
  name: string;
  /** The hook's phases take `(next, prev, ctx)`. */
  args: 'next-prev';
  check?(next: T, prev: T, ctx: HookContext): void | Promise<void>;
  apply?(next: T, prev: T, ctx: HookContext): ApplyReturn | Promise<ApplyReturn>;
  rollback?(next: T, prev: T, ctx: HookContext): void | Promise<void>;
  afterCommit?(next: T, prev: T, ctx: HookContext): ApplyReturn | Promise<ApplyReturn>;
  /** Overrides the reloader's `applyTimeoutMs` for this hook (every phase). */
  applyTimeoutMs?: number;
}

/**
 * A hook in the 0.1 argument order: `check(old, next, ctx)`,
 * `apply(ctx, old, next)`, `rollback(ctx, old, next)` (`afterCommit` already
 * took `(next, prev, ctx)`). Still called that way, with a one-time
 * `DeprecationWarning` (code `RELOADKIT_HOOK_ARGS`).
 * @deprecated Add `args: 'next-prev'` and take `(next, prev, ctx)` in every phase (`NextPrevHook`).
 */
export interface LegacyHook<T> {
  name: string;
  args?: undefined;
  check?(old: T, next: T, ctx: HookContext): void | Promise<void>;
  apply?(ctx: HookContext, old: T, next: T): ApplyReturn | Promise<ApplyReturn>;
  rollback?(ctx: HookContext, old: T, next: T): void | Promise<void>;
  afterCommit?(next: T, prev: T, ctx: HookContext): ApplyReturn | Promise<ApplyReturn>;
  /** Overrides the reloader's `applyTimeoutMs` for this hook (every phase). */
  applyTimeoutMs?: number;
}

/** A hook: `{ name, args: 'next-prev', check?, apply?, rollback?, afterCommit? }` (or, deprecated, the 0.1 order). */
export type Hook<T> = NextPrevHook<T> | LegacyHook<T>;

/** One file a source read, with the hash of the exact bytes parsed. */
export interface SourceFile {
  path: string;
  sha256: string;
  size: number;
}

export interface LoadedConfig {
  value: unknown;
  files: SourceFile[];
  /**
   * Where the value at `path` (a path present in `value`: object keys and
   * array indexes) is written, as precisely as the source knows:
   * `file:line:col`, `$ENV_VAR`…; undefined when it cannot say. Schema
   * errors start with it. Called only when validation fails, so it may
   * parse again.
   */
  locate?(path: readonly (string | number)[]): string | undefined;
  /**
   * For a source made of parts (fragments, layers): which part set the
   * value at `path` (a path present in `value`): a file, `$ENV_VAR`. Cheap;
   * results list it for each changed path (`changed_from`).
   */
  origin?(path: readonly (string | number)[]): string | undefined;
  /**
   * Values the source typed from environment text (`"8080"` read as 8080),
   * at their paths in `value`, with that text: where the schema refuses the
   * typed value, validation is tried again with the text. Called only when
   * validation fails.
   */
  typedTexts?(): readonly { path: readonly (string | number)[]; text: string }[];
}

export interface LoadContext {
  signal: AbortSignal;
  /**
   * Set when the unit requires signatures: called with every file's exact
   * bytes before they are parsed; throws when the signature does not verify.
   */
  verify?: (path: string, bytes: Uint8Array) => void | Promise<void>;
}

/** Something the watcher should observe for a source. */
export interface WatchSpec {
  path: string;
  /** Watch a directory tree instead of a single file. */
  recursive?: boolean;
  /** For directories: which entries (path relative to `path`) matter. */
  filter?: (relativePath: string) => boolean;
}

/** Where a unit's config comes from. Implement it for custom sources. */
export interface ConfigSource {
  /** Human description for messages, e.g. the file path. */
  readonly description: string;
  load(ctx: LoadContext): Promise<LoadedConfig>;
  /** Paths whose change should start a pass when `triggers.watch` is on. */
  watchSpecs?(): WatchSpec[];
  /** True when `load` calls `ctx.verify` for every file it parses. */
  readonly verifiesSignatures?: boolean;
  /**
   * For sources that notice their own changes (etcdSource): with
   * `triggers.watch`, called once the unit started instead of watching
   * files; calls `changed()` once per change. The handle is closed with the
   * reloader.
   */
  watchChanges?(changed: () => void, logger: Logger): Promise<{ close(): Promise<void> | void }>;
}
