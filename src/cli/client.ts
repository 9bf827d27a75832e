// `reloadkit reload` and `reloadkit status`: one line to the admin socket,
// the reply printed for humans (or as JSON), with the documented exit codes.
import { sendAdminCommand } from '../admin/client.js';
import type { FleetSummary } from '../fleet/agent.js';
import type { ReloadResult } from '../shared/types.js';
import { err, EXIT, findSocket, out, parse, type SocketChoice } from './common.js';
import { AdminClientError, ClientConfigError, UsageError } from '../shared/errors.js';
import { DEFAULT_CONFIG_PATH } from '../shared/defaults.js';
import { flattenLines } from '../shared/text.js';

export const RELOAD_HELP = `Usage: reloadkit reload [UNIT] [--socket PATH | -c FILE] [--json] [--no-wait]
                        [--timeout SECONDS]

Asks the running daemon to reload every unit (its own config "reloadkit"
first, then every target in parallel), or only UNIT, and waits for the
results. Prints one line per unit, or the daemon's JSON reply with --json.

Options:
  --socket PATH      admin socket (default: $RELOADKIT_SOCKET, else
                     admin.socket of the config file, else
                     /run/reloadkit/admin.sock as root, else
                     $XDG_RUNTIME_DIR/reloadkit/admin.sock, else
                     $TMPDIR/reloadkit-<uid>/admin.sock)
  -c, --config FILE  daemon config to read admin.socket from, when neither
                     --socket nor $RELOADKIT_SOCKET is given (default:
                     $RELOADKIT_CONFIG, else ${DEFAULT_CONFIG_PATH} if it
                     exists); relative paths resolve against its directory
  --json             print the JSON reply as-is
  --no-wait          only queue the reload (of every unit, or of UNIT) and
                     do not wait for the result (the text command RELOAD
                     [UNIT]); prints "reload queued for …" once the daemon
                     queued the pass or joined one already pending
  --timeout SECONDS  how long to wait for the results (default 600)
  -h, --help         this help

Exit codes:
  0  every unit reloaded ended full_success (with --no-wait: queued)
  1  any unit ended otherwise (validation_failed, apply_failed, …), the
     daemon refused (e.g. shutting down), or it took the request but gave no
     result within --timeout (the reload may still be running)
  2  usage error, unknown unit, or the daemon cannot be reached (the message
     names the socket path and the reason)
`;

export const STATUS_HELP = `Usage: reloadkit status [--socket PATH | -c FILE] [--json]

Shows every unit of the running daemon: generation, last reload, changes
waiting for a restart.

Options:
  --socket PATH      admin socket (default: $RELOADKIT_SOCKET, else
                     admin.socket of the config file, else the built-in
                     default; see reloadkit reload --help)
  -c, --config FILE  daemon config to read admin.socket from (as for reload)
  --json             print the JSON reply as-is
  -h, --help         this help

Exit codes:
  0  the daemon answered with its status
  1  the daemon answered, but with an error (e.g. shutting down) or a reply
     that is not a status
  2  usage error, or the daemon cannot be reached (the message names the
     socket path and the reason)
`;

/** `nginx: full_success (generation 3, 41 ms)` / `nginx: validation_failed: <why> (generation 2, 30 ms)`. */
export function summarize(r: ReloadResult): string {
  const why = r.status === 'full_success' || r.status === 'unchanged' ? '' : `: ${flattenLines(r.error ?? r.load_error ?? 'failed')}`;
  const restart = r.requires_restart.length > 0 ? `; restart needed for ${r.requires_restart.join(', ')}` : '';
  const coalesced = r.coalesced > 0 ? `, ${r.coalesced} coalesced` : '';
  return `${r.unit}: ${r.status}${why} (generation ${r.generation}, ${Math.round(r.duration_ms)} ms${coalesced}${restart})`;
}

interface ReplyShape {
  status?: string;
  message?: string;
  results?: Record<string, ReloadResult>;
}

/** The socket by the documented precedence, or exit code 2 (printed) when the config file cannot tell. */
async function locate(values: { socket?: string | undefined; config?: string | undefined }): Promise<SocketChoice | number> {
  try {
    return await findSocket(values);
  } catch (e) {
    if (!(e instanceof ClientConfigError)) throw e;
    err(`reloadkit: ${e.message}`);
    return EXIT.USAGE;
  }
}

/**
 * Sends one line; the reply, or an exit code (printed): 2 when the daemon
 * cannot be reached, 1 when it took the request but did not answer in time
 * (`late` says what that means for this command).
 */
async function ask(where: SocketChoice, line: string, timeoutMs: number, late?: (seconds: string) => string): Promise<string | number> {
  let sent = false;
  try {
    return await sendAdminCommand(where.path, line, {
      timeoutMs,
      onSent: () => {
        sent = true;
      },
    });
  } catch (e) {
    if (!(e instanceof AdminClientError)) throw e;
    if (sent && e.reason === 'ETIMEDOUT' && late) {
      err(`reloadkit: ${late(String(Math.round(timeoutMs / 100) / 10))}`);
      return EXIT.FAIL;
    }
    const from = where.from === 'file' ? `; the path is admin.socket of ${where.file}` : '';
    err(`reloadkit: cannot reach the daemon: ${e.message}${from}`);
    return EXIT.USAGE;
  }
}

/** The JSON reply, or null (printed) when it is not JSON. */
function parseReply<T>(path: string, line: string): T | null {
  try {
    return JSON.parse(line) as T;
  } catch {
    err(`reloadkit: unexpected reply from ${path}: ${line.slice(0, 200)}`);
    return null;
  }
}

export async function reloadCommand(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    {
      socket: { type: 'string' },
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      'no-wait': { type: 'boolean' },
      timeout: { type: 'string' },
    },
    1,
  );
  if (values.help) {
    out(RELOAD_HELP);
    return EXIT.OK;
  }
  const unit = positionals[0];
  if (unit !== undefined && !/^[\x21-\x7e]{1,128}$/.test(unit)) throw new UsageError(`invalid unit name ${JSON.stringify(unit)}`);
  const timeoutS = values.timeout === undefined ? 600 : Number(values.timeout);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0)
    throw new UsageError(`--timeout must be a positive number of seconds, got ${JSON.stringify(values.timeout)}`);
  const where = await locate(values);
  if (typeof where === 'number') return where;
  const path = where.path;

  if (values['no-wait']) {
    // The text command: `RELOAD` (every unit) or `RELOAD <unit>` (one unit).
    const reply = await ask(
      where,
      unit === undefined ? 'RELOAD' : `RELOAD ${unit}`,
      timeoutS * 1000,
      (s) => `no reply within ${s} s; the daemon has the request, and the reload may have been queued (see reloadkit status)`,
    );
    if (typeof reply === 'number') return reply;
    const text = reply.trim();
    if (text === 'OK') {
      if (values.json) out(JSON.stringify({ status: 'ok', queued: true, ...(unit === undefined ? {} : { unit }) }));
      else out(unit === undefined ? 'reload queued for every unit' : `reload queued for ${unit}`);
      return EXIT.OK;
    }
    err(`reloadkit: the daemon refused: ${text}`);
    return text.startsWith('ERROR: unknown unit:') ? EXIT.USAGE : EXIT.FAIL;
  }

  const line = await ask(
    where,
    unit === undefined ? 'reload' : `reload ${unit}`,
    timeoutS * 1000,
    (s) => `no result within ${s} s; the reload may still be running (reloadkit status shows its result once it ends)`,
  );
  if (typeof line === 'number') return line;
  const reply = parseReply<ReplyShape>(path, line);
  if (reply === null) return EXIT.FAIL;
  const results = Object.values(reply.results ?? {});
  const allOk = reply.status === 'ok' && results.length > 0 && results.every((r) => r.status === 'full_success');
  if (values.json) out(line);
  else {
    for (const r of results) out(summarize(r));
    if (results.length === 0 && reply.message !== undefined) err(`reloadkit: ${reply.message}`);
  }
  if (allOk) return EXIT.OK;
  if (results.length === 0 && typeof reply.message === 'string' && reply.message.startsWith('unknown unit:')) return EXIT.USAGE;
  return EXIT.FAIL;
}

export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

function duration(secs: number): string {
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m${secs % 60}s`;
  return `${Math.floor(secs / 3600)}h${Math.floor((secs % 3600) / 60)}m`;
}

interface StatusShape {
  status: string;
  uptime_secs: number;
  targets: number;
  units: Record<string, { generation: number; last_result: ReloadResult | null; pending_restart: string[] }>;
  fleet?: FleetSummary;
}

export function formatStatus(s: StatusShape, now = Date.now()): string {
  const rows = Object.entries(s.units).map(([name, u]) => {
    const last = u.last_result;
    return [
      name,
      String(u.generation),
      last ? last.status : '-',
      last ? `${ago(last.ended_at, now)} (${last.trigger})` : 'no reload yet',
      u.pending_restart.length > 0 ? u.pending_restart.join(', ') : '-',
      last && last.status !== 'full_success' && last.status !== 'unchanged' ? flattenLines(last.error ?? last.load_error ?? '') : '',
    ];
  });
  const head = ['UNIT', 'GEN', 'LAST', 'WHEN', 'RESTART NEEDED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .slice(0, 5)
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = [`reloadkit: up ${duration(s.uptime_secs)}, ${s.targets} target${s.targets === 1 ? '' : 's'}`, fmt(head)];
  for (const r of rows) {
    lines.push(fmt(r));
    if (r[5]) lines.push(`  error: ${r[5]}`);
  }
  if (s.fleet) lines.push(...formatFleetSummary(s.fleet));
  return `${lines.join('\n')}\n`;
}

/** The fleet lines of `reloadkit status`: the fleet, etcd reachable or not, each managed target's revision. */
function formatFleetSummary(f: FleetSummary): string[] {
  const lines = [`fleet ${f.fleet} as host ${f.host}: etcd ${f.connected ? 'connected' : 'NOT connected (serving the current files)'}`];
  for (const [t, st] of Object.entries(f.targets)) {
    const desired = st.desired === null ? '' : `, desired ${st.desired}`;
    lines.push(
      `  ${t}: revision ${st.revision}${desired}, ${st.status}${st.driving ? ' (drives its rollouts)' : ''}${st.reason ? `: ${flattenLines(st.reason)}` : ''}`,
    );
  }
  return lines;
}

export async function statusCommand(argv: readonly string[]): Promise<number> {
  const { values } = parse(argv, { socket: { type: 'string' }, config: { type: 'string', short: 'c' }, json: { type: 'boolean' } }, 0);
  if (values.help) {
    out(STATUS_HELP);
    return EXIT.OK;
  }
  const where = await locate(values);
  if (typeof where === 'number') return where;
  const path = where.path;
  const line = await ask(where, 'status', 30_000);
  if (typeof line === 'number') return line;
  // The same exit code with or without --json: 1 when the daemon answered but not with a status.
  let reply: StatusShape | null = null;
  try {
    reply = JSON.parse(line) as StatusShape;
  } catch {
    // reported below
  }
  const ok = reply !== null && typeof reply === 'object' && reply.status === 'ok' && typeof reply.units === 'object' && reply.units !== null;
  if (values.json) {
    out(line);
    return ok ? EXIT.OK : EXIT.FAIL;
  }
  if (!ok) {
    err(reply === null ? `reloadkit: unexpected reply from ${path}: ${line.slice(0, 200)}` : `reloadkit: the daemon answered: ${line.slice(0, 500)}`);
    return EXIT.FAIL;
  }
  out(formatStatus(reply!));
  return EXIT.OK;
}
