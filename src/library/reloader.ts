// createReloader: the library's public face. A Unit at the centre, served
// by the same runtime the daemon uses (runtime/runtime.ts): signal, watch,
// admin socket and HTTP around it, stopped in order (admin connections,
// watchers, the running pass, HTTP last).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import type { Registry } from 'prom-client';
import type { Readiness } from '../admin/host.js';
import { Redactor } from '../engine/redact.js';
import type { RestartPolicy } from '../engine/restart.js';
import { Unit, type ApplyFailurePolicy } from '../engine/unit.js';
import { lastKnownGood, type PersistOptions } from '../integrity/persist.js';
import { createVerifier, withSignatureWatch, type SignatureOptions } from '../integrity/signature.js';
import type { HttpTriggerOptions, SocketTriggerOptions, WatchTriggerOptions } from '../runtime/options.js';
import { Runtime } from '../runtime/runtime.js';
import { planWatchTrigger } from '../runtime/watch.js';
import { ReloadkitError } from '../shared/errors.js';
import { noopLogger } from '../shared/logger.js';
import type { ConfigSource, DeepReadonly, Hook, Logger, ReloadResult, Trigger } from '../shared/types.js';
import { checkSignals, onSignals, type SignalName } from '../triggers/signal.js';

export type { HttpTriggerOptions, SocketTriggerOptions, WatchTriggerOptions } from '../runtime/options.js';

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

function normalizeSignals(opt: TriggerOptions['signal']): SignalName[] {
  if (opt === undefined || opt === false) return [];
  if (opt === true) return ['SIGHUP'];
  return typeof opt === 'string' ? [opt] : [...opt];
}

function checkPersist(persist: PersistOptions | undefined): void {
  if (persist === undefined) return;
  const p = persist as Partial<PersistOptions> | null;
  if (!p || typeof p.path !== 'string' || p.path === '') throw new ReloadkitError('ERR_OPTIONS', 'persist.path: expected a file path');
  if (p.fallback !== undefined && typeof p.fallback !== 'boolean') throw new ReloadkitError('ERR_OPTIONS', 'persist.fallback: expected a boolean');
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
  const signals = normalizeSignals(options.triggers?.signal);
  checkSignals(signals);
  checkPersist(options.persist);
  const persist = options.persist === undefined ? null : lastKnownGood(options.persist, noopLogger);
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
    ...(persist === null ? {} : { extensions: [persist] }),
  });
  // Every line the reloader and its triggers write goes through the unit's redaction.
  const runtime = new Runtime({ logger: unit.logger, targetCount: () => 1 });
  runtime.add({ unit: unit as Unit<unknown>, ...(persist === null ? {} : { persistStatus: () => persist.store.status() }) });
  let state: 'new' | 'starting' | 'started' | 'closing' | 'closed' = 'new';
  let startPromise: Promise<void> | null = null;

  const startTriggers = async (): Promise<void> => {
    const t = options.triggers ?? {};
    if (signals.length > 0) runtime.addTrigger({ name: 'signal', close: onSignals(signals, () => unit.enqueue('signal')) });
    if (watchOptions) await runtime.watch(name, source.watchSpecs?.() ?? [], watchOptions);
    // Admin surfaces last; each loads only when asked for, so `import 'reloadkit'` stays light.
    const socket = typeof t.socket === 'string' ? { path: t.socket } : t.socket;
    if (socket && socket.path !== '') await runtime.startSocket(socket);
    const http = typeof t.http === 'string' ? { address: t.http } : t.http;
    if (http && http.address !== '') await runtime.startHttp(http, options.registry);
    else if (options.registry) await runtime.startMetrics(options.registry);
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
          await runtime.close(() => unit.close());
          throw err;
        }
        // close() may have begun while the triggers started: it owns the state then.
        if (state === 'starting') state = 'started';
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
    ready() {
      const r = runtime.ready();
      // While close() runs (HTTP answers until the very end) a load balancer must see "not ready".
      if ((state === 'closing' || state === 'closed') && !r.reasons.includes('shutting down')) return { ok: false, reasons: ['shutting down', ...r.reasons] };
      return r;
    },
    async close() {
      if (state === 'closed' || state === 'closing') return;
      state = 'closing';
      // A start still running is aborted (a source that hangs must not hang close) and
      // settles before triggers are torn down.
      unit.abortStart();
      if (startPromise) await startPromise.catch(() => {});
      await runtime.close(() => unit.close());
      state = 'closed';
    },
  };
  return reloader;
}
