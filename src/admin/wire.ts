// Starts the library's admin surfaces (socket, metrics, HTTP) for
// createReloader, as trigger handles in the order shutdown stops them
// (admin connections first, HTTP last).
// Imported lazily by reloader.ts: none of this loads unless asked for.
import type { Registry } from 'prom-client';
import type { HttpTriggerOptions, SocketTriggerOptions, TriggerHandle } from '../engine/reloader.js';
import type { Logger } from '../types.js';
import type { AdminHost } from './host.js';
import { startAdminHttp } from './http.js';
import { createReloadMetrics, type ObservableUnit, type ReloadMetrics } from './metrics.js';
import { startAdminSocket } from './socket.js';

export interface AdminTriggerOptions {
  socket?: string | SocketTriggerOptions | undefined;
  http?: string | HttpTriggerOptions | undefined;
  registry?: Registry | undefined;
  host: AdminHost;
  unit: ObservableUnit;
  logger: Logger;
}

export interface AdminTriggers {
  /**
   * Push in this order: closing runs in reverse, so the socket stops
   * accepting first, and (after the unit closed) its last replies drain
   * before metrics detach and HTTP closes last.
   */
  triggers: TriggerHandle[];
  /** Present when a registry or HTTP was asked for (watchers count events here). */
  metrics: ReloadMetrics | null;
}

export async function startAdminTriggers(o: AdminTriggerOptions): Promise<AdminTriggers> {
  const socketOpts = typeof o.socket === 'string' ? { path: o.socket } : o.socket;
  const httpOpts = typeof o.http === 'string' ? { address: o.http } : o.http;
  const wantHttp = httpOpts !== undefined && httpOpts.address !== '';
  const early: TriggerHandle[] = [];
  const late: TriggerHandle[] = [];
  let metrics: ReloadMetrics | null = null;
  try {
    if (socketOpts && socketOpts.path !== '') {
      const sock = await startAdminSocket({
        path: socketOpts.path,
        ...(socketOpts.mode === undefined ? {} : { mode: socketOpts.mode }),
        ...(socketOpts.group === undefined ? {} : { group: socketOpts.group }),
        ...(socketOpts.maxConnections === undefined ? {} : { maxConnections: socketOpts.maxConnections }),
        host: o.host,
        logger: o.logger,
      });
      // A socket that cannot be served is logged and the reloader runs without it;
      // readiness covers the initial load and the watchers, so no health() here.
      early.push({ name: 'socket', close: () => sock.stopAccepting() });
      late.push({ name: 'socket connections', close: () => sock.close(), closeLast: true });
    }
    if (wantHttp || o.registry !== undefined) {
      metrics = await createReloadMetrics(o.registry === undefined ? {} : { registry: o.registry });
      late.unshift({ name: 'metrics', close: metrics.attachUnit(o.unit), closeLast: true });
    }
    if (wantHttp) {
      const http = await startAdminHttp({
        address: httpOpts.address,
        allowRemote: httpOpts.allowRemote ?? false,
        reloadEnabled: httpOpts.reload ?? false,
        ...(httpOpts.token === undefined ? {} : { token: httpOpts.token }),
        maxConnections: httpOpts.maxConnections,
        headersTimeoutMs: httpOpts.headersTimeoutMs,
        requestTimeoutMs: httpOpts.requestTimeoutMs,
        maxEventClients: httpOpts.maxEventClients,
        host: o.host,
        metrics: metrics!,
        logger: o.logger,
      });
      late.unshift({ name: 'http', close: () => http.close(), closeLast: true, health: () => http.health() });
    }
  } catch (err) {
    for (const t of [...early, ...late].reverse()) await Promise.resolve(t.close()).catch(() => {});
    throw err;
  }
  return { triggers: [...early, ...late], metrics };
}
