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
import { errorMessage, ReloadkitError, ShutdownError } from '../shared/errors.js';
import { noopLogger, stderrLogger } from '../shared/logger.js';
import type { ConfigSource, DeepReadonly } from '../shared/types.js';
import type { WatchTriggerOptions } from '../runtime/options.js';
import { checkSignals, onSignals } from '../triggers/signal.js';
import { checkPoll, startPolling } from '../triggers/poll.js';
import { checkOptions, checkReloadOptions, normalizeSignals, type Reloader, type ReloaderOptions } from './options.js';

export type { ConfigOf, Reloader, ReloaderOptions, ReloadOptions, TriggerOptions } from './options.js';
export type { HttpTriggerOptions, SocketTriggerOptions, WatchTriggerOptions } from '../runtime/options.js';

/** The unit at the centre of a reloader, with its last-known-good extension when asked for. */
function buildUnit<T>(options: ReloaderOptions<T>, source: ConfigSource): { unit: Unit<DeepReadonly<T>>; persist: ReturnType<typeof lastKnownGood> | null } {
  const persist = options.persist === undefined ? null : lastKnownGood(options.persist, noopLogger);
  const unit = new Unit<DeepReadonly<T>>({
    name: options.name ?? 'app',
    source,
    schema: options.schema,
    restartRequired: options.restartRequired,
    hooks: options.hooks,
    onApplyFailure: options.onApplyFailure,
    applyTimeoutMs: options.applyTimeoutMs,
    historySize: options.historySize,
    // No logger: warnings and errors still reach stderr; `false` silences them.
    logger: options.logger === false ? noopLogger : (options.logger ?? stderrLogger(options.name ?? 'app')),
    redactor: Redactor.fromOptions(options.redact),
    ...(options.signature === undefined ? {} : { verify: createVerifier(options.signature) }),
    ...(persist === null ? {} : { extensions: [persist] }),
  });
  return { unit, persist };
}

/** Signal, watch, then the admin surfaces; each loads only when asked for, so `import 'reloadkit'` stays light. */
async function startTriggers<T>(
  runtime: Runtime,
  unit: Unit<T>,
  source: ConfigSource,
  options: ReloaderOptions<unknown>,
  watch: WatchTriggerOptions | null,
  pollMs: number | null,
): Promise<void> {
  const t = options.triggers ?? {};
  const signals = normalizeSignals(t.signal);
  if (signals.length > 0) runtime.addTrigger({ name: 'signal', close: onSignals(signals, () => unit.enqueue('signal')) });
  if (watch && source.watchChanges) {
    // A source that notices its own changes (etcd): each change is one request, as a file event is.
    const handle = await source.watchChanges(() => unit.enqueue('watch'), unit.logger);
    runtime.addTrigger({ name: 'watch', close: () => handle.close() });
  } else if (watch) {
    await runtime.watch(unit.name, source.watchSpecs?.() ?? [], watch);
  }
  if (pollMs !== null) {
    // A look that may find nothing new: not explicit, so an unchanged config runs no hook.
    const look = () =>
      unit.reload('rescan', false).catch((err: unknown) => {
        if (!(err instanceof ShutdownError)) unit.logger.error({ unit: unit.name, trigger: 'rescan', err: errorMessage(err) }, 'poll failed');
      });
    runtime.addTrigger({ name: 'poll', close: startPolling(pollMs, look) });
  }
  const socket = typeof t.socket === 'string' ? { path: t.socket } : t.socket;
  if (socket && socket.path !== '') await runtime.startSocket(socket);
  const http = typeof t.http === 'string' ? { address: t.http } : t.http;
  if (http && http.address !== '') await runtime.startHttp(http, options.registry);
  else if (options.registry) await runtime.startMetrics(options.registry);
}

/**
 * A reloader: typed config from `source`, validated by `schema`, swapped
 * atomically by passes (load, restart-required diff, check, apply, commit)
 * that every trigger (reload(), SIGHUP, the watcher, the admin socket, HTTP)
 * sends through one queue. Options are checked here; bad ones throw an
 * OptionsError naming the option. Nothing is read until start().
 */
export function createReloader<T = unknown>(options: ReloaderOptions<T>): Reloader<T> {
  checkOptions(options);
  // With signatures, the watcher also watches each file's `.sig`.
  const source = options.signature === undefined ? options.source : withSignatureWatch(options.source);
  const watchOptions = planWatchTrigger(source, options.triggers?.watch);
  checkSignals(normalizeSignals(options.triggers?.signal));
  const pollMs = checkPoll(options.triggers?.poll);
  const { unit, persist } = buildUnit(options, source);
  const name = unit.name;
  // Every line the reloader and its triggers write goes through the unit's redaction.
  const runtime = new Runtime({ logger: unit.logger, targetCount: () => 1 });
  runtime.add({ unit: unit as Unit<unknown>, ...(persist === null ? {} : { persistStatus: () => persist.store.status() }) });
  let state: 'new' | 'starting' | 'started' | 'closing' | 'closed' = 'new';
  let startPromise: Promise<void> | null = null;

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
          await startTriggers(runtime, unit, source, options as ReloaderOptions<unknown>, watchOptions, pollMs);
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
