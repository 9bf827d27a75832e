// createReloader's options and the Reloader it returns, and the checks that
// refuse a bad option with an OptionsError naming it (before anything starts).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Registry } from 'prom-client';
import type { Readiness, ReadinessOptions } from '../admin/host.js';
import type { RestartPolicy } from '../engine/restart.js';
import type { ApplyFailurePolicy } from '../engine/unit.js';
import type { PersistOptions } from '../integrity/persist.js';
import type { SignatureOptions } from '../integrity/signature.js';
import type { HttpTriggerOptions, SocketTriggerOptions, WatchTriggerOptions } from '../runtime/options.js';
import { OptionsError } from '../shared/errors.js';
import { TRIGGERS, type ConfigSource, type DeepReadonly, type Hook, type Logger, type ReloadResult, type Trigger } from '../shared/types.js';
import { checkPoll } from '../triggers/poll.js';
import type { SignalName } from '../triggers/signal.js';

export interface TriggerOptions {
  /** Signal(s) that request a reload; `true` means SIGHUP. */
  signal?: SignalName | readonly SignalName[] | boolean;
  /** Watch the source's files; `true` uses the defaults. */
  watch?: boolean | WatchTriggerOptions;
  /** Admin socket path (or options); `""` disables. */
  socket?: string | SocketTriggerOptions;
  /** HTTP admin address (or options); `""` disables. */
  http?: string | HttpTriggerOptions;
  /**
   * Look at the source every interval (`'30s'`, `'5m'`, or milliseconds) and
   * run a pass when its content changed, as `reload({ ifChanged: true })`
   * does; the result's trigger is `rescan`. For sources that cannot be
   * watched (a custom source, a network file system). `0` or `false`: off.
   */
  poll?: number | string | false;
}

export interface ReloaderOptions<T> {
  /** Unit name in results, logs and metrics (default `app`). */
  name?: string;
  source: ConfigSource;
  /** Any Standard Schema validator (zod, valibot, arktype…); its output type is the config type. */
  schema?: StandardSchemaV1<unknown, T>;
  restartRequired?: { paths: readonly string[]; policy?: RestartPolicy };
  /** Typed by the schema; `NoInfer` keeps hooks from widening the config type. */
  hooks?: readonly Hook<NoInfer<DeepReadonly<T>>>[];
  onApplyFailure?: ApplyFailurePolicy;
  /** Per-hook timeout for check, apply and rollback (default 10 000 ms). */
  applyTimeoutMs?: number;
  /** How many results history() keeps (default 50). */
  historySize?: number;
  triggers?: TriggerOptions;
  /**
   * Secret-looking key names, added to the defaults (password, secret, token,
   * *key, credential…). A string matches a whole name compared lower-case
   * without `_`, `-`, `.`, spaces; a RegExp is tested against that form.
   * `defaults: false` uses only `keys`.
   */
  redact?: { keys?: readonly (string | RegExp)[]; defaults?: boolean };
  /**
   * Require a detached Ed25519 signature `FILE.sig` for every source file.
   * The source must verify (fileSource and dirSource do).
   */
  signature?: SignatureOptions;
  /** Last known good: write each committed config to `path` (0600); `fallback` starts from it when the source is broken. */
  persist?: PersistOptions;
  logger?: Logger;
  /** prom-client registry to register reloadkit's metrics in. */
  registry?: Registry;
}

export interface ReloadOptions {
  /** What the result reports as its trigger (default `api`). */
  trigger?: Trigger;
  /**
   * End `unchanged`, running no hook, when the content is the same as the
   * config in effect. Default false, except with `trigger: 'watch'` or
   * `'rescan'` (a look at the files, as the watcher and `triggers.poll` make).
   */
  ifChanged?: boolean;
}

export interface Reloader<T> {
  readonly name: string;
  /** First load: generation 0, hooks do not run; rejects with a clear error if the config is invalid. */
  start(): Promise<void>;
  /** The deep-frozen config in effect. */
  current(): DeepReadonly<T>;
  readonly generation: number;
  lastResult(): ReloadResult | null;
  history(): readonly ReloadResult[];
  /** Restart-required paths changed since the process started. */
  pendingRestart(): readonly string[];
  /** Calls `fn` after a committed pass changed the selected slice. Returns an unsubscribe function. */
  subscribe<U>(select: (config: DeepReadonly<T>) => U, fn: (next: U, prev: U, result: ReloadResult) => void): () => void;
  /**
   * Runs a pass (or joins the pending one) and resolves with its result.
   * By default the hooks run even when the content is the same (an explicit
   * reload re-applies); with `ifChanged: true` a pass whose config hash
   * equals the one in effect ends `unchanged` without calling them.
   * `trigger` is what the result reports (default `api`).
   */
  reload(options?: ReloadOptions): Promise<ReloadResult>;
  /**
   * Ready while it serves a valid config: the initial load succeeded (or it
   * started from its last known good file) and every watcher works (polling
   * counts). A refused reload does not make it unready; it is listed in
   * `degraded`. `{ strict: true }` counts `degraded` as not ready.
   */
  ready(options?: ReadinessOptions): Readiness;
  close(): Promise<void>;
}

/** The config type of a schema or a reloader, deep-readonly as hooks and `current()` see it. */
export type ConfigOf<X> = X extends Reloader<infer T> ? DeepReadonly<T> : X extends StandardSchemaV1<unknown, infer O> ? DeepReadonly<O> : never;

/** Refuses what `reload()` cannot take, with the same OptionsError as createReloader's options. */
export function checkReloadOptions(options: unknown): ReloadOptions {
  if (options === undefined) return {};
  if (!isObject(options)) throw new OptionsError(`reload: expected an options object, got ${describe(options)}`);
  onlyKnown('reload', options, ['trigger', 'ifChanged']);
  oneOf('reload.trigger', options.trigger, TRIGGERS);
  if (options.ifChanged !== undefined && typeof options.ifChanged !== 'boolean') {
    throw new OptionsError(`reload.ifChanged: expected a boolean, got ${describe(options.ifChanged)}`);
  }
  return options as ReloadOptions;
}

export function normalizeSignals(opt: TriggerOptions['signal']): SignalName[] {
  if (opt === undefined || opt === false) return [];
  if (opt === true) return ['SIGHUP'];
  return typeof opt === 'string' ? [opt] : [...opt];
}

const KNOWN: Record<string, readonly string[]> = {
  options: [
    'name',
    'source',
    'schema',
    'restartRequired',
    'hooks',
    'onApplyFailure',
    'applyTimeoutMs',
    'historySize',
    'triggers',
    'redact',
    'signature',
    'persist',
    'logger',
    'registry',
  ],
  restartRequired: ['paths', 'policy'],
  triggers: ['signal', 'watch', 'socket', 'http', 'poll'],
  redact: ['keys', 'defaults'],
  persist: ['path', 'fallback'],
};

/** setTimeout's ceiling. */
const MAX_MS = 2 ** 31 - 1;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null) return 'null';
  return typeof v === 'number' || typeof v === 'boolean' ? String(v) : typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

function onlyKnown(where: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (value[key] !== undefined && !known.includes(key)) {
      throw new OptionsError(`${where === 'options' ? '' : `${where}.`}${key}: unknown option (known: ${known.join(', ')})`);
    }
  }
}

function objectOption(name: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new OptionsError(`${name}: expected an object, got ${describe(value)}`);
  onlyKnown(name, value, KNOWN[name]!);
  return value;
}

function oneOf(name: string, value: unknown, allowed: readonly string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) {
    throw new OptionsError(`${name}: expected ${allowed.map((a) => `'${a}'`).join(' or ')}, got ${describe(value)}`);
  }
}

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new OptionsError(`${name}: expected a whole number from 1 to ${max}, got ${describe(value)}`);
  }
}

/**
 * Every option of createReloader, checked before anything starts: unknown
 * keys, wrong types and out-of-range values are refused with an
 * OptionsError (`ERR_OPTIONS`) naming the option. Trigger, signature and
 * hook details are checked where they are built, with the same error.
 */
export function checkOptions(options: unknown): void {
  if (!isObject(options)) throw new OptionsError('createReloader needs an options object');
  onlyKnown('options', options, KNOWN.options!);
  const source = options.source;
  if (!isObject(source) || typeof source.load !== 'function') {
    throw new OptionsError('source: expected fileSource(), dirSource() or an object with load()');
  }
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) throw new OptionsError('name: expected a non-empty string');
  if (options.schema !== undefined && typeof (options.schema as Partial<StandardSchemaV1> | null)?.['~standard']?.validate !== 'function') {
    throw new OptionsError('schema: not a Standard Schema validator (no ~standard.validate); zod >= 3.24, valibot >= 1 and arktype >= 2 are');
  }
  const restart = objectOption('restartRequired', options.restartRequired);
  if (restart) {
    if (!Array.isArray(restart.paths)) throw new OptionsError(`restartRequired.paths: expected an array of dotted paths, got ${describe(restart.paths)}`);
    oneOf('restartRequired.policy', restart.policy, ['warn', 'reject']);
  }
  if (options.hooks !== undefined && !Array.isArray(options.hooks)) throw new OptionsError(`hooks: expected an array of hooks, got ${describe(options.hooks)}`);
  (options.hooks as unknown[] | undefined)?.forEach((h, i) => {
    if (!isObject(h) || typeof h.name !== 'string' || h.name === '')
      throw new OptionsError(`hooks[${i}]: expected { name, check?, apply?, rollback?, afterCommit? }`);
    if (typeof h.apply !== 'function' && typeof h.check !== 'function' && typeof h.afterCommit !== 'function') {
      throw new OptionsError(`hooks[${i}] "${h.name}": needs a check, apply or afterCommit function`);
    }
  });
  oneOf('onApplyFailure', options.onApplyFailure, ['keep-partial', 'rollback']);
  positiveInteger('applyTimeoutMs', options.applyTimeoutMs, MAX_MS);
  positiveInteger('historySize', options.historySize);
  const triggers = objectOption('triggers', options.triggers);
  checkPoll(triggers?.poll);
  const redact = objectOption('redact', options.redact);
  if (redact?.keys !== undefined && !Array.isArray(redact.keys)) throw new OptionsError('redact.keys: expected an array of strings or RegExps');
  if (redact?.defaults !== undefined && typeof redact.defaults !== 'boolean') throw new OptionsError('redact.defaults: expected a boolean');
  const persist = objectOption('persist', options.persist);
  if (persist) {
    if (typeof persist.path !== 'string' || persist.path === '') throw new OptionsError('persist.path: expected a file path');
    if (persist.fallback !== undefined && typeof persist.fallback !== 'boolean') throw new OptionsError('persist.fallback: expected a boolean');
  }
  if (options.logger !== undefined) {
    const l = options.logger;
    if (!isObject(l) || !['debug', 'info', 'warn', 'error'].every((m) => typeof l[m] === 'function')) {
      throw new OptionsError('logger: expected a logger with debug, info, warn and error methods (a pino logger)');
    }
  }
}
