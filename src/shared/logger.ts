import type { Logger } from './types.js';

const noop = (): void => {};

/** A logger that drops everything: the library's `logger: false`, and the default of internal parts that are given one later. */
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

/** Errors become their message, bigints their digits: what a log line can hold. */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/**
 * The library's logger when none is given: a library must not swallow its own
 * failures, nor fill a service's output with routine lines. `warn` and `error`
 * write one JSON line each to stderr,
 * `{"level":"warn","time":<epoch ms>,"name":"reloadkit","unit":"app",…,"msg":"…"}`
 * (the fields of the event, already redacted, between `name` and `msg`, as pino
 * writes them); `debug` and `info` are silent.
 */
export function stderrLogger(unit: string, stream: { write(line: string): unknown } = process.stderr): Logger {
  const line =
    (level: 'warn' | 'error') =>
    (obj: Record<string, unknown>, msg?: string): void => {
      // Every line names its unit, also those of parts that do not know it (the admin socket).
      const head = { level, time: Date.now(), name: 'reloadkit', unit };
      let text: string;
      try {
        text = JSON.stringify({ ...head, ...obj, level, time: head.time, name: head.name, msg: msg ?? '' }, jsonValue);
      } catch {
        // A field that cannot be serialized (a cycle) must not lose the event.
        text = JSON.stringify({ ...head, msg: msg ?? '' });
      }
      stream.write(`${text}\n`);
    };
  return { debug: noop, info: noop, warn: line('warn'), error: line('error') };
}
