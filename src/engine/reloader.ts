// createReloader: the library's public face. A Unit at the centre, with its
// triggers (signal, watch, socket, HTTP) started around it and stopped in
// the order of SPEC §3: admin connections, watchers, the running pass, HTTP.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Registry } from 'prom-client';
import type { AdminHost, Readiness } from '../admin/host.js';
import type { PersistOptions } from '../integrity/persist.js';
import { Redactor } from '../integrity/redact.js';
import { createVerifier, withSignatureWatch, type SignatureOptions } from '../integrity/signature.js';
import { checkSignals, onSignals, type SignalName } from '../triggers/signal.js';
import { DeferredWatchCounters, planWatchTrigger, startWatchTrigger } from '../triggers/watch-trigger.js';
import type { DeepReadonly, Hook, Logger, ReloadResult, Trigger } from '../types.js';
import { errorMessage, ReloadkitError, UnknownUnitError } from './errors.js';
import { noopLogger } from './logger.js';
import type { RestartPolicy } from './restart.js';
import { Unit, type ApplyFailurePolicy } from './unit.js';
import type { ConfigSource } from '../types.js';

export interface WatchTriggerOptions {
  /** Quiet period that coalesces a burst of events (default 100 ms). */
  debounceMs?: number;
  /** Longest a pass waits under constant writes (default 1000 ms). */
  maxWaitMs?: number;
  /** Periodic full rescan (default 30 000 ms; 0 disables). */
  rescanMs?: number;
}

export interface SocketTriggerOptions {
  path: string;
  /** File mode of the socket (default 0o600), set before the socket is reachable. */
  mode?: number;
  /** Group (name or id) to own the socket, e.g. with mode 0o660. */
  group?: string | number;
  /** Concurrent connections served (default 1024); excess ones get an error reply. */
  maxConnections?: number;
}

export interface HttpTriggerOptions {
  /** `host:port`, e.g. `127.0.0.1:9111`. */
  address: string;
  /** Allow POST /reload (default false). */
  reload?: boolean;
  /** Bearer token POST /reload requires. */
  token?: string;
  /** Allow a non-loopback address (default false). */
  allowRemote?: boolean;
}

export interface TriggerOptions {
  /** Signal(s) that request a reload; `true` means SIGHUP. */
  signal?: SignalName | readonly SignalName[] | boolean;
  /** Watch the source's files; `true` uses the defaults. */
  watch?: boolean | WatchTriggerOptions;
  /** Admin socket path (or options); `""` disables. */
  socket?: string | SocketTriggerOptions;
  /** HTTP admin address (or options); `""` disables. */
  http?: string | HttpTriggerOptions;
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
   * Require a detached Ed25519 signature `FILE.sig` for every source file
   * (SPEC §6). The source must verify (fileSource and dirSource do).
   */
  signature?: SignatureOptions;
  /** Last known good: write each committed config to `path` (0600); `fallback` starts from it when the source is broken. */
  persist?: PersistOptions;
  logger?: Logger;
  /** prom-client registry to register reloadkit's metrics in. */
  registry?: Registry;
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
  /** Runs a pass (or joins the pending one) and resolves with its result. */
  reload(options?: { trigger?: Trigger }): Promise<ReloadResult>;
  /** Ready when the initial load succeeded and every trigger works. */
  ready(): Readiness;
  close(): Promise<void>;
}

/** A started trigger: stopped on close, and asked whether it still works. */
export interface TriggerHandle {
  readonly name: string;
  close(): Promise<void> | void;
  health?(): { ok: boolean; reason?: string };
  /** Closed after the unit (HTTP: it reports until the very end). */
  closeLast?: boolean;
}

function normalizeSignals(opt: TriggerOptions['signal']): SignalName[] {
  if (opt === undefined || opt === false) return [];
  if (opt === true) return ['SIGHUP'];
  return typeof opt === 'string' ? [opt] : [...opt];
}

export function createReloader<T = unknown>(options: ReloaderOptions<T>): Reloader<T> {
  if (!options || typeof options !== 'object') throw new ReloadkitError('ERR_OPTIONS', 'createReloader needs an options object');
  if (!options.source || typeof options.source.load !== 'function') {
    throw new ReloadkitError('ERR_OPTIONS', 'createReloader needs a source (fileSource, dirSource or an object with load())');
  }
  const name = options.name ?? 'app';
  // With signatures, the watcher also watches each file's `.sig`.
  const source = options.signature === undefined ? options.source : withSignatureWatch(options.source);
  const watchOptions = planWatchTrigger(source, options.triggers?.watch);
  checkSignals(normalizeSignals(options.triggers?.signal));
  if (options.persist !== undefined) {
    const p = options.persist as Partial<PersistOptions> | null;
    if (!p || typeof p.path !== 'string' || p.path === '') throw new ReloadkitError('ERR_OPTIONS', 'persist.path: expected a file path');
    if (p.fallback !== undefined && typeof p.fallback !== 'boolean') throw new ReloadkitError('ERR_OPTIONS', 'persist.fallback: expected a boolean');
  }
  const unit = new Unit<DeepReadonly<T>>({
    name,
    source,
    schema: options.schema,
    restartRequired: options.restartRequired,
    hooks: options.hooks,
    onApplyFailure: options.onApplyFailure,
    applyTimeoutMs: options.applyTimeoutMs,
    historySize: options.historySize,
    logger: options.logger ?? noopLogger,
    redactor: Redactor.fromOptions(options.redact),
    ...(options.signature === undefined ? {} : { verify: createVerifier(options.signature) }),
    persist: options.persist,
  });
  // Every line the reloader and its triggers write goes through the unit's redaction.
  const logger = unit.logger;
  const startedAt = Date.now();
  // Stopped in reverse start order, except `closeLast` ones (HTTP) which outlive the unit.
  const triggers: TriggerHandle[] = [];
  let state: 'new' | 'starting' | 'started' | 'closing' | 'closed' = 'new';
  let startPromise: Promise<void> | null = null;

  const host: AdminHost = {
    startedAt,
    targetCount: () => 1,
    units: () => [
      {
        name,
        get generation() {
          return unit.generation;
        },
        lastResult: () => unit.lastResult(),
        pendingRestart: () => unit.pendingRestart(),
      },
    ],
    reload: async (u, trigger) => {
      if (u !== undefined && u !== name) throw new UnknownUnitError(u);
      return { [name]: await unit.reload(trigger) };
    },
    enqueue: (u, trigger) => {
      if (u !== undefined && u !== name) throw new UnknownUnitError(u);
      if (unit.isClosed) throw new ReloadkitError('ERR_CLOSED', 'shutting down');
      unit.enqueue(trigger);
    },
    ready: () => readiness(),
  };

  const readiness = (): Readiness => {
    const reasons: string[] = [];
    // While shutting down (HTTP answers until the very end) a load balancer must see "not ready".
    if (state === 'closing' || state === 'closed') reasons.push(`${name}: shutting down`);
    else if (!unit.started) reasons.push(`${name}: initial config not loaded`);
    const degraded = unit.degradedReason();
    if (degraded !== null) reasons.push(`${name}: ${degraded}`);
    for (const t of triggers) {
      const h = t.health?.();
      if (h && !h.ok) reasons.push(`${t.name}: ${h.reason ?? 'not working'}`);
    }
    const last = unit.lastResult();
    if (last && last.status !== 'full_success' && last.status !== 'unchanged') {
      reasons.push(`${name}: last reload ${last.status}${last.error ? `: ${last.error}` : ''}`);
    }
    return { ok: reasons.length === 0, reasons };
  };

  const startTriggers = async (): Promise<void> => {
    const t = options.triggers ?? {};
    const signals = normalizeSignals(t.signal);
    if (signals.length > 0) {
      const off = onSignals(signals, () => unit.enqueue('signal'));
      triggers.push({ name: 'signal', close: off });
    }
    // Counted in the admin metrics; they start after the watcher, so counts wait for them.
    const watchCounters = new DeferredWatchCounters();
    if (watchOptions && source.watchChanges) {
      // A source that watches itself (etcd): each change is one request, as for a file event.
      const handle = await source.watchChanges(() => unit.enqueue('watch'), logger);
      triggers.push({ name: 'watch', close: () => handle.close() });
    } else if (watchOptions) {
      const watch = await startWatchTrigger({
        unit: name,
        source,
        options: watchOptions,
        logger,
        enqueue: (trigger) => unit.enqueue(trigger),
        initialFiles: unit.current().files,
        counters: () => watchCounters,
      });
      triggers.push(watch);
    }
    // Admin surfaces last, so the socket is the first trigger closed (SPEC §3).
    // Loaded only when asked for: `import 'reloadkit'` stays light.
    if (t.socket || t.http || options.registry) {
      const { startAdminTriggers } = await import('../admin/wire.js');
      const admin = await startAdminTriggers({ socket: t.socket, http: t.http, registry: options.registry, host, unit, logger });
      triggers.push(...admin.triggers);
      if (admin.metrics) watchCounters.attach(admin.metrics);
    }
  };

  const stop = async (list: TriggerHandle[]) => {
    for (const t of list.reverse()) {
      try {
        await t.close();
      } catch (err) {
        logger.error({ unit: name, trigger: t.name, err: errorMessage(err) }, 'closing trigger failed');
      }
    }
  };

  const reloader: Reloader<T> = {
    name,
    start() {
      if (state === 'closing' || state === 'closed') {
        return Promise.reject(new ReloadkitError('ERR_CLOSED', `reloader "${name}" is closed`));
      }
      startPromise ??= (async () => {
        state = 'starting';
        await unit.start();
        try {
          await startTriggers();
        } catch (err) {
          // A failed start leaves nothing behind: no signal handler, watcher or socket keeps the process alive.
          await stop(triggers.splice(0));
          throw err;
        }
        state = 'started';
      })();
      return startPromise;
    },
    current: () => unit.current().config,
    get generation() {
      return unit.generation;
    },
    lastResult: () => unit.lastResult(),
    history: () => unit.history(),
    pendingRestart: () => unit.pendingRestart(),
    subscribe: (select, fn) => unit.subscribe(select, fn),
    reload: (opts) => unit.reload(opts?.trigger ?? 'api'),
    ready: readiness,
    async close() {
      if (state === 'closed' || state === 'closing') return;
      state = 'closing';
      // A start still running is aborted (a source that hangs must not hang close) and
      // settles before triggers are torn down.
      unit.abortStart();
      if (startPromise) await startPromise.catch(() => {});
      await stop(triggers.filter((t) => !t.closeLast));
      await unit.close();
      await stop(triggers.filter((t) => t.closeLast));
      triggers.length = 0;
      state = 'closed';
    },
  };
  return reloader;
}
