// `triggers.watch` of createReloader: watches the source's watchSpecs() and
// sends 'watch' / 'rescan' requests through the unit's queue; the unit then
// records `unchanged` (no hook runs) when the parsed config is the same.
// The watcher itself loads lazily, only when watching is asked for.
import type { TriggerHandle, WatchTriggerOptions } from '../engine/reloader.js';
import { ReloadkitError } from '../engine/errors.js';
import type { ConfigSource, Logger, SourceFile } from '../types.js';
import { hashFile } from './watch-paths.js';
import { watchTimings } from './watch-options.js';
import type { WatcherOptions, WatchTrigger } from './watch.js';

/** Where the watcher counts events and errors (the metrics of SPEC §5), once there are metrics. */
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
    throw new ReloadkitError('ERR_OPTIONS', `triggers.watch must be true, false or { debounceMs, maxWaitMs, rescanMs }, got ${String(opt)}`);
  }
  if (typeof source.watchSpecs !== 'function' && typeof source.watchChanges !== 'function') {
    throw new ReloadkitError(
      'ERR_OPTIONS',
      `triggers.watch needs a source with watchSpecs() (fileSource and dirSource have it); ${source.description} has none`,
    );
  }
  const options = opt === true ? {} : opt;
  watchTimings(options, ['debounceMs', 'maxWaitMs', 'rescanMs']);
  return options;
}

export interface StartWatchOptions {
  unit: string;
  source: ConfigSource;
  options: WatchTriggerOptions;
  logger: Logger;
  enqueue(trigger: WatchTrigger): void;
  /** The files the initial load read: a change between that load and the watcher's first look still starts a pass. */
  initialFiles?: readonly SourceFile[];
  counters?: () => WatchCounters | null;
  /** Lower-level watcher settings (the daemon's poll interval; tests inject fs.watch failures). */
  watcher?: Pick<WatcherOptions, 'settleMs' | 'pollMs' | 'watchFunction'>;
}

export async function startWatchTrigger(o: StartWatchOptions): Promise<TriggerHandle> {
  const { createWatcher } = await import('./watch.js');
  const specs = o.source.watchSpecs?.() ?? [];
  if (specs.length === 0) o.logger.warn({ unit: o.unit, source: o.source.description }, 'triggers.watch: the source lists nothing to watch');
  const watcher = await createWatcher(specs, {
    ...o.options,
    ...o.watcher,
    logger: o.logger,
    onChange: (trigger, paths) => {
      o.logger.debug({ unit: o.unit, trigger, paths }, 'watched files changed');
      o.enqueue(trigger);
    },
    onEvent: () => o.counters?.()?.watchEvent(),
    onError: () => o.counters?.()?.watchError(),
  });
  if (o.initialFiles && (await changedSince(o.initialFiles))) {
    o.logger.debug({ unit: o.unit }, 'watched files changed during start');
    o.enqueue('watch');
  }
  return { name: 'watch', close: () => watcher.close(), health: () => watcher.health() };
}

async function changedSince(files: readonly SourceFile[]): Promise<boolean> {
  for (const f of files) {
    try {
      if ((await hashFile(f.path, f.size)) !== f.sha256) return true;
    } catch {
      return true; // unreadable now: the pass reports why
    }
  }
  return false;
}
