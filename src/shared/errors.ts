// Every error reloadkit throws on purpose, in one place: each is a
// ReloadkitError with a stable `code` from ERROR_CODES. docs/errors.md lists
// the same codes (a test keeps the two equal).

/** Every code a ReloadkitError can carry, with what it means. */
export const ERROR_CODES = {
  ERR_OPTIONS: 'an option or argument is invalid (createReloader, a source, a hook factory)',
  ERR_LOAD: 'a config could not be read, parsed, verified or validated',
  ERR_NOT_STARTED: 'the reloader or unit was used before start() completed',
  ERR_CLOSED: 'the reloader, unit or watcher is closed (or was closed during start)',
  ERR_SHUTTING_DOWN: 'a request was answered with a shutdown instead of a result',
  ERR_UNKNOWN_UNIT: 'a reload named a unit that does not exist',
  ERR_SOCKET_PATH: 'the admin socket path cannot be used (not a socket, unsafe directory, too long)',
  ERR_HTTP_REMOTE: 'the admin HTTP address is not loopback and remote access was not allowed',
  ERR_HTTP_LISTEN: 'the admin HTTP address cannot be bound',
  ERR_WRITE: 'a file could not be written atomically (persist file, state, keys)',
  ERR_KEY: 'a signing or public key cannot be created, read or used',
  ERR_ADMIN_CLIENT: 'the admin socket cannot be reached or answered badly',
  ERR_CONFIG: 'the daemon config file is invalid',
  ERR_DAEMON_START: 'the daemon cannot start',
  ERR_USAGE: 'a command line is invalid',
  ERR_CLIENT_CONFIG: 'the command line client cannot read the config file it was pointed at',
  ERR_ETCD: 'etcd cannot be reached or answered with an error (fleet mode, etcdSource)',
  ERR_REVISION: 'a fleet push was refused before anything was written (a path, a size, a signature)',
  ERR_ROLLOUT: 'a fleet rollout command was refused (another rollout runs, or the rollout is not in a state that allows it)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every error reloadkit throws on purpose; `code` is stable. */
export class ReloadkitError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ReloadkitError';
    this.code = code;
  }
}

/** A bad option or argument; the message names it. */
export class OptionsError extends ReloadkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_OPTIONS', message, options);
    this.name = 'OptionsError';
  }
}

/**
 * Refuses a key of an options object that is not one of `known` (a key whose
 * value is undefined counts as absent): a typo must fail where it is made,
 * not silently do nothing. `where` names the options object
 * (`triggers.http`, `fileSource`), so the message is
 * `triggers.http: unknown option "tokn" (known: address, …)`.
 */
export function refuseUnknownKeys(where: string, value: unknown, known: readonly string[]): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new OptionsError(`${where}: expected an options object, got ${Array.isArray(value) ? 'an array' : value === null ? 'null' : typeof value}`);
  }
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined && !known.includes(key)) throw new OptionsError(`${where}: unknown option ${JSON.stringify(key)} (known: ${known.join(', ')})`);
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
  /** What failed and where, without the unit and source the message starts with (when it does). */
  readonly detail: string;
  constructor(message: string, options?: { cause?: unknown; detail?: string }) {
    super('ERR_LOAD', message, options);
    this.name = 'LoadError';
    this.detail = options?.detail ?? message;
  }
}

/** The file (or a path component) does not exist. dirSource re-lists on it. */
export class FileNotFoundError extends LoadError {
  constructor(path: string, options?: { cause?: unknown }) {
    super(`${path}: file not found`, options);
    this.name = 'FileNotFoundError';
  }
}

/** Why a file did not verify; the text after "<file>: " in the load error. */
export type SignatureFailureReason =
  'missing signature' | 'bad signature' | 'malformed signature (expected the base64 of a 64-byte Ed25519 signature)' | `cannot read signature: ${string}`;

/** A file whose signature is missing or does not verify. */
export class SignatureError extends LoadError {
  readonly file: string;
  readonly reason: SignatureFailureReason;
  constructor(file: string, reason: SignatureFailureReason) {
    super(`signature verification failed: ${file}: ${reason}`);
    this.name = 'SignatureError';
    this.file = file;
    this.reason = reason;
  }
}

/** Finds a SignatureError in an error or its `cause` chain (sources may wrap it). */
export function findSignatureError(err: unknown): SignatureError | null {
  let cur: unknown = err;
  for (let depth = 0; depth < 8 && cur; depth++) {
    if (cur instanceof SignatureError) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return null;
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

/** A write that did not happen (or, for `durable: false`, may not survive a power loss). */
export class AtomicWriteError extends ReloadkitError {
  readonly path: string;
  /** errno code of the underlying failure, e.g. ENOSPC, EROFS. */
  readonly errno: string | undefined;
  /** True when `path` was replaced but the directory fsync failed. */
  readonly replaced: boolean;
  constructor(path: string, message: string, errno: string | undefined, replaced: boolean, cause?: unknown) {
    super('ERR_WRITE', message, { cause });
    this.name = 'AtomicWriteError';
    this.path = path;
    this.errno = errno;
    this.replaced = replaced;
  }
}

/** The admin socket cannot be reached, or its reply cannot be read. */
export class AdminClientError extends ReloadkitError {
  /** ENOENT, ECONNREFUSED, EACCES, ETIMEDOUT, ECLOSED, ENOTSOCK, ETOOBIG or the system code. */
  readonly reason: string;
  constructor(reason: string, message: string) {
    super('ERR_ADMIN_CLIENT', message);
    this.name = 'AdminClientError';
    this.reason = reason;
  }
}

/** The daemon config file is invalid; `problems` has one line per problem, each with its position. */
export class ConfigError extends ReloadkitError {
  readonly problems: string[];
  constructor(file: string, problems: string[]) {
    super('ERR_CONFIG', problems.length === 1 ? problems[0]! : `${file}: ${problems.length} problems:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Thrown when the daemon cannot start; the message is for the operator. */
export class DaemonStartError extends ReloadkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_DAEMON_START', message, options);
    this.name = 'DaemonStartError';
  }
}

/** A command line the CLI cannot run (exit 2). */
export class UsageError extends ReloadkitError {
  constructor(message: string) {
    super('ERR_USAGE', message);
    this.name = 'UsageError';
  }
}

/** The config file named for `status`/`reload` cannot be read for its admin socket (exit 2). */
export class ClientConfigError extends ReloadkitError {
  constructor(message: string) {
    super('ERR_CLIENT_CONFIG', message);
    this.name = 'ClientConfigError';
  }
}

/** etcd could not be reached or answered with an error; the message names the endpoints and the reason. */
export class EtcdError extends ReloadkitError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_ETCD', message, options);
    this.name = 'EtcdError';
  }
}

/** A push refused before anything was written; the message says which path and why. */
export class RevisionError extends ReloadkitError {
  constructor(message: string) {
    super('ERR_REVISION', message);
    this.name = 'RevisionError';
  }
}

/** A rollout command refused (a push while another rollout runs, pause of a finished one, …); nothing was changed. */
export class RolloutError extends ReloadkitError {
  /** The target's rollout at the time, when there is one. */
  readonly rollout: string | undefined;
  constructor(message: string, rollout?: string) {
    super('ERR_ROLLOUT', message);
    this.name = 'RolloutError';
    this.rollout = rollout;
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
