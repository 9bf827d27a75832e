// An HTTPS service with live config reload, built on reloadkit.
//
//   node --import tsx examples/service/server.ts examples/service/config.yaml [--socket PATH]
//
// What reloads live, and how:
//   log.level       logLevelHook   -> the pino logger's level
//   tls.*           tlsHook        -> server.setSecureContext (new handshakes get the new certificate)
//   rate_limit      onChange       -> the limiter in front of GET /data
//   upstream.url    onChange       -> flushes the response cache
//   server.*        restart required: reported in every result and in `status`, the
//                   service keeps serving on the address it started with
// Reloads happen on SIGHUP, when config.yaml changes (watch), and on the admin
// socket (`echo reload | nc -U PATH`, or `reloadkit reload --socket PATH`).
// Rotating a certificate in place (same paths) needs SIGHUP or `reload`: only
// config.yaml is watched, and tlsHook compares the files' bytes, not their names.
import { once } from 'node:events';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { pino } from 'pino';
import { z } from 'zod';
// In your project: from 'reloadkit'.
import { createReloader, fileSource, logLevelHook, onChange, tlsHook, validLevels, type ConfigOf } from '../../src/index.js';
import { RateLimiter, type RateLimitSettings } from './rate-limit.js';

const logger = pino({ level: 'info', base: { service: 'example' } });

export const schema = z.strictObject({
  server: z.strictObject({
    host: z.string().default('127.0.0.1'),
    port: z.number().int().min(0).max(65535),
  }),
  log: z.strictObject({
    level: z.string().refine((l) => validLevels(logger).includes(l), { message: `expected one of ${validLevels(logger).join(', ')}` }),
  }),
  upstream: z.strictObject({
    url: z.url({ protocol: /^https?$/ }),
    timeout_ms: z.number().int().positive().default(2000),
  }),
  rate_limit: z.strictObject({
    requests: z.number().int().positive(),
    window_ms: z.number().int().positive().default(1000),
  }),
  tls: z.strictObject({ cert_file: z.string().min(1), key_file: z.string().min(1) }),
});
export type Config = ConfigOf<typeof schema>;

function parseArgs(argv: string[]): { configPath: string; socketPath: string } {
  const args = [...argv];
  let socket: string | undefined;
  const i = args.indexOf('--socket');
  if (i >= 0) {
    socket = args[i + 1];
    args.splice(i, 2);
  }
  const configPath = resolve(args[0] ?? 'config.yaml');
  return { configPath, socketPath: resolve(socket ?? process.env.SERVICE_ADMIN_SOCKET ?? `${dirname(configPath)}/service.sock`) };
}

async function main(): Promise<void> {
  const { configPath, socketPath } = parseArgs(process.argv.slice(2));
  const limiter = new RateLimiter({ requests: 1, window_ms: 1000 });
  const cache = new Map<string, string>();
  let server: https.Server | undefined;
  // The server does not exist before the config is loaded: the hook gets a function.
  const tls = tlsHook(() => server, { cert: 'tls.cert_file', key: 'tls.key_file', baseDir: dirname(configPath) });

  const reloader = createReloader({
    name: 'service',
    source: fileSource(configPath),
    schema,
    restartRequired: { paths: ['server.*'], policy: 'warn' },
    hooks: [
      logLevelHook(logger, 'log.level'),
      tls,
      onChange('rate_limit', (next: RateLimitSettings) => limiter.configure(next)),
      onChange('upstream.url', (next: string, prev: string) => {
        cache.clear();
        logger.info({ from: prev, to: next }, 'upstream changed; cache flushed');
      }),
    ],
    triggers: { signal: 'SIGHUP', watch: true, socket: socketPath },
    logger,
  });
  await reloader.start();

  // Hooks do not run at start: build the service from the first snapshot.
  const boot = reloader.current();
  logger.level = boot.log.level;
  limiter.configure(boot.rate_limit);

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    logger.debug({ method: req.method, url: req.url }, 'request');
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    const cfg = reloader.current();
    switch (req.url) {
      case '/health':
        return json(200, { status: 'ok' });
      case '/status':
        return json(200, {
          generation: reloader.generation,
          log_level: logger.level,
          rate_limit: limiter.limits,
          upstream: cfg.upstream.url,
          listening: (server!.address() as AddressInfo).port,
          pending_restart: reloader.pendingRestart(),
        });
      case '/data': {
        if (!limiter.take()) return json(429, { error: 'rate limit exceeded' });
        const url = cfg.upstream.url;
        let body = cache.get(url);
        if (body === undefined) {
          try {
            const up = await fetch(url, { signal: AbortSignal.timeout(cfg.upstream.timeout_ms) });
            body = await up.text();
            if (!up.ok) return json(502, { error: `upstream answered ${up.status}` });
          } catch (err) {
            return json(502, { error: `upstream unreachable: ${(err as Error).message}` });
          }
          cache.set(url, body);
        }
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(body);
        return;
      }
      default:
        return json(404, { error: 'not found' });
    }
  };

  server = https.createServer({ ...(await tls.serverOptions(boot)), keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      logger.error({ err: (err as Error).message }, 'request failed');
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.listen(boot.server.port, boot.server.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  logger.info({ host: boot.server.host, port, socket: socketPath }, 'listening');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await reloader.close();
    server!.close();
    server!.closeAllConnections();
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  logger.fatal({ err: (err as Error).message }, 'cannot start');
  process.exitCode = 1;
});
