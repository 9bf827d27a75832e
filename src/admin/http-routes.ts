// The JSON endpoints of the admin HTTP server: health, readiness, Prometheus
// and JSON metrics, status, the last result, the fleet, and the opt-in,
// token-guarded POST /reload and POST /fleet/pause|resume|abort. Each route
// is a method list and a handler.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorMessage, UnknownUnitError } from '../shared/errors.js';
import type { Logger, ReloadResult } from '../shared/types.js';
import type { RolloutCommand } from '../shared/fleet-commands.js';
import type { AdminHost } from './host.js';
import type { ReloadMetrics } from './metrics.js';
import { SECURITY_HEADERS } from './page.js';
import { errorReply, hostErrorMessage, reloadReply, sanitizeWord, statusReply } from './protocol.js';

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void;
export interface Route {
  methods: readonly string[];
  handler: Handler;
}

const JSON_HEADERS = {
  ...SECURITY_HEADERS,
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
} as const;

export function sendJson(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(code, { ...JSON_HEADERS, 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Checks `Authorization: Bearer <token>` when a token is set. */
function bearerCheck(token: string | undefined): (req: IncomingMessage) => boolean {
  if (token === undefined) return () => true;
  const digest = sha256(token.trim());
  return (req) => {
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    // Equal-length digests, compared in constant time: no length or prefix leak.
    return m !== null && timingSafeEqual(sha256(m[1]!.trim()), digest);
  };
}

/** Without a unit: the most recent pass of any unit (the library has only one). */
function lastResultFor(host: AdminHost, unit: string | undefined): ReloadResult | null | 'unknown' {
  const units = host.units();
  if (unit !== undefined) {
    const u = units.find((x) => x.name === unit);
    return u ? u.lastResult() : 'unknown';
  }
  let latest: ReloadResult | null = null;
  for (const u of units) {
    const r = u.lastResult();
    if (r && (!latest || r.ended_at > latest.ended_at)) latest = r;
  }
  return latest;
}

export interface JsonRouteOptions {
  host: AdminHost;
  metrics: ReloadMetrics;
  reloadEnabled: boolean;
  token: string | undefined;
  logger: Logger;
}

const READ = ['GET', 'HEAD'] as const;

/** Status codes of a refused fleet command, by reason. */
const FLEET_REFUSALS = { unknown_target: 400, refused: 409, unavailable: 503 } as const;

export function jsonRoutes(o: JsonRouteOptions): Record<string, Route> {
  return { ...readRoutes(o.host, o.metrics), ...actionRoutes(o) };
}

/** What anyone who reaches the HTTP address may read. */
function readRoutes(host: AdminHost, metrics: ReloadMetrics): Record<string, Route> {
  return {
    '/health': { methods: READ, handler: (_q, res) => sendJson(res, 200, { status: 'ok' }) },
    '/ready': {
      methods: READ,
      handler: (_q, res, url) => {
        // `?strict=1`: a failed last pass, a fallback start or anything degraded also counts.
        const strict = ['1', 'true'].includes(url.searchParams.get('strict') ?? '');
        const r = host.ready({ strict });
        const degraded = r.degraded.length > 0 && !strict ? { degraded: r.degraded } : {};
        if (r.ok) sendJson(res, 200, { status: 'ready', ...degraded });
        else sendJson(res, 503, { status: 'not_ready', reasons: r.reasons, ...degraded });
      },
    },
    '/metrics': {
      methods: READ,
      handler: async (_q, res) => {
        const text = await metrics.text();
        res.writeHead(200, {
          ...SECURITY_HEADERS,
          'content-type': metrics.contentType,
          'cache-control': 'no-store',
          'content-length': String(Buffer.byteLength(text)),
        });
        res.end(text);
      },
    },
    '/metrics.json': { methods: READ, handler: (_q, res) => sendJson(res, 200, metrics.json()) },
    '/status': { methods: READ, handler: (_q, res) => sendJson(res, 200, statusReply(host)) },
    '/reload-status': {
      methods: READ,
      handler: (_q, res, url) => {
        const unit = url.searchParams.get('unit') || undefined;
        const r = lastResultFor(host, unit);
        if (r === 'unknown') sendJson(res, 404, errorReply(`unknown unit: ${sanitizeWord(unit!)}`));
        else sendJson(res, 200, r ?? { status: 'no_reload_yet' });
      },
    },
    '/fleet': {
      methods: READ,
      handler: async (_q, res) => {
        const status = await host.fleetStatus?.();
        if (status) sendJson(res, 200, status);
        else sendJson(res, 404, errorReply('no fleet configured'));
      },
    },
  };
}

/** The gate of the opt-in actions: false (and the reply sent) when a request may not go on. */
type ActionGate = (req: IncomingMessage, res: ServerResponse, what: string) => boolean;

function actionGate(o: JsonRouteOptions): ActionGate {
  const authorized = bearerCheck(o.token);
  return (req, res, what) => {
    if (!o.reloadEnabled) {
      sendJson(res, 403, errorReply(`${what} over HTTP is disabled`));
      return false;
    }
    if (!authorized(req)) {
      o.logger.warn({ remote: req.socket.remoteAddress }, `HTTP ${what} refused: missing or wrong bearer token`);
      sendJson(res, 401, errorReply('unauthorized: missing or wrong bearer token'), { 'www-authenticate': 'Bearer realm="reloadkit"' });
      return false;
    }
    return true;
  };
}

/** Reload and the fleet commands: 403 when disabled, 401 without the right token. */
function actionRoutes(o: JsonRouteOptions): Record<string, Route> {
  const { host, logger } = o;
  const allowed = actionGate(o);
  return {
    '/reload': {
      methods: ['POST'],
      handler: async (req, res, url) => {
        if (!allowed(req, res, 'reload')) return;
        const unit = url.searchParams.get('unit') || undefined;
        let reply;
        try {
          reply = reloadReply(await host.reload(unit, 'http'));
        } catch (err) {
          // An unknown unit is 404, as for GET /reload-status.
          if (err instanceof UnknownUnitError) return sendJson(res, 404, errorReply(`unknown unit: ${sanitizeWord(err.unit)}`));
          const m = hostErrorMessage(err);
          if (m.internal) logger.error({ err: errorMessage(err) }, 'HTTP reload failed');
          reply = errorReply(m.message);
        }
        sendJson(res, reply.status === 'ok' ? 200 : 500, reply);
      },
    },
    '/fleet/pause': fleetCommandRoute(host, allowed, 'pause'),
    '/fleet/resume': fleetCommandRoute(host, allowed, 'resume'),
    '/fleet/abort': fleetCommandRoute(host, allowed, 'abort'),
  };
}

function fleetCommandRoute(host: AdminHost, allowed: ActionGate, command: RolloutCommand): Route {
  return {
    methods: ['POST'],
    handler: async (req, res, url) => {
      if (!allowed(req, res, `fleet ${command}`)) return;
      const target = url.searchParams.get('target') ?? '';
      if (target === '') return sendJson(res, 400, errorReply(`fleet ${command} needs ?target=TARGET`));
      const reply = await host.steerFleet?.(target, command, `http ${req.socket.remoteAddress ?? 'client'}`);
      if (!reply) return sendJson(res, 404, errorReply('no fleet configured'));
      if (reply.ok) return sendJson(res, 200, { status: 'ok', target: reply.target, rollout: reply.rollout, state: reply.state });
      const message = reply.reason === 'unknown_target' ? `unknown fleet target: ${sanitizeWord(target)}` : reply.message;
      sendJson(res, FLEET_REFUSALS[reply.reason], errorReply(message));
    },
  };
}
