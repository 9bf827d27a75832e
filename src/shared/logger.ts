import type { Logger } from './types.js';

const noop = (): void => {};

/** The default logger: silent. Pass a pino logger to see passes and warnings. */
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
