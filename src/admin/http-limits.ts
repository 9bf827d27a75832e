// Limits of the admin HTTP server: how many connections, how long a client
// may take to send its request, how many live event streams. Local clients
// that open connections and never finish their headers must not lock out
// health checks: when every slot is taken, a new connection closes the
// oldest one that has no request in progress (a request being answered, or
// an event stream, is never cut); only when none is idle is the new one
// refused. A connection that does not send its headers in time is answered
// 408 and closed; Node checks for those every second here instead of its
// default thirty.
import type { IncomingMessage, Server, ServerOptions } from 'node:http';
import type { Socket } from 'node:net';

import { OptionsError } from '../shared/errors.js';
import type { Logger } from '../shared/types.js';
import { DEFAULT_MAX_EVENT_CLIENTS } from './events.js';

export interface HttpLimits {
  /** Connections open at once (default 1024). */
  maxConnections: number;
  /** Time to receive a request's headers, from the connection opening or its previous response (default 5000 ms). */
  headersTimeoutMs: number;
  /** Time to receive a whole request, body included (default 10 000 ms, or the header timeout if longer; never shorter than it). */
  requestTimeoutMs: number;
  /** Live event streams (GET /events) open at once (default 256); more are refused with 503. */
  maxEventClients: number;
}

const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  maxConnections: 1024,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
  maxEventClients: DEFAULT_MAX_EVENT_CLIENTS,
});

/** Fills defaults and refuses values that cannot work, naming the option. */
export function httpLimits(given: Partial<Record<keyof HttpLimits, number | undefined>>): HttpLimits {
  const out = { ...DEFAULT_HTTP_LIMITS };
  const bounds: Record<keyof HttpLimits, [number, number]> = {
    maxConnections: [1, 1_000_000],
    headersTimeoutMs: [100, 3_600_000],
    requestTimeoutMs: [100, 3_600_000],
    maxEventClients: [0, 1_000_000],
  };
  for (const key of Object.keys(bounds) as (keyof HttpLimits)[]) {
    const v = given[key];
    if (v === undefined) continue;
    const [min, max] = bounds[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      throw new OptionsError(`HTTP ${key} must be an integer from ${min} to ${max}, got ${String(v)}`);
    }
    out[key] = v;
  }
  // Unset, the request timeout grows with a longer header timeout instead of contradicting it.
  if (given.requestTimeoutMs === undefined) out.requestTimeoutMs = Math.max(out.requestTimeoutMs, out.headersTimeoutMs);
  if (out.requestTimeoutMs < out.headersTimeoutMs) {
    throw new OptionsError(
      `HTTP requestTimeoutMs (${out.requestTimeoutMs}) must not be shorter than headersTimeoutMs (${out.headersTimeoutMs}): the headers are part of the request`,
    );
  }
  return out;
}

/** Every second, or twice per header timeout when that is shorter than two seconds. */
function checkInterval(headersTimeoutMs: number): number {
  return Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 2)));
}

/** Node server options enforcing the timeouts; expired connections get 408. */
export function serverOptions(l: HttpLimits): ServerOptions {
  return {
    headersTimeout: l.headersTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    // How often Node looks for expired connections: its default (30 s) let
    // half-open requests hold every slot for 40 s past a 10 s timeout.
    connectionsCheckingInterval: checkInterval(l.headersTimeoutMs),
    // An idle kept-alive connection expires no later than a silent new one.
    keepAliveTimeout: Math.min(5000, l.headersTimeoutMs),
    maxHeaderSize: 16 * 1024,
  };
}

export interface ConnectionLimiter {
  /** Connections open now. */
  readonly open: number;
  /** Idle connections closed to make room, and connections refused, since start. */
  readonly evicted: number;
  readonly refused: number;
  /** True when the request arrived on a connection refused at the limit (it gets no answer). */
  isRefused(req: IncomingMessage): boolean;
}

/** A complete HTTP response written straight to a socket that has no request to answer. */
function rawReply(status: string, message: string, extra = ''): string {
  const body = `${JSON.stringify({ status: 'error', message })}\n`;
  return `HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n${extra}connection: close\r\n\r\n${body}`;
}
const TOO_MANY = rawReply('503 Service Unavailable', 'too many connections', 'retry-after: 1\r\n');

/** How often the limit is logged while it is being hit. */
const LOG_EVERY_MS = 10_000;

/** Holds `server` to `max` connections, making room by closing the oldest idle one. */
export function limitConnections(server: Server, max: number, logger: Logger): ConnectionLimiter {
  // Insertion order is age: the first idle entry is the oldest idle connection.
  const open = new Map<Socket, { busy: number }>();
  const refusedSockets = new WeakSet<Socket>();
  let evicted = 0;
  let refused = 0;
  let lastLog = 0;
  const note = (what: 'evicted' | 'refused') => {
    const now = Date.now();
    if (now - lastLog < LOG_EVERY_MS) return;
    lastLog = now;
    logger.warn(
      { max_connections: max, evicted, refused },
      what === 'evicted'
        ? 'admin HTTP at its connection limit: closing the oldest connections that send no request'
        : 'admin HTTP at its connection limit with every connection busy: refusing new ones',
    );
  };

  server.on('connection', (sock: Socket) => {
    if (open.size >= max) {
      let victim: Socket | null = null;
      for (const [s, st] of open) {
        if (st.busy === 0) {
          victim = s;
          break;
        }
      }
      if (victim) {
        open.delete(victim);
        victim.destroy();
        evicted += 1;
        note('evicted');
      } else {
        refusedSockets.add(sock);
        refused += 1;
        note('refused');
        sock.end(TOO_MANY);
        return;
      }
    }
    open.set(sock, { busy: 0 });
    sock.once('close', () => open.delete(sock));
  });
  server.on('request', (req: IncomingMessage, res) => {
    const st = open.get(req.socket);
    if (!st) return;
    st.busy += 1;
    res.once('close', () => (st.busy -= 1));
  });

  return {
    get open() {
      return open.size;
    },
    get evicted() {
      return evicted;
    },
    get refused() {
      return refused;
    },
    isRefused: (req) => refusedSockets.has(req.socket),
  };
}
