// `reloadkit fleet push|status|pause|resume|abort|rollback|history`: talks
// to etcd directly (not to a daemon). etcd and the fleet come from --etcd/--fleet, else
// the `fleet:` section of the -c file (always read when given), else
// RELOADKIT_ETCD/RELOADKIT_FLEET, else the `fleet:` section of the config at
// RELOADKIT_CONFIG or the default path (if it exists).
import type { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { EtcdConnectOptions, EtcdStore } from '../etcd/client.js';
import type { FleetStatus } from '../fleet/status.js';
import { ago } from './client.js';
import { err, EXIT, out, parse } from './common.js';
import { DEFAULT_CONFIG_PATH } from '../shared/defaults.js';
import { ConfigError, EtcdError, RevisionError, RolloutError, UsageError } from '../shared/errors.js';
import { MAX_HOSTS_PER_TXN } from '../fleet/rollout.js';
import type { RolloutOptions } from '../fleet/control.js';

export const FLEET_HELP = `Usage: reloadkit fleet push TARGET PATH... [-m MSG] [--key FILE] [--from DIR] [--canary N] [--batch K] [--health-wait D] [--wait]
       reloadkit fleet status [TARGET] [--json]
       reloadkit fleet pause|resume|abort TARGET
       reloadkit fleet rollback TARGET [--to REVISION] [--canary N] [--batch K] [--health-wait D] [--wait]
       reloadkit fleet history TARGET [--json]

Fleet mode: one config change, many hosts, through etcd, never all at once.
A push stores a revision and starts its rollout: the canary hosts first, one
at a time (hosts labelled canary: "true", else the first --canary hosts by
name), then batches of at most --batch hosts by name. Each host applies it
to the target's fleet.dir (files written atomically, the target's check,
reload and verify, the health gate); a failure puts the previous files back
byte for byte and halts the rollout: no other host starts.

push      stores PATH... (files, or directories with everything under them;
          relative paths, as they will be under the target's fleet.dir) as
          the next revision of TARGET and starts its rollout. Refused before
          anything is written: absolute paths, "..", symlinks, more than
          1 MiB or 1000 files in all, a push while a rollout of TARGET
          runs or is paused (the message names it), and a push or
          rollback while a host still applies a turn of an earlier
          rollout or converges (retry when it finishes).
status    every live host, what it runs, and each target's rollout
pause     no host starts until resume (the ones applying finish)
resume    continues a paused rollout
abort     stops the rollout for good (the hosts applying finish)
rollback  a new rollout to an earlier revision (default: the revision the
          latest rollout started from), in the same order with the same gates
history   every stored revision of TARGET, with author, time and message

Options:
  -c, --config FILE    daemon config whose fleet: section names etcd, its
                       TLS and auth settings, and the fleet; always read
                       when given, and it outranks $RELOADKIT_ETCD and
                       $RELOADKIT_FLEET (default: $RELOADKIT_CONFIG, else
                       ${DEFAULT_CONFIG_PATH} if it exists,
                       read only when a flag or variable below is missing)
  --etcd URL[,URL]     etcd endpoints (default: -c FILE's
                       fleet.etcd.endpoints, else $RELOADKIT_ETCD, else the
                       default config's); the file's TLS and auth are kept
  --fleet NAME         the fleet (default: -c FILE's fleet.name, else
                       $RELOADKIT_FLEET, else the default config's)
  --timeout DURATION   deadline of each etcd call (default: fleet.etcd.timeout,
                       else 2s)
  -m, --message MSG    push, rollback: what the rollout changes (recorded)
  --key FILE           push: sign the revision with this Ed25519 private key
                       (reloadkit keygen); hosts whose target has
                       signature.public_key refuse unsigned revisions
  --from DIR           push: PATHs are relative to DIR (default: .)
  --canary N           hosts that go first, one at a time, when none is
                       labelled canary: "true" (default 1; 0: none)
  --batch K            at most K hosts apply at once after the canaries
                       (default 1, at most ${MAX_HOSTS_PER_TXN})
  --health-wait D      each host's health gate must pass for D (default: the
                       target's health.for)
  --to REVISION        rollback: the revision to return to
  --wait               push, rollback: follow the rollout host by host until
                       it ends (a progress line on a terminal)
  --wait-timeout D     with --wait: give up after D (default 30m)
  --json               status, history: print JSON; with --wait: the final
                       status as JSON
  -h, --help           this help

Exit codes: 0 success (with --wait: the rollout is done); 1 with --wait: the
rollout halted or was aborted, or the wait timed out; 2 usage error, a
refused push or command (nothing changed), or etcd unreachable (the message
names the endpoints and why).
`;

interface Where {
  fleet: string;
  etcd: EtcdConnectOptions;
}

function parseDurationMs(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new UsageError(`${what} must be a duration such as 2s or 500ms, got ${JSON.stringify(text)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  const ms = Math.round(Number(m[1]) * unit);
  if (ms <= 0) throw new UsageError(`${what} must be more than 0`);
  return ms;
}

/** The `fleet:` section of a config file as etcd options (null: the file has none). */
async function readFleetSection(file: string): Promise<Where | null> {
  const [{ readFile }, { parseConfigText }] = await Promise.all([import('node:fs/promises'), import('../daemon/config.js')]);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read the config file ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  try {
    const c = parseConfigText(text, file);
    if (!c.fleet) return null;
    const e = c.fleet.etcd;
    return {
      fleet: c.fleet.name,
      etcd: {
        endpoints: e.endpoints,
        timeoutMs: e.timeout_ms,
        caFile: e.ca_file,
        certFile: e.cert_file,
        keyFile: e.key_file,
        username: e.username,
        passwordFile: e.password_file,
      },
    };
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.problems.join('\n'));
    throw e;
  }
}

function splitEndpoints(text: string): string[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * etcd and the fleet name, each by the precedence in the file comment. The
 * TLS and auth settings (no flags) come from the config file read: an
 * explicit -c always, else the default one when a flag or variable is
 * missing; they are kept when --etcd or RELOADKIT_ETCD names the endpoints.
 */
async function locate(values: {
  config?: string | undefined;
  etcd?: string | undefined;
  fleet?: string | undefined;
  timeout?: string | undefined;
}): Promise<Where> {
  const env = process.env;
  const envEndpoints = env.RELOADKIT_ETCD || undefined;
  const envFleet = env.RELOADKIT_FLEET || undefined;
  let fromFile: Where | null = null;
  if (values.config !== undefined) {
    fromFile = await readFleetSection(resolve(values.config));
  } else if ((values.etcd ?? envEndpoints) === undefined || (values.fleet ?? envFleet) === undefined) {
    const named = env.RELOADKIT_CONFIG || undefined;
    const file = resolve(named ?? DEFAULT_CONFIG_PATH);
    const exists =
      named !== undefined ||
      (await stat(file).then(
        () => true,
        () => false,
      ));
    if (exists) fromFile = await readFleetSection(file);
  }
  // An explicit -c outranks the variables; the default config comes after them.
  const explicit = values.config !== undefined ? fromFile : null;
  const endpoints =
    values.etcd !== undefined
      ? splitEndpoints(values.etcd)
      : (explicit?.etcd.endpoints ?? (envEndpoints !== undefined ? splitEndpoints(envEndpoints) : fromFile?.etcd.endpoints));
  const fleet = values.fleet ?? explicit?.fleet ?? envFleet ?? fromFile?.fleet;
  if (!endpoints || endpoints.length === 0)
    throw new UsageError('no etcd endpoints: pass --etcd URL[,URL], set RELOADKIT_ETCD, or -c a config with fleet.etcd.endpoints');
  if (fleet === undefined) throw new UsageError('no fleet name: pass --fleet NAME, set RELOADKIT_FLEET, or -c a config with fleet.name');
  for (const e of endpoints) {
    if (!/^https?:\/\/[^/\s]+\/?$/.test(e)) throw new UsageError(`invalid etcd endpoint ${JSON.stringify(e)}: expected http://HOST:PORT or https://HOST:PORT`);
  }
  const { NAME_PATTERN } = await import('../fleet/keys.js');
  if (!NAME_PATTERN.test(fleet)) throw new UsageError(`invalid fleet name ${JSON.stringify(fleet)}`);
  const timeoutMs = values.timeout !== undefined ? parseDurationMs(values.timeout, '--timeout') : (fromFile?.etcd.timeoutMs ?? 2000);
  return { fleet, etcd: { ...(fromFile?.etcd ?? {}), endpoints, timeoutMs } };
}

/** Runs `fn` with a connected store; an etcd failure prints the reason and gives exit code 2. */
async function withStore(where: Where, fn: (store: EtcdStore) => Promise<number>): Promise<number> {
  const { EtcdStore } = await import('../etcd/client.js');
  let store: EtcdStore | null = null;
  try {
    store = await EtcdStore.connect(where.etcd);
    return await fn(store);
  } catch (e) {
    if (e instanceof EtcdError || e instanceof RolloutError) {
      err(`reloadkit: ${e.message}`);
      return EXIT.USAGE;
    }
    throw e;
  } finally {
    store?.close();
  }
}

/** Where etcd and the fleet are (every subcommand). */
const WHERE_FLAGS = {
  config: { type: 'string', short: 'c' },
  etcd: { type: 'string' },
  fleet: { type: 'string' },
  timeout: { type: 'string' },
} as const;

const ROLLOUT_FLAGS = {
  canary: { type: 'string' },
  batch: { type: 'string' },
  'health-wait': { type: 'string' },
  wait: { type: 'boolean' },
  'wait-timeout': { type: 'string' },
  json: { type: 'boolean' },
  message: { type: 'string', short: 'm' },
} as const;

function parseCount(text: string, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < min || Number(text) > max)
    throw new UsageError(`${what} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return Number(text);
}

/** --canary, --batch, --health-wait. */
function rolloutOptions(values: { canary?: string | undefined; batch?: string | undefined; 'health-wait'?: string | undefined }): RolloutOptions {
  return {
    canary: values.canary === undefined ? undefined : parseCount(values.canary, '--canary', 0, 1000),
    batch: values.batch === undefined ? undefined : parseCount(values.batch, '--batch', 1, MAX_HOSTS_PER_TXN),
    healthWaitMs: values['health-wait'] === undefined ? undefined : parseDurationMs(values['health-wait'], '--health-wait'),
  };
}

function whoAmI(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return 'unknown'; // no user name (a container without /etc/passwd entry)
  }
}

/** After starting rollout `id`: done (exit 0) without --wait, else follow it to its end. */
async function afterStart(
  store: EtcdStore,
  where: Where,
  target: string,
  id: string,
  values: { wait?: boolean | undefined; json?: boolean | undefined; 'wait-timeout'?: string | undefined },
): Promise<number> {
  if (!values.wait) return EXIT.OK;
  const timeoutMs = values['wait-timeout'] === undefined ? 30 * 60_000 : parseDurationMs(values['wait-timeout'], '--wait-timeout');
  const { followRollout } = await import('./fleet-wait.js');
  return followRollout(store, where.fleet, target, id, {
    timeoutMs,
    json: values.json ?? false,
    tty: process.stdout.isTTY === true,
    write: (t) => process.stdout.write(t),
    warn: err,
  });
}

async function push(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...WHERE_FLAGS, key: { type: 'string' }, from: { type: 'string' }, ...ROLLOUT_FLAGS }, Number.MAX_SAFE_INTEGER);
  if (values.help) {
    out(FLEET_HELP);
    return EXIT.OK;
  }
  const [target, ...paths] = positionals;
  const { NAME_PATTERN } = await import('../fleet/keys.js');
  if (target === undefined) throw new UsageError('push needs TARGET and at least one PATH');
  if (!NAME_PATTERN.test(target)) throw new UsageError(`invalid target name ${JSON.stringify(target)}`);
  if (paths.length === 0) throw new UsageError('push needs at least one PATH (a file or a directory)');
  const options = rolloutOptions(values);
  if (values['wait-timeout'] !== undefined) parseDurationMs(values['wait-timeout'], '--wait-timeout');
  const [{ collectPushFiles }, { storeRevision }] = await Promise.all([import('../fleet/revisions.js'), import('../fleet/control.js')]);
  // Everything is checked before etcd is contacted: a refused push stores nothing.
  let files;
  try {
    files = await collectPushFiles(paths, resolve(values.from ?? '.'));
  } catch (e) {
    if (e instanceof RevisionError) {
      err(`reloadkit fleet push: refused, nothing stored: ${e.message}`);
      return EXIT.USAGE;
    }
    throw e;
  }
  let key: KeyObject | undefined;
  if (values.key !== undefined) {
    const { loadPrivateKey } = await import('../integrity/keys.js');
    try {
      const loaded = await loadPrivateKey(values.key);
      for (const w of loaded.warnings) err(`reloadkit: warning: ${w}`);
      key = loaded.key;
    } catch (e) {
      err(`reloadkit fleet push: ${(e as Error).message}`);
      return EXIT.USAGE;
    }
  }
  const where = await locate(values);
  return withStore(where, async (store) => {
    let stored;
    try {
      stored = await storeRevision(store, files, { fleet: where.fleet, target, author: whoAmI(), message: values.message ?? '', key, rollout: options });
    } catch (e) {
      if (e instanceof RolloutError) {
        err(`reloadkit fleet push: ${e.message}; nothing stored`);
        return EXIT.USAGE;
      }
      throw e;
    }
    const { revision, rollout } = stored;
    const bytes = files.reduce((n, f) => n + f.bytes.length, 0);
    if (values.json && !values.wait)
      out(JSON.stringify({ status: 'ok', fleet: where.fleet, target, revision, rollout: rollout.id, files: files.length, bytes, signed: key !== undefined }));
    else
      out(
        `pushed ${target} revision ${revision} (${files.length} file${files.length === 1 ? '' : 's'}, ${bytes} bytes${key ? ', signed' : ''}); rollout ${rollout.id} from revision ${rollout.from}${describeOrder(rollout)}`,
      );
    return afterStart(store, where, target, rollout.id, values);
  });
}

function describeOrder(r: { canary: number; batch: number; health_wait_ms?: number }): string {
  return ` (canary ${r.canary}, batch ${r.batch}${r.health_wait_ms === undefined ? '' : `, health wait ${r.health_wait_ms} ms`})`;
}

async function rollback(argv: readonly string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...WHERE_FLAGS, to: { type: 'string' }, ...ROLLOUT_FLAGS }, 1);
  if (values.help) {
    out(FLEET_HELP);
    return EXIT.OK;
  }
  const target = await targetArg('rollback', positionals);
  const to = values.to === undefined ? undefined : parseCount(values.to, '--to', 1, Number.MAX_SAFE_INTEGER);
  const options = rolloutOptions(values);
  const where = await locate(values);
  const { startRollback } = await import('../fleet/control.js');
  return withStore(where, async (store) => {
    const r = await startRollback(store, where.fleet, target, { to, author: whoAmI(), message: values.message ?? '', rollout: options });
    if (values.json && !values.wait) out(JSON.stringify({ status: 'ok', fleet: where.fleet, target, rollout: r.id, from: r.from, to: r.to }));
    else out(`rollback of ${target}: rollout ${r.id} from revision ${r.from} to revision ${r.to}${describeOrder(r)}`);
    return afterStart(store, where, target, r.id, values);
  });
}

async function targetArg(command: string, positionals: readonly string[]): Promise<string> {
  const target = positionals[0];
  if (target === undefined) throw new UsageError(`${command} needs TARGET`);
  const { NAME_PATTERN } = await import('../fleet/keys.js');
  if (!NAME_PATTERN.test(target)) throw new UsageError(`invalid target name ${JSON.stringify(target)}`);
  return target;
}

async function steer(command: 'pause' | 'resume' | 'abort', argv: readonly string[]): Promise<number> {
  const parsed = parseReadArgs(argv);
  if (!parsed) return EXIT.OK;
  const { values, positionals } = parsed;
  const target = await targetArg(command, positionals);
  const where = await locate(values);
  const { steerRollout } = await import('../fleet/control.js');
  return withStore(where, async (store) => {
    const r = await steerRollout(store, where.fleet, target, command, whoAmI());
    if (values.json) out(JSON.stringify({ status: 'ok', fleet: where.fleet, target, rollout: r.id, state: r.state }));
    else out(`rollout ${r.id} of ${target}: ${r.state}${command === 'resume' ? '' : ' (hosts applying now finish their turn)'}`);
    return EXIT.OK;
  });
}

/** The options `status` and `history` share; null after printing the help. */
function parseReadArgs(argv: readonly string[]) {
  const parsed = parse(argv, { ...WHERE_FLAGS, json: { type: 'boolean' } }, 1);
  if (!parsed.values.help) return parsed;
  out(FLEET_HELP);
  return null;
}

async function status(argv: readonly string[]): Promise<number> {
  const parsed = parseReadArgs(argv);
  if (!parsed) return EXIT.OK;
  const { values, positionals } = parsed;
  const where = await locate(values);
  const { readFleetStatus } = await import('../fleet/status.js');
  return withStore(where, async (store) => {
    const s = await readFleetStatus(store, where.fleet, positionals[0]);
    out(values.json ? JSON.stringify(s) : formatFleetStatus(s));
    return EXIT.OK;
  });
}

async function history(argv: readonly string[]): Promise<number> {
  const parsed = parseReadArgs(argv);
  if (!parsed) return EXIT.OK;
  const { values, positionals } = parsed;
  const target = positionals[0];
  if (target === undefined) throw new UsageError('history needs TARGET');
  const where = await locate(values);
  const [{ listRevisions }, { parseJson }, { desiredKey }] = await Promise.all([
    import('../fleet/revisions.js'),
    import('../fleet/records.js'),
    import('../fleet/keys.js'),
  ]);
  return withStore(where, async (store) => {
    const list = await listRevisions(store, where.fleet, target);
    const desired = parseJson<{ revision: number }>(await store.get(desiredKey(where.fleet, target)))?.revision ?? null;
    const rows = list.map((m) => ({
      revision: m.revision,
      created_at: m.created_at,
      author: m.author,
      message: m.message,
      files: m.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })),
      signed: m.signature !== undefined,
      desired: m.revision === desired,
    }));
    if (values.json) {
      out(JSON.stringify({ fleet: where.fleet, target, desired, revisions: rows }));
      return EXIT.OK;
    }
    if (rows.length === 0) {
      out(`no revision of ${target} in fleet ${where.fleet}`);
      return EXIT.OK;
    }
    out('REV    WHEN                      AUTHOR              FILES  SIGNED  MESSAGE');
    for (const r of rows) {
      out(
        `${`${r.desired ? '*' : ' '}${r.revision}`.padEnd(6)} ${r.created_at.padEnd(25)} ${r.author.slice(0, 19).padEnd(19)} ${String(r.files.length).padEnd(6)} ${(r.signed ? 'yes' : 'no').padEnd(7)} ${r.message}`,
      );
    }
    out('(* = desired)');
    return EXIT.OK;
  });
}

/** The table `reloadkit fleet status` prints: each target's rollout, then one row per host and target. */
export function formatFleetStatus(s: FleetStatus, now = Date.now()): string {
  const lines: string[] = [];
  for (const [t, ts] of Object.entries(s.targets)) {
    const r = ts.rollout;
    lines.push(
      `${t}: revision ${ts.revision}, desired ${ts.desired}${r ? `; rollout ${r.id} (${r.from} -> ${r.to}) ${r.state}${r.reason ? `: ${r.reason}` : ''}` : ''}; driver ${ts.driver ?? 'none'}`,
    );
    if (r) {
      const c = r.counts;
      lines.push(
        `  ${c.done} done, ${c.applying} applying, ${c.pending} pending, ${c.failed} failed, ${c.lost} lost; canaries ${r.canaries.join(' ') || '-'}; batch ${r.batch}`,
      );
    }
  }
  const rows: string[][] = [];
  for (const [host, h] of Object.entries(s.hosts).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const entries = Object.entries(h.targets);
    if (entries.length === 0) rows.push([host, h.alive ? 'yes' : 'no', '-', '-', '-', '-', '-']);
    for (const [t, st] of entries) {
      const turn = s.targets[t]?.rollout?.hosts[host] ?? '-';
      rows.push([host, h.alive ? 'yes' : 'no', t, String(st.revision), st.status, ago(st.at, now), turn, st.reason ?? '']);
    }
  }
  const head = ['HOST', 'ALIVE', 'TARGET', 'REVISION', 'STATUS', 'WHEN', 'ROLLOUT'];
  const widths = head.map((x, i) => Math.max(x.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]) =>
    cells
      .slice(0, 7)
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  lines.push(`fleet ${s.fleet}: ${Object.keys(s.hosts).length} host${Object.keys(s.hosts).length === 1 ? '' : 's'} alive`, fmt(head));
  for (const r of rows) {
    lines.push(fmt(r));
    if (r[7]) lines.push(`  ${r[7]}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function fleetCommand(argv: readonly string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'push':
      return push(rest);
    case 'status':
      return status(rest);
    case 'history':
      return history(rest);
    case 'pause':
    case 'resume':
    case 'abort':
      return steer(sub, rest);
    case 'rollback':
      return rollback(rest);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      out(FLEET_HELP);
      return sub === undefined ? EXIT.USAGE : EXIT.OK;
    default:
      throw new UsageError(`unknown fleet command ${JSON.stringify(sub)} (push, status, pause, resume, abort, rollback, history)`);
  }
}
