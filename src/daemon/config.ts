// The daemon's config file: YAML validated by a zod schema, with
// every error reported at its line and column, and normalized into the
// shape the daemon runs on (durations in ms, paths absolute, defaults filled).
import { hostname, constants as osConstants } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isMap, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { defaultSocketPath, defaultStateDir, WATCH_DEFAULTS } from '../shared/defaults.js';
import { ConfigError } from '../shared/errors.js';
import { parseDuration } from '../shared/duration.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The daemon's own unit; no target may use the name. */
export const DAEMON_UNIT = 'reloadkit';

const DEFAULT_HTTP = '127.0.0.1:9111';
const DEFAULT_TIMEOUT_MS = 30_000;

// zod/mini ships without messages; the English ones, once.
z.config(en());

// ---- durations ----------------------------------------------------------

// The same durations as the library's options (shared/duration.ts).
export { parseDuration };

/** A value that fails with `message`, for transforms (zod/mini has no ctx.addIssue sugar). */
function fail(ctx: { issues: unknown[]; value: unknown }, message: string): never {
  ctx.issues.push({ code: 'custom', message, input: ctx.value });
  return z.NEVER;
}

const duration = (opts: { min?: number } = {}) =>
  z.pipe(
    z.union([z.string(), z.number()]),
    z.transform((v: string | number, ctx) => {
      const ms = parseDuration(v);
      if (ms === null) return fail(ctx, `invalid duration ${JSON.stringify(v)}: use a number with a unit, e.g. 100ms, 10s, 2m`);
      if (opts.min !== undefined && ms < opts.min) return fail(ctx, `duration ${JSON.stringify(v)} is too short (at least ${opts.min} ms)`);
      return ms;
    }),
  );

// ---- field schemas ------------------------------------------------------
// zod/mini: the same validator as zod, ~20x smaller in the CLI bundle, so the
// daemon starts faster (start-up is measured in the daemon benchmark).

const nonEmpty = z.string().check(z.minLength(1, 'must not be empty'));
const argv = z.array(nonEmpty).check(z.minLength(1, 'needs at least the program name (argv, no shell)'));
const pathList = z.array(nonEmpty);
const refined = <T>(base: z.ZodMiniType<T>, ok: (v: T) => boolean, message: string) => base.check(z.refine(ok, { message }));

const socketMode = z.pipe(
  z.union([z.string(), z.number()]),
  z.transform((v: string | number, ctx) => {
    // YAML 1.2 reads 0600 as the decimal 600: take the digits as octal either way.
    const text = String(v);
    if (!/^0?[0-7]{3}$/.test(text)) return fail(ctx, `invalid socket_mode ${JSON.stringify(v)}: use an octal mode such as "0600"`);
    const mode = Number.parseInt(text, 8);
    if ((mode & 0o007) !== 0) return fail(ctx, `socket_mode ${JSON.stringify(v)} gives access to every user; use 0600 or 0660 with socket_group`);
    if ((mode & 0o600) !== 0o600) return fail(ctx, `socket_mode ${JSON.stringify(v)} must let the owner read and write (0600 at least)`);
    return mode;
  }),
);

/** `host:port` or `[v6]:port`; `""` disables. */
export function isHttpAddress(v: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(v);
  return m !== null && Number(m[2]) <= 65535;
}

const httpAddress = refined(z.string(), (v) => v === '' || isHttpAddress(v), 'expected host:port (e.g. 127.0.0.1:9111), or "" to disable');

const signalName = refined(z.string(), (v) => Object.hasOwn(osConstants.signals, v), 'unknown signal name (expected e.g. SIGHUP, SIGUSR1, SIGUSR2)');

const httpUrl = refined(
  z.string(),
  (v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  },
  'expected an http:// or https:// URL',
);

const signatureSchema = z.strictObject({ public_key: nonEmpty });

// ---- fleet (etcd) -------------------------------------------------------

const FLEET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const fleetName = refined(z.string(), (v) => FLEET_NAME.test(v), "letters, digits, '_', '.', '-' (at most 64)");

/** `fleet:` at the top level: the fleet this host is in and how to reach etcd. */
const fleetSchema = z.strictObject({
  name: fleetName,
  host: z.optional(fleetName),
  labels: z.optional(z.record(z.string(), z.string())),
  etcd: z.strictObject({
    endpoints: z.array(httpUrl).check(z.minLength(1, 'needs at least one etcd endpoint')),
    ca_file: z.optional(nonEmpty),
    cert_file: z.optional(nonEmpty),
    key_file: z.optional(nonEmpty),
    username: z.optional(nonEmpty),
    password_file: z.optional(nonEmpty),
    lease_ttl: z.optional(duration({ min: 1000 })),
    timeout: z.optional(duration({ min: 1 })),
  }),
});

/** `fleet:` of a target: the directory the fleet manages, and the optional health gate. */
const targetFleetSchema = z.strictObject({
  dir: nonEmpty,
  health: z.optional(
    z.strictObject({
      url: httpUrl,
      for: z.optional(duration()),
      interval: z.optional(duration({ min: 1 })),
      timeout: z.optional(duration({ min: 1 })),
    }),
  ),
});

const targetCommon = {
  watch: z.optional(pathList),
  timeout: z.optional(duration({ min: 1 })),
  reload_on_start: z.optional(z.boolean()),
  signature: z.optional(signatureSchema),
  fleet: z.optional(targetFleetSchema),
};

const nginxTarget = z.strictObject({
  kind: z.literal('nginx'),
  binary: z.optional(nonEmpty),
  config: z.optional(nonEmpty),
  prefix: z.optional(nonEmpty),
  ...targetCommon,
});

const commandTarget = z.strictObject({
  kind: z.literal('command'),
  check: z.optional(argv),
  reload: argv,
  ...targetCommon,
});

const httpTarget = z.strictObject({
  kind: z.literal('http'),
  url: httpUrl,
  method: z.optional(
    z.pipe(
      z.string().check(z.regex(/^[A-Za-z]+$/, 'expected an HTTP method such as POST')),
      z.transform((m: string) => m.toUpperCase()),
    ),
  ),
  ...targetCommon,
});

const signalTarget = z
  .strictObject({
    kind: z.literal('signal'),
    pidfile: z.optional(nonEmpty),
    pid: z.optional(z.int().check(z.minimum(2, 'pid must be a process id above 1'))),
    signal: z.optional(signalName),
    ...targetCommon,
  })
  .check(z.refine((t) => (t.pidfile === undefined) !== (t.pid === undefined), { message: 'a signal target needs exactly one of pidfile or pid' }));

const targetSchema = z.discriminatedUnion('kind', [nginxTarget, commandTarget, httpTarget, signalTarget]);

const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const targetName = z.string().check(
  z.refine((name: string) => name !== DAEMON_UNIT, { message: `"${DAEMON_UNIT}" is the daemon's own unit; choose another target name` }),
  z.refine((name: string) => TARGET_NAME.test(name), { message: "invalid target name: letters, digits, '_', '.', '-' (at most 64)" }),
);

/** The file format, exactly as written (before defaults and normalization). */
export const daemonConfigSchema = z
  .strictObject({
    log_level: z.optional(z.enum(LOG_LEVELS)),
    state_dir: z.optional(nonEmpty),
    signature: z.optional(signatureSchema),
    admin: z.optional(
      z
        .strictObject({
          socket: z.optional(z.string()),
          socket_mode: z.optional(socketMode),
          socket_group: z.optional(nonEmpty),
          max_connections: z.optional(z.int().check(z.minimum(1), z.maximum(65_536))),
          http: z.optional(httpAddress),
          http_reload: z.optional(z.boolean()),
          token_file: z.optional(nonEmpty),
          http_max_connections: z.optional(z.int().check(z.minimum(1), z.maximum(1_000_000))),
          http_headers_timeout: z.optional(duration({ min: 100 })),
          http_request_timeout: z.optional(duration({ min: 100 })),
          http_max_event_clients: z.optional(z.int().check(z.minimum(0), z.maximum(1_000_000))),
        })
        .check(
          z.refine((a) => a.http_headers_timeout === undefined || a.http_request_timeout === undefined || a.http_request_timeout >= a.http_headers_timeout, {
            message: 'http_request_timeout must not be shorter than http_headers_timeout (the headers are part of the request)',
          }),
        ),
    ),
    watch: z.optional(
      z.strictObject({
        debounce: z.optional(duration()),
        max_wait: z.optional(duration({ min: 1 })),
        rescan: z.optional(duration()),
      }),
    ),
    defaults: z.optional(z.strictObject({ timeout: z.optional(duration({ min: 1 })) })),
    fleet: z.optional(fleetSchema),
    targets: z.record(targetName, targetSchema),
  })
  .check(
    z.superRefine((c, ctx) => {
      if (c.fleet) return;
      for (const [name, t] of Object.entries(c.targets)) {
        if (t.fleet)
          ctx.addIssue({
            code: 'custom',
            message: 'a fleet-managed target needs the top-level fleet: section (name and etcd)',
            path: ['targets', name, 'fleet'],
            input: t.fleet,
          });
      }
    }),
  );

type RawConfig = z.output<typeof daemonConfigSchema>;

// ---- normalized config --------------------------------------------------

interface TargetBase {
  /** Absolute paths whose content is the target's "config". */
  watch: string[];
  /** Working directory of the target's commands: the config file's directory. */
  cwd: string;
  timeout_ms: number;
  reload_on_start: boolean;
  signature?: { public_key: string };
  fleet?: TargetFleetDef;
}
/** A fleet-managed target: the directory whose files the fleet writes, and the optional health gate. */
interface TargetFleetDef {
  dir: string;
  health?: { url: string; for_ms: number; interval_ms: number; timeout_ms: number };
}
/** The top-level `fleet:` section, normalized. */
interface FleetDef {
  name: string;
  host: string;
  labels: Record<string, string>;
  etcd: {
    endpoints: string[];
    ca_file?: string;
    cert_file?: string;
    key_file?: string;
    username?: string;
    password_file?: string;
    lease_ttl_ms: number;
    timeout_ms: number;
  };
}
export interface NginxTargetDef extends TargetBase {
  kind: 'nginx';
  binary: string;
  config?: string;
  prefix?: string;
}
export interface CommandTargetDef extends TargetBase {
  kind: 'command';
  check?: string[];
  reload: string[];
}
export interface HttpTargetDef extends TargetBase {
  kind: 'http';
  url: string;
  method: string;
}
export interface SignalTargetDef extends TargetBase {
  kind: 'signal';
  pidfile?: string;
  pid?: number;
  signal: NodeJS.Signals;
}
export type TargetDef = NginxTargetDef | CommandTargetDef | HttpTargetDef | SignalTargetDef;

export interface DaemonConfig {
  log_level: LogLevel;
  state_dir: string;
  signature?: { public_key: string };
  admin: {
    /** "" = disabled. */
    socket: string;
    socket_mode: number;
    socket_group?: string;
    max_connections: number;
    /** "" = disabled. */
    http: string;
    http_reload: boolean;
    token_file?: string;
    /** HTTP limits; absent ones take the admin HTTP server's defaults. */
    http_max_connections?: number;
    http_headers_timeout_ms?: number;
    http_request_timeout_ms?: number;
    http_max_event_clients?: number;
  };
  watch: { debounce_ms: number; max_wait_ms: number; rescan_ms: number };
  defaults: { timeout_ms: number };
  fleet?: FleetDef;
  targets: Record<string, TargetDef>;
}

/** Values given by flags or environment variables; they win over the file. */
export interface ConfigOverrides {
  socket?: string;
  http?: string;
  log_level?: LogLevel;
}

/** Restart-required paths of the daemon's own config. */
export const DAEMON_RESTART_PATHS = ['admin.*', 'state_dir', 'signature.*', 'fleet', 'targets.*.fleet'] as const;

function normalizeTarget(raw: RawConfig['targets'][string], base: string, defaultTimeout: number): TargetDef {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const common: TargetBase = {
    watch: (raw.watch ?? []).map(abs),
    cwd: base,
    timeout_ms: raw.timeout ?? defaultTimeout,
    reload_on_start: raw.reload_on_start ?? false,
    ...(raw.signature ? { signature: { public_key: abs(raw.signature.public_key) } } : {}),
    ...(raw.fleet ? { fleet: normalizeTargetFleet(raw.fleet, abs) } : {}),
  };
  switch (raw.kind) {
    case 'nginx': {
      const config = raw.config === undefined ? undefined : abs(raw.config);
      const prefix = raw.prefix === undefined ? undefined : abs(raw.prefix);
      // Without a watch list, watch the directory nginx reads its config from.
      const watch = raw.watch ? common.watch : [config ? dirname(config) : (prefix ?? '/etc/nginx')];
      return {
        kind: 'nginx',
        ...common,
        watch,
        binary: raw.binary ?? 'nginx',
        ...(config === undefined ? {} : { config }),
        ...(prefix === undefined ? {} : { prefix }),
      };
    }
    case 'command':
      return { kind: 'command', ...common, reload: raw.reload, ...(raw.check ? { check: raw.check } : {}) };
    case 'http':
      return { kind: 'http', ...common, url: raw.url, method: raw.method ?? 'POST' };
    case 'signal':
      return {
        kind: 'signal',
        ...common,
        signal: (raw.signal ?? 'SIGHUP') as NodeJS.Signals,
        ...(raw.pidfile === undefined ? {} : { pidfile: abs(raw.pidfile) }),
        ...(raw.pid === undefined ? {} : { pid: raw.pid }),
      };
  }
}

function normalizeTargetFleet(f: NonNullable<RawConfig['targets'][string]['fleet']>, abs: (p: string) => string): TargetFleetDef {
  return {
    dir: abs(f.dir),
    ...(f.health
      ? { health: { url: f.health.url, for_ms: f.health.for ?? 5000, interval_ms: f.health.interval ?? 500, timeout_ms: f.health.timeout ?? 2000 } }
      : {}),
  };
}

function normalizeFleet(f: NonNullable<RawConfig['fleet']>, abs: (p: string) => string): FleetDef {
  const e = f.etcd;
  const file = (k: 'ca_file' | 'cert_file' | 'key_file' | 'password_file') => (e[k] === undefined ? {} : { [k]: abs(e[k]) });
  return {
    name: f.name,
    host: f.host ?? hostname(),
    labels: f.labels ?? {},
    etcd: {
      endpoints: e.endpoints,
      ...file('ca_file'),
      ...file('cert_file'),
      ...file('key_file'),
      ...(e.username === undefined ? {} : { username: e.username }),
      ...file('password_file'),
      lease_ttl_ms: e.lease_ttl ?? 10_000,
      timeout_ms: e.timeout ?? 2000,
    },
  };
}

/** Fills defaults, resolves relative paths against `baseDir` (the config file's directory), applies overrides. */
export function normalizeConfig(raw: RawConfig, baseDir: string, overrides: ConfigOverrides = {}): DaemonConfig {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  const timeout = raw.defaults?.timeout ?? DEFAULT_TIMEOUT_MS;
  const targets: Record<string, TargetDef> = {};
  for (const [name, t] of Object.entries(raw.targets)) targets[name] = normalizeTarget(t, baseDir, timeout);
  const a = raw.admin ?? {};
  const socket = overrides.socket ?? (a.socket === undefined ? defaultSocketPath() : a.socket === '' ? '' : abs(a.socket));
  return {
    log_level: overrides.log_level ?? raw.log_level ?? 'info',
    state_dir: raw.state_dir === undefined ? defaultStateDir() : abs(raw.state_dir),
    ...(raw.signature ? { signature: { public_key: abs(raw.signature.public_key) } } : {}),
    admin: {
      socket,
      socket_mode: a.socket_mode ?? 0o600,
      ...(a.socket_group === undefined ? {} : { socket_group: a.socket_group }),
      max_connections: a.max_connections ?? 1024,
      http: overrides.http ?? a.http ?? DEFAULT_HTTP,
      http_reload: a.http_reload ?? false,
      ...(a.token_file === undefined ? {} : { token_file: abs(a.token_file) }),
      ...(a.http_max_connections === undefined ? {} : { http_max_connections: a.http_max_connections }),
      ...(a.http_headers_timeout === undefined ? {} : { http_headers_timeout_ms: a.http_headers_timeout }),
      ...(a.http_request_timeout === undefined ? {} : { http_request_timeout_ms: a.http_request_timeout }),
      ...(a.http_max_event_clients === undefined ? {} : { http_max_event_clients: a.http_max_event_clients }),
    },
    watch: {
      debounce_ms: raw.watch?.debounce ?? WATCH_DEFAULTS.debounceMs,
      max_wait_ms: raw.watch?.max_wait ?? WATCH_DEFAULTS.maxWaitMs,
      rescan_ms: raw.watch?.rescan ?? WATCH_DEFAULTS.rescanMs,
    },
    defaults: { timeout_ms: timeout },
    ...(raw.fleet ? { fleet: normalizeFleet(raw.fleet, abs) } : {}),
    targets,
  };
}

// ---- parsing with positions -------------------------------------------

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** The YAML node at `path`, or the nearest existing ancestor (for missing keys). */
function nodeAt(doc: Document, path: readonly PropertyKey[]): YamlNode | null {
  for (let n = path.length; n >= 0; n -= 1) {
    const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
    if (node && typeof node === 'object' && 'range' in node) return node as YamlNode;
  }
  return null;
}

/** For `unrecognized_keys`: the key itself, so the line points at the typo. */
function keyNode(doc: Document, path: readonly PropertyKey[], key: string): YamlNode | null {
  const parent = path.length === 0 ? doc.contents : doc.getIn(path as unknown[], true);
  if (!isMap(parent)) return null;
  for (const pair of parent.items) {
    const k = pair.key as YamlNode | null;
    if (k && typeof k === 'object' && 'range' in k && String((k as { value?: unknown }).value) === key) return k;
  }
  return null;
}

function position(lc: LineCounter, node: YamlNode | null): string {
  const offset = node?.range?.[0];
  if (offset === undefined) return '';
  const { line, col } = lc.linePos(offset);
  return `${line}:${col}`;
}

/**
 * Parses and validates config text. Throws ConfigError listing every
 * problem as `file:line:col: path: message`.
 */
export function parseConfigText(text: string, file: string, overrides: ConfigOverrides = {}): DaemonConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = e.linePos?.[0];
        const msg = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${msg}`;
      }),
    );
  }
  const raw: unknown = doc.toJS({ maxAliasCount: 100 });
  if (raw === null || raw === undefined) {
    throw new ConfigError(file, [`${file}: the file is empty; it needs at least a "targets" map`]);
  }
  const parsed = daemonConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems: string[] = [];
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) {
          const pos = position(lineCounter, keyNode(doc, issue.path, key) ?? nodeAt(doc, issue.path));
          const where = formatPath([...issue.path, key]);
          problems.push(`${file}${pos ? `:${pos}` : ''}: ${where}: unknown key (not a reloadkit setting; check the spelling)`);
        }
        continue;
      }
      if (issue.code === 'invalid_key') {
        const key = String(issue.path[issue.path.length - 1]);
        const pos = position(lineCounter, keyNode(doc, issue.path.slice(0, -1), key) ?? nodeAt(doc, issue.path));
        const why = issue.issues.map((i) => i.message).join('; ');
        problems.push(`${file}${pos ? `:${pos}` : ''}: ${formatPath(issue.path)}: ${why}`);
        continue;
      }
      if (issue.path.length === 0 && issue.code === 'invalid_type') {
        problems.push(`${file}:1:1: the config must be a map of settings with at least "targets"`);
        continue;
      }
      const pos = position(lineCounter, nodeAt(doc, issue.path));
      const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
      const missing = issue.code === 'invalid_type' && doc.getIn(issue.path as unknown[]) === undefined;
      problems.push(`${file}${pos ? `:${pos}` : ''}: ${where}${missing ? 'required but missing' : issue.message}`);
    }
    throw new ConfigError(file, problems);
  }
  return normalizeConfig(parsed.data, dirname(resolve(file)), overrides);
}

/** The `--nginx` zero-config mode: one target using the system nginx. */
export function nginxZeroConfig(overrides: ConfigOverrides = {}): DaemonConfig {
  return normalizeConfig({ targets: { nginx: { kind: 'nginx', binary: 'nginx', watch: ['/etc/nginx'] } } }, '/', overrides);
}
