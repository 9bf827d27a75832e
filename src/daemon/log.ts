// The daemon's logger: pino JSON lines on stdout, written synchronously so a
// line is out before the process exits, level changeable at runtime.
//
// pino (with the Node built-ins it pulls in) is loaded once the admin socket
// is up, not before: start-up time is measured to the socket. Lines logged
// until then are kept in order and written as soon as pino is there.
import type { Logger as PinoLogger } from 'pino';
import { LOG_LEVELS, type LogLevel } from './config.js';
import type { DaemonLogger } from './daemon.js';

type Method = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<string, number> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i]));

export class DaemonLog implements DaemonLogger {
  private pino: PinoLogger | null = null;
  private loading: Promise<void> | null = null;
  private early: Array<[Method, Record<string, unknown>, string | undefined]> = [];
  private current: LogLevel;

  constructor(
    level: LogLevel,
    private readonly fd = 1,
  ) {
    this.current = level;
  }

  get level(): string {
    return this.current;
  }

  set level(level: string) {
    if (!Object.hasOwn(RANK, level)) throw new Error(`unknown log level ${JSON.stringify(level)}`);
    this.current = level as LogLevel;
    if (this.pino) this.pino.level = level;
  }

  /** Loads pino and writes the lines logged so far; later lines go straight through. */
  ready(): Promise<void> {
    this.loading ??= (async () => {
      // The default export: pino is CommonJS, and every loader agrees on that one.
      const { default: pino } = await import('pino');
      this.pino = pino(
        {
          level: this.current,
          base: { pid: process.pid },
          timestamp: pino.stdTimeFunctions.isoTime,
          formatters: { level: (label) => ({ level: label }) },
        },
        pino.destination({ dest: this.fd, sync: true }),
      );
      const early = this.early;
      this.early = [];
      for (const [method, obj, msg] of early) this.pino[method](obj, msg);
    })();
    return this.loading;
  }

  private write(method: Method, obj: Record<string, unknown>, msg?: string): void {
    if (this.pino) {
      this.pino[method](obj, msg);
      return;
    }
    // Filtered now, so a level change before pino loads applies to later lines only.
    if (RANK[method]! < RANK[this.current]!) return;
    this.early.push([method, obj, msg]);
  }

  debug(obj: Record<string, unknown>, msg?: string): void {
    this.write('debug', obj, msg);
  }

  info(obj: Record<string, unknown>, msg?: string): void {
    this.write('info', obj, msg);
  }

  warn(obj: Record<string, unknown>, msg?: string): void {
    this.write('warn', obj, msg);
  }

  error(obj: Record<string, unknown>, msg?: string): void {
    this.write('error', obj, msg);
  }
}
