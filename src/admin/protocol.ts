// The admin socket's wire protocol, as pure functions: one request
// line in, one command out; results in, the exact reply text out. The socket
// server and the HTTP endpoints both format their JSON here, so a `reload`
// answers the same over either.
import { ReloadkitError, ShutdownError, UnknownUnitError } from '../shared/errors.js';
import { OK_STATUSES, type ReloadResult } from '../shared/types.js';
import type { AdminHost } from './host.js';
import { VERSION } from './version.js';

/** Longest request line accepted, newline excluded. */
export const MAX_LINE_BYTES = 4096;
/** Longest client-supplied word echoed back in an error reply. */
const MAX_ECHO_CHARS = 32;

export type AdminCommand =
  | { kind: 'status' }
  | { kind: 'reload'; unit?: string }
  /** The plain-text protocol of nginx-reload daemons: `OK` once queued (`RELOAD <unit>`: that unit only). */
  | { kind: 'reload-text'; unit?: string }
  | { kind: 'invalid' }
  | { kind: 'unknown'; word: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const STATUS_BYTES = [...Buffer.from('status')];
const STATUS: AdminCommand = Object.freeze({ kind: 'status' });

/**
 * Parses one request line (the bytes before `\n`). Surrounding whitespace
 * (and a CR from CRLF clients) is ignored, as other admin sockets do; commands are
 * case-sensitive (`RELOAD` is the text protocol, `reload` the JSON one).
 */
export function parseRequest(line: Uint8Array | string): AdminCommand {
  // Fast path for the command monitoring polls most.
  if (typeof line !== 'string' && line.byteLength === 6 && STATUS_BYTES.every((b, i) => line[i] === b)) return STATUS;
  let text: string;
  if (typeof line === 'string') {
    text = line;
  } else {
    if (line.byteLength > MAX_LINE_BYTES) return { kind: 'invalid' };
    try {
      text = utf8.decode(line);
    } catch {
      return { kind: 'invalid' };
    }
  }
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'invalid' };
  const words = trimmed.split(/\s+/);
  const verb = words[0]!;
  if (verb === 'status' && words.length === 1) return STATUS;
  if (verb === 'reload' && words.length === 1) return { kind: 'reload' };
  if (verb === 'reload' && words.length === 2) return { kind: 'reload', unit: words[1]! };
  if (verb === 'RELOAD' && words.length === 1) return { kind: 'reload-text' };
  if (verb === 'RELOAD' && words.length === 2) return { kind: 'reload-text', unit: words[1]! };
  // A known verb with the wrong arguments is named with them, so the reply says what was not understood.
  const known = verb === 'status' || verb === 'reload' || verb === 'RELOAD';
  return { kind: 'unknown', word: sanitizeWord(known ? trimmed : verb) };
}

/** Printable ASCII only (others become `?`), at most 32 characters: safe to echo in a reply or a log. */
export function sanitizeWord(text: string): string {
  let out = '';
  for (const ch of text) {
    if (out.length >= MAX_ECHO_CHARS) break;
    const code = ch.codePointAt(0)!;
    out += code >= 0x20 && code <= 0x7e ? ch : '?';
  }
  return out;
}

// ---- replies ---------------------------------------------------------------

export interface UnitStatus {
  generation: number;
  last_result: ReloadResult | null;
  pending_restart: readonly string[];
}

export interface StatusReply {
  status: 'ok';
  uptime_secs: number;
  targets: number;
  units: Record<string, UnitStatus>;
  /** This host's fleet (daemon with `fleet:` only). */
  fleet?: object;
  /** reloadkit's version (an addition to the documented status shape; after the fields before it, which keep their order). */
  version: string;
  /**
   * What is wrong while the config in effect stays valid, as `ready()` lists it
   * (a refused reload, a fallback start, polling, a last-known-good file that
   * cannot be saved, an admin socket not served); empty when nothing is.
   */
  degraded: string[];
}

export interface ErrorReply {
  status: 'error';
  message: string;
  results?: Record<string, ReloadResult>;
}

interface ReloadOkReply {
  status: 'ok';
  results: Record<string, ReloadResult>;
}

export type ReloadReply = ReloadOkReply | ErrorReply;

export function statusReply(host: AdminHost, now = Date.now()): StatusReply {
  const units: Record<string, UnitStatus> = {};
  for (const u of host.units()) {
    units[u.name] = { generation: u.generation, last_result: u.lastResult(), pending_restart: u.pendingRestart() };
  }
  return {
    status: 'ok',
    uptime_secs: Math.max(0, Math.floor((now - host.startedAt) / 1000)),
    targets: host.targetCount(),
    units,
    ...fleetOf(host),
    version: VERSION,
    degraded: host.ready().degraded,
  };
}

/** `fleet` in the status reply, only when the host has one. */
function fleetOf(host: AdminHost): { fleet?: object } {
  const fleet = host.fleet?.() ?? null;
  return fleet === null ? {} : { fleet };
}

/** `ok` when every unit's pass ended full_success (or unchanged); otherwise an error naming each failed unit. */
export function reloadReply(results: Record<string, ReloadResult>): ReloadReply {
  const failures: string[] = [];
  for (const [name, r] of Object.entries(results)) {
    if (OK_STATUSES.has(r.status)) continue;
    failures.push(`${name}: ${r.status}: ${r.error ?? r.load_error ?? r.status}`);
  }
  if (failures.length === 0) return { status: 'ok', results };
  return { status: 'error', message: failures.join('; '), results };
}

export function errorReply(message: string): ErrorReply {
  return { status: 'error', message };
}

/**
 * The reply message for an error a host raised: ours are meant for users;
 * anything else may carry internals and is replaced (the caller logs it).
 */
export function hostErrorMessage(err: unknown): { message: string; internal: boolean } {
  if (err instanceof UnknownUnitError) return { message: `unknown unit: ${sanitizeWord(err.unit)}`, internal: false };
  if (err instanceof ShutdownError || (err instanceof ReloadkitError && err.code === 'ERR_CLOSED')) {
    return { message: 'shutting down', internal: false };
  }
  if (err instanceof ReloadkitError) return { message: err.message, internal: false };
  return { message: 'internal error', internal: true };
}

export const INVALID_INPUT: ErrorReply = Object.freeze({ status: 'error', message: 'invalid input' }) as ErrorReply;

/** One JSON reply line, newline-terminated. */
export function replyLine(reply: StatusReply | ReloadReply | ErrorReply): string {
  return `${JSON.stringify(reply)}\n`;
}

/** Replies of the plain-text protocol (`OK`, `ERROR: <reason>`). */
export const TEXT_OK = 'OK\n';
export function textError(reason: string): string {
  // One line, printable: the reason is ours, but never let it break the framing.
  return `ERROR: ${reason.replace(/[^\x20-\x7e]/g, ' ')}\n`;
}
