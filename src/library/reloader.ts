// createReloader: the library's public face. A Unit at the centre, served
// by the same runtime the daemon uses (runtime/runtime.ts): signal, watch,
// admin socket and HTTP around it, stopped in order (admin connections,
// watchers, the running pass, HTTP last).
import { Redactor } from '../engine/redact.js';
import { Unit } from '../engine/unit.js';
import { lastKnownGood } from '../integrity/persist.js';
import { createVerifier, withSignatureWatch } from '../integrity/signature.js';
import { Runtime } from '../runtime/runtime.js';
import { planWatchTrigger } from '../runtime/watch.js';
import { errorMessage, ReloadkitError } from '../shared/errors.js';
import { noopLogger } from '../shared/logger.js';
import type { DeepReadonly } from '../shared/types.js';
import { checkSignals, onSignals } from '../triggers/signal.js';
import { checkPoll, startPolling } from '../triggers/poll.js';
import { checkOptions, checkReloadOptions, normalizeSignals, type Reloader, type ReloaderOptions } from './options.js';

export type { ConfigOf, Reloader, ReloaderOptions, ReloadOptions, TriggerOptions } from './options.js';
export type { HttpTriggerOptions, SocketTriggerOptions, WatchTriggerOptions } from '../runtime/options.js';

export function createReloader<T = unknown>(options: ReloaderOptions<T>): Reloader<T> {
  checkOptions(options);
  const name = options.name ?? 'app';
  // With signatures, the watcher also watches each file's `.sig`.
  const source = options.signature === undefined ? options.source : withSignatureWatch(options.source);
  const watchOptions = planWatchTrigger(source, options.triggers?.watch);
  const signals = normalizeSignals(options.triggers?.signal);
  const pollMs = checkPoll(options.triggers?.poll);
  checkSignals(signals);
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
    if (pollMs !== null) {
      const look = () =>
        unit.reload('rescan', false).catch((err: unknown) => {
          if (!unit.isClosed) unit.logger.error({ unit: name, trigger: 'rescan', err: errorMessage(err) }, 'poll failed');
        });
      runtime.addTrigger({ name: 'poll', close: startPolling(pollMs, look) });
    }
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
    async reload(opts) {
      const { trigger = 'api', ifChanged } = checkReloadOptions(opts);
      // Not explicit: the pass stops at `unchanged` when the content hash is the same. Left
      // out, it follows the trigger (a `watch` or `rescan` look is not explicit).
      return unit.reload(trigger, ifChanged === undefined ? undefined : !ifChanged);
    },
    ready(opts) {
      const r = runtime.ready(opts);
      // While close() runs (HTTP answers until the very end) a load balancer must see "not ready".
      if ((state === 'closing' || state === 'closed') && !r.reasons.includes('shutting down'))
        return { ...r, ok: false, reasons: ['shutting down', ...r.reasons] };
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
