// `reloadkit run`: starts the daemon, wires SIGHUP (reload everything) and
// SIGTERM/SIGINT (graceful shutdown, exit 0).
import { resolve } from 'node:path';
import { isHttpAddress, LOG_LEVELS, type ConfigOverrides, type LogLevel } from '../daemon/config.js';
import { Daemon } from '../daemon/daemon.js';
import { DaemonLog } from '../daemon/log.js';
import { ServiceManager } from '../daemon/systemd.js';
import { err, EXIT, out, parse } from './common.js';
import { DaemonStartError, UsageError } from '../shared/errors.js';
import { DEFAULT_CONFIG_PATH } from '../shared/defaults.js';

export const RUN_HELP = `Usage: reloadkit run [-c FILE] [--nginx] [--socket PATH] [--http ADDR]
                     [--http-allow-remote] [--log-level LEVEL]

Runs the reload daemon: watches each target's files, validates, reloads,
verifies, and reports every pass (admin socket, HTTP, metrics, JSON logs on
stdout). SIGHUP reloads everything; SIGTERM/SIGINT stop gracefully (exit 0).

Options:
  -c, --config FILE    daemon config (YAML; default: $RELOADKIT_CONFIG, else
                       ${DEFAULT_CONFIG_PATH})
  --nginx              zero-config mode: one target "nginx" using the system
                       nginx (nginx -t, reload, verify; watch /etc/nginx);
                       not together with -c
  --socket PATH        admin socket ("" disables; default: $RELOADKIT_SOCKET,
                       else admin.socket, else /run/reloadkit/admin.sock as
                       root, else $XDG_RUNTIME_DIR/reloadkit/admin.sock, else
                       $TMPDIR/reloadkit-<uid>/admin.sock)
  --http ADDR          HTTP endpoints host:port ("" disables; default:
                       $RELOADKIT_HTTP, else admin.http, else 127.0.0.1:9111)
  --http-allow-remote  allow a non-loopback --http address
  --log-level LEVEL    ${LOG_LEVELS.join('|')} (default: $RELOADKIT_LOG_LEVEL,
                       else log_level, else info)
  -h, --help           this help

Precedence: flags, then environment variables, then the file, then defaults.
Exit codes: 0 after a graceful shutdown (also when SIGTERM/SIGINT arrives
during start-up: loading stops, what started is shut down); 1 the daemon
could not start (the message says why: config errors come with
file:line:column); 2 usage error.
`;

/** How long a shutdown may take before the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 60_000;

/** The daemon config's settings given by flags or, when a flag is absent, the environment. */
function overridesFrom(values: { socket?: string; http?: string; 'log-level'?: string }, env: NodeJS.ProcessEnv): ConfigOverrides {
  const overrides: ConfigOverrides = {};
  // An empty environment variable counts as unset; disabling takes the flag (--socket "") or the file.
  const socket = values.socket ?? (env.RELOADKIT_SOCKET || undefined);
  if (socket !== undefined) overrides.socket = socket === '' ? '' : resolve(socket);
  const http = values.http ?? (env.RELOADKIT_HTTP || undefined);
  if (http !== undefined) {
    if (http !== '' && !isHttpAddress(http)) {
      throw new UsageError(
        `${values.http !== undefined ? '--http' : 'RELOADKIT_HTTP'}: expected host:port (e.g. 127.0.0.1:9111) or "", got ${JSON.stringify(http)}`,
      );
    }
    overrides.http = http;
  }
  const level = values['log-level'] ?? (env.RELOADKIT_LOG_LEVEL || undefined);
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new UsageError(
        `${values['log-level'] !== undefined ? '--log-level' : 'RELOADKIT_LOG_LEVEL'}: expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`,
      );
    }
    overrides.log_level = level as LogLevel;
  }
  return overrides;
}

export async function runCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(
    argv,
    {
      config: { type: 'string', short: 'c' },
      nginx: { type: 'boolean' },
      socket: { type: 'string' },
      http: { type: 'string' },
      'http-allow-remote': { type: 'boolean' },
      'log-level': { type: 'string' },
    },
    0,
  );
  if (values.help) {
    out(RUN_HELP);
    return EXIT.OK;
  }
  const env = process.env;
  if (values.nginx && values.config !== undefined) throw new UsageError('--nginx is the zero-config mode; it cannot be combined with -c');
  const configPath = values.nginx ? null : resolve(values.config ?? (env.RELOADKIT_CONFIG || DEFAULT_CONFIG_PATH));

  const overrides = overridesFrom(values, env);

  // Signals first: SIGHUP's default action would kill us during start-up.
  // SIGTERM/SIGINT during start-up abort it (`startAbort`): the daemon stops
  // accepting admin connections, stops loading targets, shuts down what did
  // start, and we exit 0 — a requested stop, as systemd expects, however far
  // start-up got.
  let daemon: Daemon | null = null;
  const startAbort = new AbortController();
  let stopRequested = false;
  let resolveStopped!: () => void;
  const stopped = new Promise<void>((r) => {
    resolveStopped = r;
  });
  const stop = (signal: NodeJS.Signals) => {
    if (stopRequested) return;
    stopRequested = true;
    sm.stopping();
    setTimeout(() => {
      err(`reloadkit: shutdown did not finish within ${SHUTDOWN_DEADLINE_MS / 1000} s; exiting`);
      process.exit(EXIT.FAIL);
    }, SHUTDOWN_DEADLINE_MS).unref();
    if (daemon) void daemon.shutdown().then(resolveStopped);
    else startAbort.abort(new Error(`${signal} during start-up`));
  };
  const onHup = () => daemon && sm.reload(daemon);
  process.on('SIGHUP', onHup);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  const logger = new DaemonLog(overrides.log_level ?? 'info');
  // systemd: passed sockets, notifications, the watchdog (the variables are taken out of the environment).
  const sm = new ServiceManager({ logger });
  try {
    daemon = await Daemon.start({
      configPath,
      overrides,
      httpAllowRemote: values['http-allow-remote'] ?? false,
      logger,
      onAdminReady: () => void logger.ready(),
      signal: startAbort.signal,
      listenFds: sm.listenFds,
    });
  } catch (e) {
    if (!(e instanceof DaemonStartError)) throw e;
    err(`reloadkit: cannot start: ${e.message}`);
    logger.error({ unit: 'reloadkit', err: e.message }, 'reloadkit cannot start');
    sm.failed(e.message);
    await Promise.all([logger.ready(), sm.close()]);
    return EXIT.FAIL;
  }
  // Aborted start-up: start() resolved with the daemon already shut down; shutdown() returns that same promise.
  if (stopRequested) void daemon.shutdown().then(resolveStopped);
  else await sm.started(daemon);
  await stopped;
  await Promise.all([logger.ready(), sm.close()]);
  process.off('SIGHUP', onHup);
  // Everything is closed; exit now rather than wait for stray handles.
  process.exit(EXIT.OK);
}
