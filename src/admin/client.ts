// A minimal admin-socket client for the CLI (`reloadkit reload`, `reloadkit
// status`): one line out, one line back, with errors that say what is wrong.
import { connect } from 'node:net';
import { AdminClientError } from '../shared/errors.js';
import { errnoCode } from '../shared/errno.js';

export const DEFAULT_CLIENT_TIMEOUT_MS = 120_000;
/** Replies larger than this are cut off (a status of many units is a few KiB). */
const MAX_REPLY_BYTES = 16 * 1024 * 1024;

export interface SendOptions {
  /** Whole exchange deadline (default 120 s: a `reload` waits for the real result). */
  timeoutMs?: number;
  /** Called once the line has been written to a connected socket (a later timeout is then "no reply", not "unreachable"). */
  onSent?: () => void;
}

/**
 * Sends one command line (a newline is added) and resolves with the reply
 * line, without its trailing newline.
 */
export function sendAdminCommand(socketPath: string, line: string, options: SendOptions = {}): Promise<string> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const sock = connect({ path: socketPath });
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: AdminClientError | null, reply?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(reply!);
    };
    const timer = setTimeout(
      () => finish(new AdminClientError('ETIMEDOUT', `no reply from the admin socket at ${socketPath} within ${Math.round(timeoutMs / 100) / 10} s`)),
      timeoutMs,
    );
    sock.once('connect', () =>
      sock.write(`${line}\n`, (e) => {
        if (!e) options.onSent?.();
      }),
    );
    sock.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      const text = Buffer.concat(chunks, size);
      const nl = text.indexOf(0x0a);
      if (nl !== -1) finish(null, text.subarray(0, nl).toString('utf8'));
      else if (size > MAX_REPLY_BYTES) finish(new AdminClientError('ETOOBIG', `the reply from the admin socket at ${socketPath} is too large`));
    });
    sock.on('end', () => {
      if (size > 0) finish(null, Buffer.concat(chunks, size).toString('utf8'));
      else finish(new AdminClientError('ECLOSED', `the admin socket at ${socketPath} closed the connection without a reply`));
    });
    sock.on('error', (err) => finish(describe(socketPath, err)));
  });
}

function describe(path: string, err: Error): AdminClientError {
  const code = errnoCode(err) ?? 'EIO';
  switch (code) {
    case 'ENOENT':
      return new AdminClientError(code, `no admin socket at ${path} (is reloadkit running?)`);
    case 'ECONNREFUSED':
      return new AdminClientError(code, `the admin socket at ${path} refused the connection (reloadkit is not running; the socket file is stale)`);
    case 'EACCES':
    case 'EPERM':
      return new AdminClientError(code, `permission denied on the admin socket at ${path} (run as its owner or a member of its group)`);
    case 'ENOTSOCK':
      return new AdminClientError(code, `${path} is not a socket`);
    case 'ENOTDIR':
      return new AdminClientError(code, `no admin socket at ${path} (a parent is not a directory)`);
    case 'ECONNRESET':
    case 'EPIPE':
      return new AdminClientError(code, `the admin socket at ${path} closed the connection without a reply`);
    default:
      return new AdminClientError(code, `cannot talk to the admin socket at ${path}: ${err.message}`);
  }
}
