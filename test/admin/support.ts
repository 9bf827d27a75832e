// Shared helpers for the admin tests: raw socket exchanges, temp dirs, a
// recording logger, and a reloader on a real YAML file with a socket.
import { mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Registry } from 'prom-client';
import { createReloader, type Hook, type Logger, type Reloader } from '../../src/index.js';
import { fileSource } from '../../src/sources/index.js';
import type { HttpTriggerOptions, SocketTriggerOptions } from '../../src/library/reloader.js';
import type { AdminHost } from '../../src/admin/host.js';

/** A fresh temp directory (short path: socket paths are limited to 107 bytes), removed by the returned cleanup. */
export function tempDir(prefix = 'rk-adm-'): { dir: string; cleanup: () => void } {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Exchange {
  /** Everything the server sent before closing. */
  text: string;
  /** Milliseconds from connect to close. */
  ms: number;
}

export interface ExchangeOptions {
  /** Shut our write side after sending (the server must still answer). */
  halfClose?: boolean;
  /** Give up after this long (default 15 s). */
  timeoutMs?: number;
  /** Called once connected. */
  onConnect?: () => void;
}

/** Connects, sends raw bytes, and collects everything until the server closes. */
export function rawExchange(path: string, payload: Uint8Array | string | null | (Uint8Array | string)[], opts: ExchangeOptions = {}): Promise<Exchange> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sock = connect({ path });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close from server within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString())}`));
    }, timeoutMs);
    sock.on('connect', () => {
      opts.onConnect?.();
      // An array is written piece by piece, 20 ms apart (a slow or fragmenting client).
      const pieces = payload === null ? [] : Array.isArray(payload) ? payload : [payload];
      const writeNext = (i: number) => {
        if (i < pieces.length) {
          sock.write(pieces[i]!);
          setTimeout(() => writeNext(i + 1), Array.isArray(payload) ? 20 : 0);
        } else if (opts.halfClose) sock.end();
      };
      writeNext(0);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    // EPIPE/ECONNRESET while still writing a long line is expected; the reply is what matters.
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') {
        clearTimeout(timer);
        reject(err);
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 });
    });
  });
}

/** Sends one line and parses the one JSON line that comes back (asserting the framing). */
export async function command(path: string, line: string, opts: ExchangeOptions = {}): Promise<Record<string, unknown>> {
  const { text } = await rawExchange(path, `${line}\n`, opts);
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new Error(`not exactly one line: ${JSON.stringify(text)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

export interface LogEntry {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

export function recordingLogger(): Logger & { entries: LogEntry[]; at(level: LogEntry['level']): LogEntry[] } {
  const entries: LogEntry[] = [];
  const make = (level: LogEntry['level']) => (obj: Record<string, unknown>, msg?: string) => {
    entries.push({ level, obj, msg: msg ?? '' });
  };
  return {
    entries,
    at: (level) => entries.filter((e) => e.level === level),
    debug: make('debug'),
    info: make('info'),
    warn: make('warn'),
    error: make('error'),
  };
}

export interface AppFixture {
  r: Reloader<unknown>;
  dir: string;
  socketPath: string;
  configPath: string;
  logger: ReturnType<typeof recordingLogger>;
  write(yaml: string): void;
  cleanup(): Promise<void>;
}

export interface AppOptions {
  hooks?: Hook<unknown>[];
  socket?: Partial<SocketTriggerOptions> | string;
  http?: HttpTriggerOptions | string;
  registry?: Registry;
  restartRequired?: { paths: string[] };
  /** Reuse a directory (for two instances on one socket path). */
  dir?: string;
  name?: string;
}

/** A started reloader on a real YAML file, with an admin socket at `<dir>/admin.sock`. */
export async function startApp(opts: AppOptions = {}): Promise<AppFixture> {
  const own = opts.dir ? null : tempDir();
  const dir = opts.dir ?? own!.dir;
  const socketPath = join(dir, 'admin.sock');
  const configPath = join(dir, 'config.yaml');
  const write = (yaml: string) => writeFileSync(configPath, yaml);
  if (!opts.dir) write('port: 8080\nlevel: info\n');
  const logger = recordingLogger();
  const socket = typeof opts.socket === 'string' ? opts.socket : { path: socketPath, ...opts.socket };
  const r = createReloader<unknown>({
    ...(opts.name ? { name: opts.name } : {}),
    source: fileSource(configPath),
    hooks: opts.hooks ?? [],
    ...(opts.restartRequired ? { restartRequired: opts.restartRequired } : {}),
    triggers: { socket, ...(opts.http ? { http: opts.http } : {}) },
    ...(opts.registry ? { registry: opts.registry } : {}),
    logger,
  });
  try {
    await r.start();
  } catch (err) {
    await r.close();
    own?.cleanup();
    throw err;
  }
  return {
    r,
    dir,
    socketPath,
    configPath,
    logger,
    write,
    async cleanup() {
      await r.close();
      own?.cleanup();
    },
  };
}

/** A reloader with HTTP on 127.0.0.1:0 (plus `http` options); the bound address comes from its log line. */
export async function httpApp(http: Partial<HttpTriggerOptions> = {}): Promise<AppFixture & { base: string }> {
  const app = await startApp({ http: { address: '127.0.0.1:0', ...http } });
  const line = app.logger.at('info').find((e) => e.msg === 'admin HTTP listening');
  if (!line) throw new Error('the bound HTTP address is not logged');
  return Object.assign(app, { base: `http://${String(line.obj.http)}` });
}

/** A hook whose apply blocks until released; counts its runs. */
export function gateHook(name = 'gate'): Hook<unknown> & { runs: number; entered: number; release(): void; hold(): void } {
  let open = true;
  let waiters: (() => void)[] = [];
  const hook = {
    name,
    runs: 0,
    entered: 0,
    applyTimeoutMs: 60_000,
    hold() {
      open = false;
    },
    release() {
      open = true;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    async apply(ctx: { signal: AbortSignal }) {
      hook.entered += 1;
      if (!open) {
        await new Promise<void>((resolve, reject) => {
          waiters.push(resolve);
          ctx.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
        });
      }
      hook.runs += 1;
    },
  };
  return hook;
}

/** An AdminHost with no units, for tests of the servers' own behaviour (binding, files, framing). */
export function stubHost(overrides: Partial<AdminHost> = {}): AdminHost {
  return {
    startedAt: Date.now(),
    targetCount: () => 0,
    units: () => [],
    reload: async () => ({}),
    enqueue: () => {},
    ready: () => ({ ok: true, reasons: [], degraded: [] }),
    ...overrides,
  };
}
