// createReloader's options and the Reloader it returns, and the checks that
// refuse a bad option with an OptionsError naming it (before anything starts).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Readiness, ReadinessOptions } from '../admin/host.js';
import type { RestartPolicy } from '../engine/restart.js';
import type { ApplyFailurePolicy } from '../engine/unit.js';
import type { PersistOptions } from '../integrity/persist.js';
import type { SignatureOptions } from '../integrity/signature.js';
import type { HttpTriggerOptions, SocketTriggerOptions, WatchTriggerOptions } from '../runtime/options.js';
import { errorMessage, OptionsError, refuseUnknownKeys } from '../shared/errors.js';
import { parseHttpAddress } from '../shared/http-address.js';
import {
  TRIGGERS,
  type ConfigSource,
  type DeepReadonly,
  type Hook,
  type Logger,
  type MetricsRegistry,
  type ReloadResult,
  type Trigger,
} from '../shared/types.js';
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

/** What `createReloader` takes. Only `source` is required; every bad option is refused with an `OptionsError` naming it. */
export interface ReloaderOptions<T> {
  /** Unit name in results, logs and metrics (default `app`). */
  name?: string;
  /**
   * Where the config comes from: `fileSource(path)`, `dirSource(dir)`, or any
   * object with `description` and `load()` (a custom source).
   */
  source: ConfigSource;
  /**
   * Any Standard Schema validator (zod, valibot, arktype…); its output type is
   * the config type. Without one the config is `unknown`, checked by nothing.
   */
  schema?: StandardSchemaV1<unknown, T>;
  /**
   * Settings a running process cannot change: dotted paths with `*` and `[*]`
   * (`server.port`, `backends[*].url`), compared with the config the process
   * started with. `policy: 'warn'` (default) applies the rest and reports the
   * paths in `requires_restart` and `pendingRestart()` until they are back to
   * their start values; `'reject'` refuses the whole pass (`validation_failed`).
   */
  restartRequired?: { paths: readonly string[]; policy?: RestartPolicy };
  /**
   * What makes the service follow the config, run in order on every pass:
   * your own `{ name, check?, apply?, rollback?, afterCommit? }` objects and
   * the built-in `logLevelHook`, `tlsHook`, `onChange`. Typed by the schema
   * (`NoInfer` keeps hooks from widening the config type).
   */
  hooks?: readonly Hook<NoInfer<DeepReadonly<T>>>[];
  /**
   * When a hook's apply fails: `'keep-partial'` (default) commits the new
   * config unless every hook that ran failed (`partial_applied`);
   * `'rollback'` undoes the hooks that applied and keeps the old config
   * (`rolled_back`).
   */
  onApplyFailure?: ApplyFailurePolicy;
  /** Per-hook timeout for check, apply, rollback and afterCommit, in ms (default 10 000); a hook's own `applyTimeoutMs` overrides it. */
  applyTimeoutMs?: number;
  /** How many results history() keeps (default 50). */
  historySize?: number;
  /**
   * What else starts a pass besides `reload()`: a signal (`signal: 'SIGHUP'`),
   * file watching (`watch: true`), an admin socket (`socket: path`) and an
   * HTTP admin server (`http: '127.0.0.1:9111'`, which needs prom-client).
   */
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
  /**
   * Where passes, warnings and errors go: any pino logger (or an object with
   * `debug`, `info`, `warn` and `error`). Without one, warnings and errors are
   * written to stderr as one JSON line each and nothing else is; `false`
   * silences everything.
   */
  logger?: Logger | false;
  /**
   * A prom-client `Registry` to add reloadkit's metrics to. Metrics (this, or
   * `triggers.http`) need prom-client installed: `npm i prom-client`.
   */
  registry?: MetricsRegistry;
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

/**
 * A running config: `start()` it, read `current()` whenever a value is
 * needed, and `close()` it on shutdown. Every reload, whatever started it,
 * goes through one queue and ends with a `ReloadResult`.
 */
export interface Reloader<T> {
  /** The unit's name (`options.name`, default `app`). */
  readonly name: string;
  /**
   * First load: generation 0, hooks do not run (build the service from
   * `current()`), then the triggers start. Rejects with a clear error if the
   * config cannot be loaded or is invalid (unless `persist.fallback` has a
   * last known good config), or if a trigger cannot start.
   */
  start(): Promise<void>;
  /** The deep-frozen config in effect: read it each time you need a value; a reload swaps it whole. */
  current(): DeepReadonly<T>;
  /** 0 after start(); +1 for every committed pass. */
  readonly generation: number;
  /** The result of the latest pass, or `null` before the first reload. */
  lastResult(): ReloadResult | null;
  /** The latest results, oldest first (at most `historySize`). */
  history(): readonly ReloadResult[];
  /** Restart-required paths changed since the process started. */
  pendingRestart(): readonly string[];
  /** Calls `fn` after a committed pass changed the selected slice. Returns an unsubscribe function. */
  subscribe<U>(select: (config: DeepReadonly<T>) => U, fn: (next: U, prev: U, result: ReloadResult) => void): () => void;
  /**
   * Runs a pass (or joins the pending one) and resolves with its result; it
   * never rejects for a bad config (the result's `status` says what
   * happened), only with a `ShutdownError` after `close()`. By default the
   * hooks run even when the content is the same (an explicit reload
   * re-applies); with `ifChanged: true` a pass whose config hash equals the
   * one in effect ends `unchanged` without calling them. `trigger` is what
   * the result and metrics report (default `'api'`).
   */
  reload(options?: ReloadOptions): Promise<ReloadResult>;
  /**
   * Ready while it serves a valid config: the initial load succeeded (or it
   * started from its last known good file) and every watcher works (polling
   * counts). A refused reload does not make it unready; it is listed in
   * `degraded`. `{ strict: true }` counts `degraded` as not ready.
   */
  ready(options?: ReadinessOptions): Readiness;
  /**
   * Stops everything in order: admin connections, signal handlers and
   * watchers, the running pass (its hooks see `ctx.signal` abort), then
   * HTTP. Waiting reloads get a `ShutdownError`. Safe to call twice, or
   * before `start()`.
   */
  close(): Promise<void>;
}

/** The config type of a schema or a reloader, deep-readonly as hooks and `current()` see it. */
export type ConfigOf<X> = X extends Reloader<infer T> ? DeepReadonly<T> : X extends StandardSchemaV1<unknown, infer O> ? DeepReadonly<O> : never;

/** Refuses what `reload()` cannot take, with the same OptionsError as createReloader's options. */
export function checkReloadOptions(options: unknown): ReloadOptions {
  if (options === undefined) return {};
  if (!isObject(options)) throw new OptionsError(`reload: expected an options object, got ${describe(options)}`);
  refuseUnknownKeys('reload', options, ['trigger', 'ifChanged']);
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
  'triggers.socket': ['path', 'mode', 'group', 'maxConnections'],
  'triggers.http': ['address', 'reload', 'token', 'allowRemote', 'maxConnections', 'headersTimeoutMs', 'requestTimeoutMs', 'maxEventClients'],
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

function objectOption(name: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) throw new OptionsError(`${name}: expected an object, got ${describe(value)}`);
  refuseUnknownKeys(name, value, KNOWN[name]!);
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

/** `triggers.socket`: a path (`""` disables) or `{ path, mode?, group?, maxConnections? }`; the values are checked when it starts. */
function checkSocketTrigger(value: unknown): void {
  if (value === undefined || typeof value === 'string') return;
  if (!isObject(value)) throw new OptionsError(`triggers.socket: expected a socket path or { path, mode?, group?, maxConnections? }, got ${describe(value)}`);
  const socket = objectOption('triggers.socket', value)!;
  if (typeof socket.path !== 'string') throw new OptionsError(`triggers.socket.path: expected a socket path ("" disables it), got ${describe(socket.path)}`);
}

/** `triggers.http`: an address (`""` disables) or `{ address, reload?, token?, … }`, the address parsed now rather than at start(). */
function checkHttpTrigger(value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'string' && !isObject(value))
    throw new OptionsError(`triggers.http: expected host:port or { address, reload?, token?, … }, got ${describe(value)}`);
  const http = typeof value === 'string' ? { address: value } : objectOption('triggers.http', value)!;
  const name = typeof value === 'string' ? 'triggers.http' : 'triggers.http.address';
  if (typeof http.address !== 'string')
    throw new OptionsError(`${name}: expected host:port (e.g. 127.0.0.1:9111), or "" to disable, got ${describe(http.address)}`);
  if (http.address === '') return;
  try {
    parseHttpAddress(http.address);
  } catch (err) {
    throw new OptionsError(`${name}: ${errorMessage(err)}`, { cause: err });
  }
  for (const flag of ['reload', 'allowRemote']) {
    if (http[flag] !== undefined && typeof http[flag] !== 'boolean')
      throw new OptionsError(`triggers.http.${flag}: expected a boolean, got ${describe(http[flag])}`);
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
  refuseUnknownKeys('createReloader', options, KNOWN.options!);
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
      throw new OptionsError(`hooks[${i}]: expected { name, args: 'next-prev', check?, apply?, rollback?, afterCommit? }`);
    if (typeof h.apply !== 'function' && typeof h.check !== 'function' && typeof h.afterCommit !== 'function') {
      throw new OptionsError(`hooks[${i}] "${h.name}": needs a check, apply or afterCommit function`);
    }
    if (h.args !== undefined && h.args !== 'next-prev') {
      throw new OptionsError(`hooks[${i}] "${h.name}": args: expected 'next-prev' (every phase takes (next, prev, ctx)), got ${describe(h.args)}`);
    }
    positiveInteger(`hooks[${i}] "${h.name}": applyTimeoutMs`, h.applyTimeoutMs, MAX_MS);
  });
  oneOf('onApplyFailure', options.onApplyFailure, ['keep-partial', 'rollback']);
  positiveInteger('applyTimeoutMs', options.applyTimeoutMs, MAX_MS);
  positiveInteger('historySize', options.historySize);
  const triggers = objectOption('triggers', options.triggers);
  checkPoll(triggers?.poll);
  checkSocketTrigger(triggers?.socket);
  checkHttpTrigger(triggers?.http);
  const redact = objectOption('redact', options.redact);
  if (redact?.keys !== undefined && !Array.isArray(redact.keys)) throw new OptionsError('redact.keys: expected an array of strings or RegExps');
  if (redact?.defaults !== undefined && typeof redact.defaults !== 'boolean') throw new OptionsError('redact.defaults: expected a boolean');
  const persist = objectOption('persist', options.persist);
  if (persist) {
    if (typeof persist.path !== 'string' || persist.path === '') throw new OptionsError('persist.path: expected a file path');
    if (persist.fallback !== undefined && typeof persist.fallback !== 'boolean') throw new OptionsError('persist.fallback: expected a boolean');
  }
  if (options.registry !== undefined) {
    const reg = options.registry;
    if (!isObject(reg) || typeof reg.registerMetric !== 'function' || typeof reg.getSingleMetric !== 'function') {
      throw new OptionsError(`registry: expected a prom-client Registry, got ${describe(reg)}`);
    }
  }
  if (options.logger !== undefined && options.logger !== false) {
    const l = options.logger;
    if (!isObject(l) || !['debug', 'info', 'warn', 'error'].every((m) => typeof l[m] === 'function')) {
      throw new OptionsError('logger: expected a logger with debug, info, warn and error methods (a pino logger), or false');
    }
  }
}
