// The daemon's logger: pino JSON lines on stdout, written synchronously so a
// line is out before the process exits, level changeable at runtime.
import type { LogLevel } from './config.js';
import type { DaemonLogger } from './daemon.js';

export async function createDaemonLogger(level: LogLevel, fd = 1): Promise<{ logger: DaemonLogger }> {
  const { pino } = await import('pino');
  const logger = pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ dest: fd, sync: true }),
  );
  // Wrapped: pino's logger type has members a Promise resolution would probe.
  return { logger };
}
