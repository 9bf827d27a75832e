/** Base class of every error reloadkit throws on purpose; `code` is stable. */
export class ReloadkitError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReloadkitError';
    this.code = code;
  }
}

/** A request made after `close()`, or a waiter answered while shutting down. */
export class ShutdownError extends ReloadkitError {
  constructor(message = 'shutting down') {
    super('ERR_SHUTTING_DOWN', message);
    this.name = 'ShutdownError';
  }
}

/** Failure to read, parse, verify or validate a config. */
export class LoadError extends ReloadkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_LOAD', message, options);
    this.name = 'LoadError';
  }
}

/** The message of anything thrown, without stack or code frames. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  if (typeof err === 'string') return err;
  try {
    return JSON.stringify(err) ?? String(err);
  } catch {
    return String(err);
  }
}

/** `reload <name>` for a unit that does not exist. */
export class UnknownUnitError extends ReloadkitError {
  readonly unit: string;
  constructor(unit: string) {
    super('ERR_UNKNOWN_UNIT', `unknown unit: ${unit}`);
    this.name = 'UnknownUnitError';
    this.unit = unit;
  }
}
