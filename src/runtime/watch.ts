// Watching a unit's files, for the library (`triggers.watch`: the source's
// watchSpecs()) and the daemon (each target's watch list) alike.
import { errorMessage, OptionsError } from '../shared/errors.js';
import type { ConfigSource, Logger, WatchSpec } from '../shared/types.js';
import type { WatchTriggerOptions } from './options.js';
import { watchTimings } from '../triggers/watch-options.js';
import type { WatcherOptions, WatchHealth, WatchTrigger } from '../triggers/watch.js';

/** Where the watcher counts events and errors (reloadkit_watch_events_total, reloadkit_watch_errors_total). */
export interface WatchCounters {
  watchEvent(): void;
  watchError(): void;
}

/**
 * Counts until the real counters attach, then forwards to them, adding what
 * it held: the admin metrics start after the watcher, and an inotify limit
 * hit while the watcher starts must still show in `reloadkit_watch_errors_total`.
 */
export class DeferredWatchCounters implements WatchCounters {
  private target: WatchCounters | null = null;
  private events = 0;
  private errors = 0;

  watchEvent(): void {
    if (this.target) this.target.watchEvent();
    else this.events += 1;
  }

  watchError(): void {
    if (this.target) this.target.watchError();
    else this.errors += 1;
  }

  attach(target: WatchCounters): void {
    this.target = target;
    for (; this.events > 0; this.events -= 1) target.watchEvent();
    for (; this.errors > 0; this.errors -= 1) target.watchError();
  }
}

/**
 * Checks `triggers.watch` when createReloader is called, so bad input fails
 * early and clearly. Returns the options to watch with, or null when off.
 */
export function planWatchTrigger(source: ConfigSource, opt: boolean | WatchTriggerOptions | undefined): WatchTriggerOptions | null {
  if (opt === undefined || opt === false) return null;
  if (opt !== true && (typeof opt !== 'object' || opt === null)) {
    throw new OptionsError(`triggers.watch must be true, false or { debounceMs, maxWaitMs, rescanMs }, got ${String(opt)}`);
  }
  if (typeof source.watchSpecs !== 'function' && typeof source.watchChanges !== 'function') {
    throw new OptionsError(`triggers.watch needs a source with watchSpecs() (fileSource and dirSource have it); ${source.description} has none`);
  }
  const options = opt === true ? {} : opt;
  watchTimings(options, ['debounceMs', 'maxWaitMs', 'rescanMs'], 'triggers.watch');
  return options;
}

export interface StartWatchOptions {
  /** The unit's name, for log lines. */
  unit: string;
  specs: readonly WatchSpec[];
  timings: WatchTriggerOptions;
  logger: Logger;
  enqueue(trigger: WatchTrigger): void;
  /** Asked once the watcher runs: did the content change since the first load? (see Unit.recheck) */
  recheck?(): Promise<void>;
  counters?: WatchCounters;
  /** Lower-level watcher settings (the daemon's poll interval; tests inject fs.watch failures). */
  watcher?: Pick<WatcherOptions, 'settleMs' | 'pollMs' | 'watchFunction'>;
}

/**
 * Watches `specs` for one unit: a real change sends a `watch` (or `rescan`)
 * request through the unit's queue, where an unchanged config is recorded as
 * `unchanged` and runs no hook. The watcher module loads only when asked for.
 */
/** A started watcher of one unit. */
export interface WatchTriggerHandle {
  readonly name: 'watch';
  close(): Promise<void>;
  health(): WatchHealth;
  setSpecs(specs: readonly WatchSpec[]): Promise<void>;
}

export async function startWatchTrigger(o: StartWatchOptions): Promise<WatchTriggerHandle> {
  const { createWatcher } = await import('../triggers/watch.js');
  if (o.specs.length === 0) o.logger.warn({ unit: o.unit }, 'nothing to watch');
  const watcher = await createWatcher(o.specs, {
    ...o.timings,
    ...o.watcher,
    logger: o.logger,
    onChange: (trigger, paths) => {
      o.logger.debug({ unit: o.unit, trigger, paths }, 'watched files changed');
      o.enqueue(trigger);
    },
    onEvent: () => o.counters?.watchEvent(),
    onError: (err) => {
      o.counters?.watchError();
      o.logger.warn({ unit: o.unit, err: errorMessage(err) }, 'watch error; polling instead');
    },
  });
  // A change between the first load and the watcher's first look still starts a pass.
  await o.recheck?.().catch(() => {});
  return { name: 'watch', close: () => watcher.close(), health: () => watcher.health(), setSpecs: (specs) => watcher.setSpecs(specs) };
}
