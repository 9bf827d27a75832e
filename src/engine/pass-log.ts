// The one log line every pass writes: debug when unchanged, info when it
// succeeded, warn when it failed or committed a change that needs a restart.
import { COMMITTED_STATUSES, OK_STATUSES, type Logger, type ReloadResult } from '../shared/types.js';

export function logPass(logger: Logger, result: ReloadResult): void {
  const line = {
    unit: result.unit,
    trigger: result.trigger,
    status: result.status,
    generation: result.generation,
    duration_ms: result.duration_ms,
    changed: result.changed,
    ...(result.changed_from === undefined ? {} : { changed_from: result.changed_from }),
    coalesced: result.coalesced,
    requires_restart: result.requires_restart,
    ...(result.error === undefined ? {} : { error: result.error }),
  };
  const needsRestart = result.requires_restart.length > 0 && COMMITTED_STATUSES.has(result.status);
  if (result.status === 'unchanged') logger.debug(line, 'reload pass');
  else if (OK_STATUSES.has(result.status) && !needsRestart) logger.info(line, 'reload pass');
  else logger.warn(line, 'reload pass');
}
