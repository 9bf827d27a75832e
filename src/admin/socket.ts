// The admin socket server: one command per connection, newline
// framing, one reply line, then close. Shared by the library
// (`triggers.socket`) and the daemon. File-system lifecycle: socket-path.ts.
import { chmod, chown } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, resolve as resolvePath } from 'node:path';
import { errorMessage, OptionsError, ReloadkitError } from '../shared/errors.js';
import { noopLogger } from '../shared/logger.js';
import type { Logger } from '../shared/types.js';
import type { AdminHost } from './host.js';
import {
  errorReply,
  hostErrorMessage,
  INVALID_INPUT,
  MAX_LINE_BYTES,
  parseRequest,
  reloadReply,
  replyLine,
  statusReply,
  TEXT_OK,
  textError,
  type AdminCommand,
} from './protocol.js';
import {
  ensureDefaultSocketDir,
  inspectPath,
  MAX_SOCKET_PATH,
  passedSocketPath,
  PrivateDir,
  probeSocket,
  removeLeftoverDirs,
  resolveGroup,
  type FileIdentity,
} from './socket-path.js';
import { errnoCode } from '../shared/errno.js';

const DEFAULT_SOCKET_MODE = 0o600;
const DEFAULT_MAX_CONNECTIONS = 1024;
/** A client that sends nothing, or no newline, is answered `invalid input` after this. */
const DEFAULT_READ_TIMEOUT_MS = 5000;
const INVALID_LINE = replyLine(INVALID_INPUT);
const TOO_MANY_LINE = replyLine(errorReply('too many connections'));

export interface AdminSocketOptions {
  /** Socket path; `""` disables the socket. */
  path: string;
  /** File mode (default 0o600). Set while the socket is still private, never after it is reachable. */
  mode?: number;
  /** Group name or id to own the socket (with a mode like 0o660). */
  group?: string | number;
  /** Concurrent connections served (default 1024); excess ones get an error reply. */
  maxConnections?: number;
  /** Deadline for the request line (default 5000 ms). */
  readTimeoutMs?: number;
  /**
   * Create the socket's directory (0700) when it is missing, refusing one
   * that is not safely ours. For a built-in default location only: a path an
   * operator gave never gets its parent created.
   */
  createDirectory?: boolean;
  /**
   * Serve on this already listening socket (passed by the service manager:
   * socket activation) instead of creating one. `path` is then where clients
   * are told to look; the socket file belongs to whoever created it and is
   * never removed, and its mode and group are theirs to set.
   */
  fd?: number;
  host: AdminHost;
  logger?: Logger;
}

type AdminSocketState =
  /** `path: ""`. */
  | 'disabled'
  | 'listening'
  /** Another process answers at the path (warned; the host runs without the socket). */
  | 'in_use'
  /** Something that is not a stale socket is at the path (never deleted). */
  | 'blocked'
  /** Could not be created (directory missing, permissions…). */
  | 'failed'
  | 'closed';

export interface AdminSocketHandle {
  /** Absolute socket path (`""` when disabled). */
  readonly path: string;
  readonly state: AdminSocketState;
  readonly listening: boolean;
  /** Connections being served right now. */
  readonly connections: number;
  /** `ok: false` when the socket was wanted but is not served, with the reason. */
  health(): { ok: boolean; reason?: string };
  /**
   * Stops accepting connections and removes the socket file (if it is still
   * ours). Connections in flight keep going and still get their reply.
   */
  stopAccepting(): Promise<void>;
  /** stopAccepting(), then waits up to `graceMs` (default 2000) for connections in flight; cuts the rest. */
  close(graceMs?: number): Promise<void>;
}

/**
 * Starts the admin socket. Never throws for a path conflict or a file-system
 * failure (it logs and runs without the socket); throws only
 * for invalid options.
 */
export async function startAdminSocket(options: AdminSocketOptions): Promise<AdminSocketHandle> {
  const logger = options.logger ?? noopLogger;
  if (options.fd !== undefined) return servePassedSocket(options, options.fd, logger);
  const settings = await socketSettings(options, logger);
  if (settings === null) return new SocketHandle('', 'disabled', null);
  const { path } = settings;
  const claim = await claimPath(path, logger, options.createDirectory === true);
  if ('refused' in claim) return new SocketHandle(path, claim.refused.state, null, claim.refused.reason);
  const handle = await listenPrivately(settings, claim.stale, options.host, logger);
  if (handle.listening) logger.info({ socket: path, mode: settings.mode.toString(8) }, 'admin socket listening');
  return handle;
}

interface SocketSettings {
  path: string;
  mode: number;
  gid: number | undefined;
  maxConnections: number;
  readTimeoutMs: number;
}

/** Checks the options; null when the socket is disabled (`path: ""`). */
async function socketSettings(options: AdminSocketOptions, logger: Logger): Promise<SocketSettings | null> {
  const mode = options.mode ?? DEFAULT_SOCKET_MODE;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    throw new OptionsError(`socket mode must be an octal permission like 0o600, got ${String(options.mode)}`);
  }
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new OptionsError(`socket maxConnections must be a positive integer, got ${String(options.maxConnections)}`);
  }
  if (typeof options.path !== 'string') throw new OptionsError('socket path must be a string ("" disables it)');
  if (options.path === '') return null;
  const path = resolvePath(options.path);
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new ReloadkitError('ERR_SOCKET_PATH', `admin socket path ${path} is longer than the ${MAX_SOCKET_PATH} bytes a Unix socket path can hold`);
  }
  const gid = options.group === undefined ? undefined : await resolveGroup(options.group);
  if (mode & 0o007) logger.warn({ socket: path, mode: mode.toString(8) }, 'admin socket mode lets every local user send commands');
  return { path, mode, gid, maxConnections, readTimeoutMs: options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS };
}

type Refusal = { state: 'in_use' | 'blocked' | 'failed'; reason: string };

/**
 * May the socket be created at `path`? Creates its directory when asked,
 * looks at what is there (never following a symlink, never deleting anything
 * that is not a stale socket) and returns the stale socket to remove, or why not.
 */
async function claimPath(path: string, logger: Logger, createDirectory: boolean): Promise<{ stale: FileIdentity | null } | { refused: Refusal }> {
  const refuse = (state: Refusal['state'], reason: string) => ({ refused: { state, reason } });
  if (createDirectory) {
    const dirState = await ensureDefaultSocketDir(dirname(path));
    if (!dirState.ok) {
      logger.error({ socket: path, reason: dirState.reason }, 'the default admin socket directory is not safe to use; running without the admin socket');
      return refuse('failed', dirState.reason);
    }
    if (dirState.created) logger.info({ socket: path, dir: dirname(path) }, 'created the admin socket directory (0700)');
  }
  const existing = await inspectPath(path);
  if (existing.kind === 'not-socket') {
    logger.error(
      { socket: path, found: existing.what },
      'admin socket path is taken by something that is not a socket; leaving it alone and running without the admin socket',
    );
    return refuse('blocked', `${existing.what} is at the socket path`);
  }
  if (existing.kind === 'unreadable') {
    logger.error({ socket: path, reason: existing.reason }, 'cannot inspect the admin socket path; running without the admin socket');
    return refuse('failed', `cannot inspect the socket path (${existing.reason})`);
  }
  if (existing.kind !== 'socket') return { stale: null };
  const probe = await probeSocket(path);
  if (probe === 'live') {
    logger.warn({ socket: path }, 'another process answers on the admin socket; running without the admin socket');
    return refuse('in_use', 'another process answers on the socket path');
  }
  if (typeof probe === 'object') {
    logger.error(
      { socket: path, reason: probe.unknown },
      'cannot tell whether the socket at the admin socket path is in use; leaving it alone and running without the admin socket',
    );
    return refuse('blocked', `cannot probe the socket at the path (${probe.unknown})`);
  }
  return { stale: probe === 'stale' ? existing.id : null };
}

/**
 * Listens in a fresh private directory, sets the final mode and group while
 * nobody can reach it yet, then publishes it at the path (removing the stale
 * socket first, through the same private directory, so a race cannot delete
 * anything else).
 */
async function listenPrivately(s: SocketSettings, stale: FileIdentity | null, host: AdminHost, logger: Logger): Promise<SocketHandle> {
  const { path } = s;
  const without = (state: Refusal['state'], reason: string) => new SocketHandle(path, state, null, reason);
  await removeLeftoverDirs(path).catch(() => 0);
  let dir: PrivateDir;
  try {
    dir = await PrivateDir.create(path);
  } catch (err) {
    if (err instanceof ReloadkitError) throw err;
    logger.error({ socket: path, reason: errnoCode(err) ?? errorMessage(err) }, 'cannot create the admin socket; running without it');
    return without('failed', `cannot create the socket (${errnoCode(err) ?? errorMessage(err)})`);
  }
  if (stale) {
    const outcome = await dir.quarantineRemove(stale).catch((err: unknown) => ({ stranded: errnoCode(err) ?? errorMessage(err) }));
    if (outcome === 'removed') logger.info({ socket: path }, 'removed a stale admin socket');
    else if (outcome === 'restored') {
      logger.error({ socket: path }, 'the admin socket path changed while it was being checked; leaving it alone and running without the admin socket');
      await dir.dispose();
      return without('blocked', 'the socket path changed while it was being checked');
    } else if (typeof outcome === 'object') {
      logger.error({ socket: path, held: outcome.stranded }, 'could not put back an entry found at the admin socket path; running without the admin socket');
      return without('blocked', 'the socket path changed while it was being checked');
    }
  }
  const handle = new SocketHandle(path, 'listening', dir);
  const server = createServer({ allowHalfOpen: true }, (sock) => handle.accept(sock));
  handle.configure(server, { host, logger, maxConnections: s.maxConnections, readTimeoutMs: s.readTimeoutMs });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path: dir.listenPath, backlog: Math.max(511, Math.min(s.maxConnections * 2, 4096)) }, () => {
        server.off('error', reject);
        // Accept errors (EMFILE…) are transient; the server keeps listening.
        server.on('error', (err) => logger.error({ socket: path, err: errorMessage(err) }, 'admin socket error'));
        resolve();
      });
    });
    // Still private (0700 directory): set the final mode and group before anyone can reach it.
    await chmod(dir.listenPath, s.mode);
    if (s.gid !== undefined) await chown(dir.listenPath, -1, s.gid);
    handle.published(await dir.publish());
  } catch (err) {
    const code = errnoCode(err);
    server.close();
    await dir.dispose();
    if (code === 'EEXIST') {
      logger.error(
        { socket: path },
        'something appeared at the admin socket path while the socket was being created; leaving it alone and running without the admin socket',
      );
      return without('blocked', 'the socket path was taken while the socket was being created');
    }
    logger.error({ socket: path, reason: code ?? errorMessage(err) }, 'cannot create the admin socket; running without it');
    return without('failed', `cannot create the socket (${code ?? errorMessage(err)})`);
  }
  return handle;
}

/**
 * Serves a socket the service manager passed in: it is already bound and
 * listening, so nothing is claimed, created or (at shutdown) removed. Only a
 * Unix socket is served: the admin protocol relies on file permissions.
 */
async function servePassedSocket(options: AdminSocketOptions, fd: number, logger: Logger): Promise<AdminSocketHandle> {
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (!Number.isInteger(fd) || fd < 0) throw new OptionsError(`socket fd must be a file descriptor number, got ${String(fd)}`);
  if (!Number.isInteger(maxConnections) || maxConnections < 1) {
    throw new OptionsError(`socket maxConnections must be a positive integer, got ${String(options.maxConnections)}`);
  }
  const bound = await passedSocketPath(fd);
  const path = bound ?? (options.path === '' ? `fd ${fd}` : resolvePath(options.path));
  const handle = new SocketHandle(path, 'listening', null);
  const server = createServer({ allowHalfOpen: true }, (sock) => handle.accept(sock));
  handle.configure(server, { host: options.host, logger, maxConnections, readTimeoutMs: options.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS });
  const refuse = (reason: string) => {
    logger.error({ socket: path, fd, reason }, 'cannot serve the admin socket passed by the service manager; running without the admin socket');
    server.close();
    return new SocketHandle(path, 'failed', null, reason);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        server.on('error', (err) => logger.error({ socket: path, err: errorMessage(err) }, 'admin socket error'));
        resolve();
      });
    });
  } catch (err) {
    return refuse(`fd ${fd}: ${errnoCode(err) ?? errorMessage(err)}`);
  }
  // A pipe handle has no address; a TCP socket does, and the admin protocol is never served on TCP.
  if (server.address() !== null && typeof server.address() === 'object') return refuse(`fd ${fd} is a TCP socket, not a Unix socket`);
  handle.serving();
  const where = options.path === '' ? null : resolvePath(options.path);
  if (bound !== null && where !== null && bound !== where) {
    logger.warn(
      { socket: bound, configured: where },
      'the passed admin socket is not at the configured path: clients using the configured path will not find it',
    );
  }
  logger.info({ socket: path, fd }, 'admin socket listening (passed by the service manager; its file is left in place at shutdown)');
  return handle;
}

interface ServeConfig {
  host: AdminHost;
  logger: Logger;
  maxConnections: number;
  readTimeoutMs: number;
}

class SocketHandle implements AdminSocketHandle {
  private server: Server | null = null;
  private cfg: ServeConfig | null = null;
  private identity: FileIdentity | null = null;
  private readonly open = new Set<Connection>();
  private sweeper: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private lastCapWarning = 0;
  private currentState: AdminSocketState;

  constructor(
    readonly path: string,
    state: AdminSocketState,
    private readonly dir: PrivateDir | null,
    private readonly reason?: string,
  ) {
    this.currentState = state;
  }

  get state(): AdminSocketState {
    return this.currentState;
  }

  get listening(): boolean {
    return this.currentState === 'listening';
  }

  get connections(): number {
    return this.open.size;
  }

  health(): { ok: boolean; reason?: string } {
    if (this.currentState === 'listening' || this.currentState === 'disabled' || this.currentState === 'closed') return { ok: true };
    return { ok: false, reason: `admin socket not served: ${this.reason ?? this.currentState}` };
  }

  configure(server: Server, cfg: ServeConfig): void {
    this.server = server;
    this.cfg = cfg;
  }

  private sweep(): void {
    const now = performance.now();
    for (const c of this.open) if (c.deadline <= now) c.timeout();
  }

  private stopSweeping(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** The socket is reachable at its final path. */
  published(id: FileIdentity): void {
    this.identity = id;
    this.serving();
  }

  /** Connections are served: start the deadline sweep. */
  serving(): void {
    // One sweep for every connection's deadline instead of a timer each: cheaper per
    // connection, and a quarter of the deadline is precise enough for a 5 s limit.
    const period = Math.max(10, Math.min(250, this.cfg!.readTimeoutMs / 4));
    this.sweeper = setInterval(() => this.sweep(), period);
    this.sweeper.unref();
  }

  stopAccepting(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    if (this.currentState !== 'listening') {
      if (this.currentState !== 'disabled') this.currentState = 'closed';
      this.stopSweeping();
      return;
    }
    this.currentState = 'closed';
    if (this.open.size === 0) this.stopSweeping();
    const server = this.server!;
    // close() stops accepting at once; its callback waits for open connections, which we do not.
    server.close();
    const dir = this.dir;
    // A passed socket (no private directory) is not ours to remove.
    if (dir === null) return;
    if (this.identity) {
      try {
        const outcome = await dir.quarantineRemove(this.identity);
        if (outcome === 'restored' || typeof outcome === 'object') {
          this.cfg?.logger.warn({ socket: this.path }, 'the admin socket path no longer holds our socket; left it alone');
        }
      } catch (err) {
        this.cfg?.logger.error({ socket: this.path, err: errorMessage(err) }, 'could not remove the admin socket');
      }
    }
    await dir.dispose();
  }

  async close(graceMs = 2000): Promise<void> {
    await this.stopAccepting();
    if (this.open.size === 0) return;
    await new Promise<void>((resolve) => {
      // Cut what is left; their 'close' events (after ours, which forgets them) resolve below.
      const timer = setTimeout(() => {
        for (const c of this.open) c.sock.destroy();
      }, graceMs);
      const check = () => {
        if (this.open.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      for (const c of this.open) c.sock.once('close', check);
    });
    this.stopSweeping();
  }

  /** Serves one connection (see Connection). */
  accept(sock: Socket): void {
    if (this.currentState !== 'listening') {
      sock.on('error', ignore);
      sock.destroy();
      return;
    }
    const cfg = this.cfg!;
    const conn = new Connection(this, sock, cfg.readTimeoutMs);
    this.open.add(conn);
    conn.read();
    if (this.open.size > cfg.maxConnections) {
      const now = Date.now();
      if (now - this.lastCapWarning > 10_000) {
        this.lastCapWarning = now;
        cfg.logger.warn({ socket: this.path, limit: cfg.maxConnections }, 'admin socket connection limit reached; refusing connections');
      }
      conn.answer(TOO_MANY_LINE);
    }
  }

  /** A connection is gone (closed by either side). */
  forget(conn: Connection): void {
    this.open.delete(conn);
    if (this.open.size === 0 && this.currentState !== 'listening') this.stopSweeping();
  }

  /** Runs a parsed command and answers on the connection; only `reload` waits. */
  run(cmd: AdminCommand, conn: Connection): void {
    if (cmd.kind === 'reload') void this.reload(cmd.unit, conn);
    else conn.answer(this.immediate(cmd));
  }

  private async reload(unit: string | undefined, conn: Connection): Promise<void> {
    let text: string;
    try {
      text = replyLine(reloadReply(await this.cfg!.host.reload(unit, 'socket')));
    } catch (err) {
      text = replyLine(errorReply(this.explain(err)));
    }
    conn.answer(text);
  }

  private immediate(cmd: Exclude<AdminCommand, { kind: 'reload' }>): string {
    const { host, logger } = this.cfg!;
    try {
      switch (cmd.kind) {
        case 'invalid':
          return INVALID_LINE;
        case 'unknown':
          logger.debug({ socket: this.path, command: cmd.word }, 'unknown admin command');
          return replyLine(errorReply(`unknown command: ${cmd.word}`));
        case 'status':
          return replyLine(statusReply(host));
        case 'reload-text':
          host.enqueue(cmd.unit, 'socket');
          return TEXT_OK;
      }
    } catch (err) {
      return cmd.kind === 'reload-text' ? textError(this.explain(err)) : replyLine(errorReply(this.explain(err)));
    }
  }

  private explain(err: unknown): string {
    const m = hostErrorMessage(err);
    if (m.internal) this.cfg!.logger.error({ socket: this.path, err: errorMessage(err) }, 'admin command failed');
    return m.message;
  }
}

// ---- one connection ---------------------------------------------------------
// Shared listeners (the socket is `this`) and no timer per connection keep the
// per-connection cost low: the socket is also the daemon's status endpoint.
const CONN = Symbol('reloadkit.connection');
type ServedSocket = Socket & { [CONN]?: Connection };
function ignore(): void {}
function onData(this: Socket, chunk: Buffer): void {
  (this as ServedSocket)[CONN]?.data(chunk);
}
function onEnd(this: Socket): void {
  (this as ServedSocket)[CONN]?.endOfInput();
}
function onClose(this: Socket): void {
  (this as ServedSocket)[CONN]?.closed();
}

/**
 * One client: reads one line (at most 4096 bytes, within the deadline),
 * answers once and closes. After the answer, input is read and discarded
 * until the client closes (so a client still writing a long line gets the
 * reply rather than a reset), for at most one more deadline.
 */
class Connection {
  private readonly parts: Buffer[] = [];
  private size = 0;
  private phase: 'reading' | 'running' | 'answered' = 'reading';
  /** performance.now() after which the owner's sweep calls timeout(). */
  deadline: number;

  constructor(
    private readonly owner: SocketHandle,
    readonly sock: Socket,
    private readonly timeoutMs: number,
  ) {
    (sock as ServedSocket)[CONN] = this;
    // A client that resets or goes away early: nothing to do, its reply is simply not delivered.
    sock.on('error', ignore);
    sock.on('close', onClose);
    this.deadline = performance.now() + timeoutMs;
  }

  read(): void {
    this.sock.on('data', onData);
    // End of input also ends the line: `printf status | nc -U` works.
    this.sock.on('end', onEnd);
  }

  data(chunk: Buffer): void {
    if (this.phase !== 'reading') return;
    const nl = chunk.indexOf(0x0a);
    const take = nl === -1 ? chunk.length : nl;
    if (this.size + take > MAX_LINE_BYTES) {
      this.answer(INVALID_LINE);
      return;
    }
    this.parts.push(nl === -1 ? chunk : chunk.subarray(0, nl));
    this.size += take;
    if (nl !== -1) this.lineDone();
  }

  endOfInput(): void {
    if (this.phase === 'reading') this.lineDone();
  }

  timeout(): void {
    if (this.phase === 'reading') this.answer(INVALID_LINE);
    else if (this.phase === 'answered') this.sock.destroy();
    // 'running': a reload may take longer than the read deadline; the answer sets a new one.
  }

  answer(text: string): void {
    if (this.phase === 'answered') return;
    this.phase = 'answered';
    this.deadline = performance.now() + this.timeoutMs;
    if (!this.sock.destroyed && this.sock.writable) this.sock.end(text);
    else this.sock.destroy();
  }

  closed(): void {
    this.owner.forget(this);
  }

  private lineDone(): void {
    this.phase = 'running';
    const line = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    this.owner.run(parseRequest(line), this);
  }
}
