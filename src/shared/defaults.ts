// Defaults declared once: where the daemon's config file, admin socket and
// state live (system paths as root, per-user XDG paths otherwise) and the
// watcher's timings. Kept free of heavy imports: `status`/`reload` use it.
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * `/run/reloadkit/admin.sock` as root; else `$XDG_RUNTIME_DIR/reloadkit/admin.sock`,
 * or `<tmpdir>/reloadkit-<uid>/admin.sock` when XDG_RUNTIME_DIR is unset.
 */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/run/reloadkit/admin.sock';
  const runtime = env.XDG_RUNTIME_DIR;
  if (runtime) return join(runtime, 'reloadkit', 'admin.sock');
  return join(tmpdir(), `reloadkit-${process.getuid?.() ?? 'user'}`, 'admin.sock');
}

/** `/var/lib/reloadkit` as root; else `$XDG_STATE_HOME/reloadkit` or `~/.local/state/reloadkit`. */
export function defaultStateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (isRoot()) return '/var/lib/reloadkit';
  if (env.XDG_STATE_HOME) return join(env.XDG_STATE_HOME, 'reloadkit');
  return join(homedir(), '.local', 'state', 'reloadkit');
}

/** The daemon's config file when neither -c nor RELOADKIT_CONFIG names one. */
export const DEFAULT_CONFIG_PATH = '/etc/reloadkit/reloadkit.yaml';

/** Watcher timings: quiet period of a burst, longest wait under constant writes, full rescan period. */
export const WATCH_DEFAULTS = { debounceMs: 100, maxWaitMs: 1000, rescanMs: 30_000 } as const;
