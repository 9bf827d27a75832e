// Socket activation: the service manager (systemd, or systemd-socket-activate)
// creates the listening sockets and passes them as file descriptors 3, 4, …
// with LISTEN_FDS (how many), LISTEN_PID (for whom) and LISTEN_FDNAMES
// (their names, colon-separated). The daemon serves the one named `admin` as
// its admin socket and the one named `http` as its HTTP endpoints instead of
// creating its own; the socket files stay the manager's (never removed).
import type { Logger } from '../shared/types.js';

/** The first passed descriptor (SD_LISTEN_FDS_START). */
const FIRST_FD = 3;
/** The names the daemon serves. */
const SERVED_NAMES = ['admin', 'http'] as const;
type ServedName = (typeof SERVED_NAMES)[number];

/** Descriptors passed by the service manager, by what they serve. */
export type ListenFds = Partial<Record<ServedName, number>>;

/** The activation variables; children must not see them (a child would take the sockets as its own). */
const VARIABLES = ['LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES'] as const;

/**
 * Reads the sockets passed by the service manager and removes the variables
 * from `env` (also when they are ignored). Passed sockets are used only when
 * LISTEN_PID is this process; a socket with a name other than `admin` or
 * `http` is left alone with a warning.
 */
export function takeListenFds(env: NodeJS.ProcessEnv, pid: number, logger: Logger): ListenFds {
  const [count, owner, names] = VARIABLES.map((k) => env[k]);
  for (const k of VARIABLES) delete env[k];
  if (count === undefined) return {};
  if (owner === undefined || !/^\d+$/.test(owner) || Number(owner) !== pid) {
    logger.warn({ listen_pid: owner ?? null, pid }, 'LISTEN_FDS is set for another process (LISTEN_PID); not using the passed sockets');
    return {};
  }
  if (!/^\d+$/.test(count) || Number(count) > 1024) {
    logger.warn({ listen_fds: count }, 'LISTEN_FDS is not a number of sockets; not using the passed sockets');
    return {};
  }
  const n = Number(count);
  const list = names === undefined ? [] : names.split(':');
  if (names !== undefined && list.length !== n) {
    logger.warn({ listen_fds: n, listen_fdnames: names }, 'LISTEN_FDNAMES does not name every passed socket; not using the passed sockets');
    return {};
  }
  const fds: ListenFds = {};
  for (let i = 0; i < n; i++) {
    const name = list[i] ?? 'unknown';
    const fd = FIRST_FD + i;
    if (!(SERVED_NAMES as readonly string[]).includes(name)) {
      logger.warn(
        { fd, name },
        `a passed socket has a name reloadkit does not serve (expected ${SERVED_NAMES.join(' or ')}: FileDescriptorName= in the socket unit); left alone`,
      );
    } else if (fds[name as ServedName] !== undefined) {
      logger.warn({ fd, name }, 'a second passed socket has the same name; left alone');
    } else {
      fds[name as ServedName] = fd;
    }
  }
  return fds;
}
