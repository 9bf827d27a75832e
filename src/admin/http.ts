// The admin HTTP server: the status page and its live event stream, the
// JSON endpoints (health, readiness, metrics, status, the last result, the
// fleet, the opt-in, token-guarded POST /reload and POST /fleet/*), under
// connection and time limits.
// Loopback only unless remote binding is explicitly allowed. The pieces live
// beside it: http-routes.ts (JSON endpoints and the bearer check),
// http-limits.ts (connections and timeouts), events.ts (the event stream),
// page.ts (the page's files and its status snapshot).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorMessage, ReloadkitError, OptionsError } from '../shared/errors.js';
import { parseHttpAddress } from '../shared/http-address.js';
import { noopLogger } from '../shared/logger.js';
import type { Logger } from '../shared/types.js';
import { DEFAULT_EVENT_BUFFER_BYTES, EventStream } from './events.js';
import type { AdminHost } from './host.js';
import { httpLimits, limitConnections, serverOptions, type ConnectionLimiter, type HttpLimits } from './http-limits.js';
import { jsonRoutes, sendJson, type Route } from './http-routes.js';
import type { ReloadMetrics } from './metrics.js';
import { PAGE_PATHS, PageAssets, pageStatus, SECURITY_HEADERS, type PagePath } from './page.js';
import { errorReply } from './protocol.js';

export interface AdminHttpOptions extends Partial<HttpLimits> {
  /** `host:port`; `[::1]:port` for IPv6; port 0 picks a free port. */
  address: string;
  /** Allow a non-loopback address (daemon: `--http-allow-remote`). */
  allowRemote?: boolean;
  /** Serve POST /reload and POST /fleet/pause|resume|abort, and show their buttons on the status page (default false: 403). */
  reloadEnabled?: boolean;
  /** When set, POST /reload and POST /fleet/* need `Authorization: Bearer <token>`. */
  token?: string;
  host: AdminHost;
  metrics: ReloadMetrics;
  logger?: Logger;
  /** Bytes queued for one event stream client before it is dropped as not reading (default 128 KiB). */
  eventBufferBytes?: number;
  /**
   * Serve on this already listening socket (passed by the service manager:
   * socket activation) instead of binding `address`. A TCP socket is held to
   * the same loopback rule as an address.
   */
  fd?: number;
}

export interface AdminHttpHandle {
  /** The bound address as `host:port` (with the real port when 0 was asked). */
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  readonly listening: boolean;
  /** Connections and event streams open now, and what the limits turned away since start. */
  readonly stats: {
    connections: number;
    evicted: number;
    refused: number;
    eventClients: number;
    eventClientsDropped: number;
    eventClientsRefused: number;
  };
  health(): { ok: boolean; reason?: string };
  /** Stops listening, lets requests in flight finish (up to `graceMs`, default 2000), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. An empty host means every interface. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.split('.')[0] === '127';
}

/** Everything startAdminHttp serves, by path. */
interface Dispatch {
  routes: Record<string, Route>;
  page: PageAssets;
  events: EventStream;
}

function isPagePath(path: string): path is PagePath {
  return (PAGE_PATHS as string[]).includes(path);
}

/** One request: the page's files, the event stream, or a JSON route; 404/405 otherwise. */
function dispatch(d: Dispatch, logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  // Bodies are never read (no endpoint takes one); discard whatever comes.
  req.resume();
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://admin.invalid');
  } catch {
    return sendJson(res, 400, errorReply('bad request'));
  }
  const path = url.pathname;
  const method = req.method ?? '';
  const read = method === 'GET' || method === 'HEAD';
  if ((isPagePath(path) || path === '/events') && !read) {
    return sendJson(res, 405, errorReply('method not allowed'), { allow: 'GET, HEAD' });
  }
  if (isPagePath(path)) return d.page.serve(path, req.headers['if-none-match'], res, method === 'HEAD');
  if (path === '/events') {
    if (method === 'GET') return d.events.accept(req, res);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
    res.end();
    return;
  }
  const route = Object.hasOwn(d.routes, path) ? d.routes[path] : undefined;
  if (!route) return sendJson(res, 404, errorReply('not found'));
  if (!route.methods.includes(method)) return sendJson(res, 405, errorReply('method not allowed'), { allow: route.methods.join(', ') });
  Promise.resolve()
    .then(() => route.handler(req, res, url))
    .catch((err: unknown) => {
      logger.error({ path, err: errorMessage(err) }, 'admin HTTP handler failed');
      if (!res.headersSent) sendJson(res, 500, errorReply('internal error'));
      else res.destroy();
    });
}

/** Malformed or too slow requests get a JSON error and the connection closes. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const [code, text, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'request timeout']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'request headers too large']
        : [400, 'Bad Request', 'bad request'];
  const body = `${JSON.stringify(errorReply(message))}\n`;
  socket.end(`HTTP/1.1 ${code} ${text}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
}

function checkBinding(options: AdminHttpOptions, bindHost: string): void {
  if (!isLoopback(bindHost) && !options.allowRemote) {
    throw new ReloadkitError(
      'ERR_HTTP_REMOTE',
      `refusing to serve the admin HTTP endpoints on ${bindHost === '' ? 'every interface' : bindHost}: not a loopback address; allow it explicitly (allowRemote: true / --http-allow-remote)`,
    );
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.trim() === '')) {
    throw new OptionsError('the HTTP reload token must be a non-empty string');
  }
}

/** Listens on a socket passed in as a file descriptor; a TCP one must be loopback unless remote is allowed. */
async function listenOnFd(server: Server, options: AdminHttpOptions, fd: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new ReloadkitError('ERR_HTTP_LISTEN', `cannot serve the admin HTTP endpoints on the passed socket (fd ${fd}): ${errorMessage(err)}`, { cause: err }),
      ),
    );
    try {
      server.listen({ fd }, () => resolve());
    } catch (err) {
      reject(
        new ReloadkitError('ERR_HTTP_LISTEN', `cannot serve the admin HTTP endpoints on the passed socket (fd ${fd}): ${errorMessage(err)}`, { cause: err }),
      );
    }
  });
  const bound = server.address();
  if (bound !== null && typeof bound === 'object') {
    try {
      checkBinding(options, bound.address);
    } catch (err) {
      server.close();
      throw err;
    }
  }
}

function listen(server: Server, address: string, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EADDRNOTAVAIL' ? 'address not available on this host' : errorMessage(err);
      reject(new ReloadkitError('ERR_HTTP_LISTEN', `cannot serve the admin HTTP endpoints on ${address}: ${why}`, { cause: err }));
    });
    server.listen({ host: host === '' ? undefined : host, port }, () => resolve());
  });
}

export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttpHandle> {
  const logger = options.logger ?? noopLogger;
  // A passed socket's address is checked once it is served (listenOnFd).
  const { host: bindHost, port } = options.fd === undefined ? parseHttpAddress(options.address) : { host: '127.0.0.1', port: 0 };
  checkBinding(options, bindHost);
  const limits = httpLimits(options);
  const { host, metrics } = options;
  const actions = { reload: Boolean(options.reloadEnabled), token: options.token !== undefined };
  const events = new EventStream({
    maxClients: limits.maxEventClients,
    maxBufferBytes: options.eventBufferBytes ?? DEFAULT_EVENT_BUFFER_BYTES,
    snapshots: [{ event: 'status', read: () => pageStatus(host, actions) }],
    // The fleet's status, as GET /fleet gives it, pushed when it changes (never without a fleet).
    pushed: host.fleetEvents ? [{ event: 'fleet', subscribe: (push) => host.fleetEvents!(push) }] : [],
    logger,
  });
  const d: Dispatch = {
    routes: jsonRoutes({ host, metrics, reloadEnabled: actions.reload, token: options.token, logger }),
    page: await PageAssets.load(),
    events,
  };
  if (d.page.problem) logger.error({ err: d.page.problem }, 'the status page cannot be served');

  const server: Server = createServer(serverOptions(limits), (req, res) => {
    if (!connections.isRefused(req)) dispatch(d, logger, req, res);
  });
  const connections = limitConnections(server, limits.maxConnections, logger);
  server.on('clientError', answerClientError);
  if (options.fd !== undefined) await listenOnFd(server, options, options.fd);
  else await listen(server, options.address, bindHost, port);
  server.on('error', (err) => logger.error({ err: errorMessage(err) }, 'admin HTTP server error'));
  const offResults = metrics.onResult((r) => events.publish('pass', r));

  const handle = adminHandle({ server, port, bindHost, events, connections, offResults, ...(options.fd === undefined ? {} : { fd: options.fd }) });
  logger.info({ http: handle.address, reload: actions.reload, token: actions.token, ...limits }, 'admin HTTP listening');
  return handle;
}

interface Running {
  server: Server;
  /** The port and host asked for (the bound ones are read from the server). */
  port: number;
  bindHost: string;
  events: EventStream;
  connections: ConnectionLimiter;
  /** Stops feeding passes to the event stream. */
  offResults: () => void;
  /** The passed socket served, when it was passed in (a Unix socket has no host:port). */
  fd?: number;
}

/** The handle of a listening server: its address, counters, health, and an orderly close. */
function adminHandle(r: Running): AdminHttpHandle {
  const { server, events, connections } = r;
  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound ? bound.port : r.port;
  const boundHost = typeof bound === 'object' && bound ? bound.address : r.bindHost;
  let closing: Promise<void> | null = null;
  const inet = typeof bound === 'object' && bound !== null;
  return {
    address: !inet && r.fd !== undefined ? `unix:fd ${r.fd}` : boundHost.includes(':') ? `[${boundHost}]:${boundPort}` : `${boundHost}:${boundPort}`,
    hostname: boundHost,
    port: boundPort,
    get listening() {
      return server.listening;
    },
    get stats() {
      const e = events.counts;
      return {
        connections: connections.open,
        evicted: connections.evicted,
        refused: connections.refused,
        eventClients: events.clientCount,
        eventClientsDropped: e.dropped,
        eventClientsRefused: e.refused,
      };
    },
    health: () => (server.listening || closing ? { ok: true } : { ok: false, reason: 'admin HTTP server is not listening' }),
    close(graceMs = 2000) {
      closing ??= new Promise<void>((resolve) => {
        r.offResults();
        events.close();
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        timer.unref();
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
