// The HTTP admin endpoints (SPEC §5, §8): health, readiness, Prometheus and
// JSON metrics, status, the last result, and an opt-in, token-guarded
// POST /reload. Loopback only unless remote binding is explicitly allowed.
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { errorMessage, ReloadkitError } from '../engine/errors.js';
import { noopLogger } from '../engine/logger.js';
import type { Logger, ReloadResult } from '../types.js';
import type { AdminHost } from './host.js';
import type { ReloadMetrics } from './metrics.js';
import { errorReply, hostErrorMessage, reloadReply, sanitizeWord, statusReply } from './protocol.js';

export interface AdminHttpOptions {
  /** `host:port`; `[::1]:port` for IPv6; port 0 picks a free port. */
  address: string;
  /** Allow a non-loopback address (daemon: `--http-allow-remote`). */
  allowRemote?: boolean;
  /** Serve POST /reload (default false: 403). */
  reloadEnabled?: boolean;
  /** When set, POST /reload needs `Authorization: Bearer <token>`. */
  token?: string;
  host: AdminHost;
  metrics: ReloadMetrics;
  logger?: Logger;
  /** Concurrent connections (default 256); excess ones are dropped. */
  maxConnections?: number;
}

export interface AdminHttpHandle {
  /** The bound address as `host:port` (with the real port when 0 was asked). */
  readonly address: string;
  readonly hostname: string;
  readonly port: number;
  readonly listening: boolean;
  health(): { ok: boolean; reason?: string };
  /** Stops listening, lets requests in flight finish (up to `graceMs`, default 2000), then closes. */
  close(graceMs?: number): Promise<void>;
}

/** Splits `host:port` / `[v6]:port`. Throws a clear error for anything else. */
export function parseHttpAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(address) ?? /^([^:[\]]*):(\d{1,5})$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new ReloadkitError('ERR_OPTIONS', `HTTP address must be host:port (e.g. 127.0.0.1:9111 or [::1]:9111), got "${address}"`);
  }
  return { host: m[1]!, port };
}

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. An empty host means every interface. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.split('.')[0] === '127';
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
} as const;

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;
interface Route {
  methods: readonly string[];
  handler: Handler;
}

export async function startAdminHttp(options: AdminHttpOptions): Promise<AdminHttpHandle> {
  const logger = options.logger ?? noopLogger;
  const { host: bindHost, port } = parseHttpAddress(options.address);
  if (!isLoopback(bindHost) && !options.allowRemote) {
    throw new ReloadkitError(
      'ERR_HTTP_REMOTE',
      `refusing to serve the admin HTTP endpoints on ${bindHost === '' ? 'every interface' : bindHost}: not a loopback address; allow it explicitly (allowRemote: true / --http-allow-remote)`,
    );
  }
  if (options.token !== undefined && (typeof options.token !== 'string' || options.token.trim() === '')) {
    throw new ReloadkitError('ERR_OPTIONS', 'the HTTP reload token must be a non-empty string');
  }
  const { host, metrics } = options;
  const tokenDigest = options.token === undefined ? null : sha256(options.token.trim());

  const send = (res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = `${JSON.stringify(body)}\n`;
    res.writeHead(code, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(text)), ...headers });
    res.end(text);
  };

  const lastResultFor = (unit: string | undefined): ReloadResult | null | 'unknown' => {
    const units = host.units();
    if (unit !== undefined) {
      const u = units.find((x) => x.name === unit);
      return u ? u.lastResult() : 'unknown';
    }
    // Without ?unit=: the most recent pass of any unit (the library has only one).
    let latest: ReloadResult | null = null;
    for (const u of units) {
      const r = u.lastResult();
      if (r && (!latest || r.ended_at > latest.ended_at)) latest = r;
    }
    return latest;
  };

  const authorized = (req: IncomingMessage): boolean => {
    if (!tokenDigest) return true;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    // Equal-length digests, compared in constant time: no length or prefix leak.
    return m !== null && timingSafeEqual(sha256(m[1]!.trim()), tokenDigest);
  };

  const routes: Record<string, Route> = {
    '/health': { methods: ['GET', 'HEAD'], handler: (_q, res) => send(res, 200, { status: 'ok' }) },
    '/ready': {
      methods: ['GET', 'HEAD'],
      handler: (_q, res) => {
        const r = host.ready();
        if (r.ok) send(res, 200, { status: 'ready' });
        else send(res, 503, { status: 'not_ready', reasons: r.reasons });
      },
    },
    '/metrics': {
      methods: ['GET', 'HEAD'],
      handler: async (_q, res) => {
        const text = await metrics.text();
        res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      },
    },
    '/metrics.json': { methods: ['GET', 'HEAD'], handler: (_q, res) => send(res, 200, metrics.json()) },
    '/status': { methods: ['GET', 'HEAD'], handler: (_q, res) => send(res, 200, statusReply(host)) },
    '/reload-status': {
      methods: ['GET', 'HEAD'],
      handler: (_q, res, url) => {
        const unit = url.searchParams.get('unit') || undefined;
        const r = lastResultFor(unit);
        if (r === 'unknown') send(res, 404, errorReply(`unknown unit: ${sanitizeWord(unit!)}`));
        else send(res, 200, r ?? { status: 'no_reload_yet' });
      },
    },
    '/fleet': {
      methods: ['GET', 'HEAD'],
      handler: async (_q, res) => {
        const status = await host.fleetStatus?.();
        if (status) send(res, 200, status);
        else send(res, 404, errorReply('no fleet configured'));
      },
    },
    '/reload': {
      methods: ['POST'],
      handler: async (req, res, url) => {
        if (!options.reloadEnabled) return send(res, 403, errorReply('reload over HTTP is disabled'));
        if (!authorized(req)) {
          logger.warn({ remote: req.socket.remoteAddress }, 'HTTP reload refused: missing or wrong bearer token');
          return send(res, 401, errorReply('unauthorized'), { 'www-authenticate': 'Bearer realm="reloadkit"' });
        }
        const unit = url.searchParams.get('unit') || undefined;
        let reply;
        try {
          reply = reloadReply(await host.reload(unit, 'http'));
        } catch (err) {
          const m = hostErrorMessage(err);
          if (m.internal) logger.error({ err: errorMessage(err) }, 'HTTP reload failed');
          reply = errorReply(m.message);
        }
        send(res, reply.status === 'ok' ? 200 : 500, reply);
      },
    },
  };

  const server: Server = createServer({ requestTimeout: 30_000, headersTimeout: 10_000, maxHeaderSize: 16 * 1024 }, (req, res) => {
    // Bodies are never read (no endpoint takes one); discard whatever comes.
    req.resume();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://admin.invalid');
    } catch {
      return send(res, 400, errorReply('bad request'));
    }
    const route = Object.hasOwn(routes, url.pathname) ? routes[url.pathname] : undefined;
    if (!route) return send(res, 404, errorReply('not found'));
    if (!route.methods.includes(req.method ?? '')) {
      return send(res, 405, errorReply('method not allowed'), { allow: route.methods.join(', ') });
    }
    Promise.resolve()
      .then(() => route.handler(req, res, url))
      .catch((err: unknown) => {
        logger.error({ path: url.pathname, err: errorMessage(err) }, 'admin HTTP handler failed');
        if (!res.headersSent) send(res, 500, errorReply('internal error'));
        else res.destroy();
      });
  });
  server.maxConnections = options.maxConnections ?? 256;
  server.on('clientError', (_err, socket) => {
    if (socket.writable) {
      const body = `${JSON.stringify(errorReply('bad request'))}\n`;
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    } else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'EADDRINUSE' ? 'address already in use' : code === 'EADDRNOTAVAIL' ? 'address not available on this host' : errorMessage(err);
      reject(new ReloadkitError('ERR_HTTP_LISTEN', `cannot serve the admin HTTP endpoints on ${options.address}: ${why}`, { cause: err }));
    });
    server.listen({ host: bindHost === '' ? undefined : bindHost, port }, () => resolve());
  });
  server.on('error', (err) => logger.error({ err: errorMessage(err) }, 'admin HTTP server error'));

  const bound = server.address();
  const boundPort = typeof bound === 'object' && bound ? bound.port : port;
  const boundHost = typeof bound === 'object' && bound ? bound.address : bindHost;
  const shown = boundHost.includes(':') ? `[${boundHost}]:${boundPort}` : `${boundHost}:${boundPort}`;
  logger.info({ http: shown, reload: Boolean(options.reloadEnabled), token: tokenDigest !== null }, 'admin HTTP listening');

  let closing: Promise<void> | null = null;
  return {
    address: shown,
    hostname: boundHost,
    port: boundPort,
    get listening() {
      return server.listening;
    },
    health: () => (server.listening || closing ? { ok: true } : { ok: false, reason: 'admin HTTP server is not listening' }),
    close(graceMs = 2000) {
      closing ??= new Promise<void>((resolve) => {
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

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
