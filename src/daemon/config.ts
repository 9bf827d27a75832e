// The daemon's config file: YAML validated by a zod schema, with
// every error reported at its line and column, and normalized into the
// shape the daemon runs on (durations in ms, paths absolute, defaults filled).
import { hostname, constants as osConstants } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import { defaultSocketPath, defaultStateDir, WATCH_DEFAULTS } from '../shared/defaults.js';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { parseDuration } from '../shared/duration.js';
import { MAX_JSON_DEPTH } from '../sources/json.js';
import { lineCol, tooDeepFlowAt } from '../sources/parse.js';

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

/** A JavaScript regular expression, checked when the config is loaded. */
const pattern = refined(
  nonEmpty,
  (v) => {
    try {
      new RegExp(v);
      return true;
    } catch {
      return false;
    }
  },
  'invalid regular expression',
);

const targetCommon = {
  watch: z.optional(pathList),
  check: z.optional(argv),
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
    process: z.optional(pattern),
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
  /** A validation argv run before every reload (after the kind's own check, e.g. nginx -t); exit 0 = valid. */
  check?: string[];
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
  /**
   * No `watch:` in the file: the watch set is the files nginx reads (the main
   * file, its includes, certificates and keys) and the directories of include
   * globs, derived at every load (targets/nginx-files.ts); `watch` is then [].
   */
  derive_watch: boolean;
  binary: string;
  config?: string;
  prefix?: string;
}
export interface CommandTargetDef extends TargetBase {
  kind: 'command';
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
  /** Regular expression the process's name or command line must match before it is signalled. */
  process?: string;
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

/** The warning for a signal target without `process:` (the daemon's log, and `reloadkit validate`). */
export const uncheckedSignalWarning =
  'signal target without process: the pid is signalled whatever process it now is (a stale pidfile names any process); set process: to its name or a command-line pattern';

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
    ...(raw.check ? { check: raw.check } : {}),
  };
  switch (raw.kind) {
    case 'nginx': {
      const config = raw.config === undefined ? undefined : abs(raw.config);
      const prefix = raw.prefix === undefined ? undefined : abs(raw.prefix);
      // Without a watch list, the files nginx reads (derived at every load).
      return {
        kind: 'nginx',
        ...common,
        derive_watch: raw.watch === undefined,
        binary: raw.binary ?? 'nginx',
        ...(config === undefined ? {} : { config }),
        ...(prefix === undefined ? {} : { prefix }),
      };
    }
    case 'command':
      return { kind: 'command', ...common, reload: raw.reload };
    case 'http':
      return { kind: 'http', ...common, url: raw.url, method: raw.method ?? 'POST' };
    case 'signal':
      return {
        kind: 'signal',
        ...common,
        signal: (raw.signal ?? 'SIGHUP') as NodeJS.Signals,
        ...(raw.pidfile === undefined ? {} : { pidfile: abs(raw.pidfile) }),
        ...(raw.pid === undefined ? {} : { pid: raw.pid }),
        ...(raw.process === undefined ? {} : { process: raw.process }),
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

/**
 * The most targets one daemon runs. Each target is a unit with its own
 * watcher, state file and queue; beyond this a config is more likely a
 * generated mistake than a fleet, and is refused before it is validated.
 */
export const MAX_TARGETS = 1000;

/** Alias expansions `toJS` allows: a YAML "billion laughs" file is refused, not expanded. */
const MAX_ALIAS_COUNT = 100;

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

const pathKey = (path: readonly PropertyKey[]) => path.map(String).join('\0');

const hasRange = (n: unknown): n is YamlNode => n !== null && typeof n === 'object' && 'range' in n;

/**
 * One walk over the parsed document: duplicate keys (found per map with a
 * set; the parser's own `uniqueKeys` compares each key with every earlier
 * one, which made a 20 000-target file take 6 s to parse), the first alias
 * (where an alias bomb starts), and on demand an index from a field path to
 * its key and value nodes, so every problem finds its position in constant
 * time (looking each one up from the root was quadratic too).
 */
class YamlIndex {
  readonly duplicates: { key: YamlNode; name: string; first: YamlNode }[] = [];
  firstAlias: YamlNode | null = null;
  private nodes: Map<string, { key: YamlNode | null; value: YamlNode | null }> | null = null;

  constructor(private readonly doc: Document) {
    this.walk(false);
  }

  private walk(index: boolean): void {
    const stack: { node: unknown; path: PropertyKey[] }[] = [{ node: this.doc.contents, path: [] }];
    while (stack.length > 0) {
      const { node, path } = stack.pop()!;
      if (isAlias(node)) {
        // The walk is depth-first from the end; the first alias is the one earliest in the file.
        if ((node.range?.[0] ?? Infinity) < (this.firstAlias?.range?.[0] ?? Infinity)) this.firstAlias = node;
        continue;
      }
      if (isMap(node)) {
        const seen = index ? null : new Map<string, YamlNode>();
        for (const pair of node.items) {
          const k = pair.key as unknown;
          const name = isScalar(k) ? String(k.value) : String(k);
          const keyNode = hasRange(k) ? k : null;
          if (seen && keyNode) {
            const first = seen.get(name);
            if (first) this.duplicates.push({ key: keyNode, name, first });
            else seen.set(name, keyNode);
          }
          const childPath = [...path, name];
          if (this.nodes) this.nodes.set(pathKey(childPath), { key: keyNode, value: hasRange(pair.value) ? pair.value : null });
          stack.push({ node: pair.value, path: childPath });
        }
      } else if (isSeq(node)) {
        node.items.forEach((item, i) => {
          const childPath = [...path, i];
          if (this.nodes) this.nodes.set(pathKey(childPath), { key: null, value: hasRange(item) ? item : null });
          stack.push({ node: item, path: childPath });
        });
      }
    }
  }

  private entries(): Map<string, { key: YamlNode | null; value: YamlNode | null }> {
    if (!this.nodes) {
      this.nodes = new Map();
      this.nodes.set('', { key: null, value: hasRange(this.doc.contents) ? this.doc.contents : null });
      this.walk(true);
    }
    return this.nodes;
  }

  has(path: readonly PropertyKey[]): boolean {
    return this.entries().has(pathKey(path));
  }

  /** The value node at `path`, or the nearest existing ancestor's (for missing keys). */
  valueAt(path: readonly PropertyKey[]): YamlNode | null {
    for (let n = path.length; n >= 0; n -= 1) {
      const node = this.entries().get(pathKey(path.slice(0, n)))?.value;
      if (node) return node;
    }
    return null;
  }

  /** The key node of `key` in the map at `path` (for unknown keys, so the line points at the typo). */
  keyAt(path: readonly PropertyKey[], key: string): YamlNode | null {
    return this.entries().get(pathKey([...path, key]))?.key ?? null;
  }
}

function position(lc: LineCounter, node: YamlNode | null): string {
  const offset = node?.range?.[0];
  if (offset === undefined) return '';
  const { line, col } = lc.linePos(offset);
  return `${line}:${col}`;
}

/**
 * The config as written: zod's output (durations in ms, modes as numbers),
 * with only the keys the file has, under the names it uses. The daemon's own
 * unit holds this, so the `changed` paths of its passes name keys the user
 * wrote (`targets.web.timeout`), never defaults or internal names.
 */
export type WrittenConfig = RawConfig;

/**
 * Parses and validates config text, in time linear in its size. Throws
 * ConfigError listing every problem as `file:line:col: path: message`.
 */
export function parseWrittenConfig(text: string, file: string): WrittenConfig {
  const lineCounter = new LineCounter();
  const at = (node: YamlNode | null) => {
    const pos = position(lineCounter, node);
    return `${file}${pos ? `:${pos}` : ''}`;
  };
  const deep = tooDeepFlowAt(text, Lexer);
  if (deep >= 0) {
    // Refused before the parser builds (and overflows the stack on) a tree that deep.
    const { line, col } = lineCol(text, deep);
    throw new ConfigError(file, [`${file}:${line}:${col}: invalid YAML: nested deeper than ${MAX_JSON_DEPTH} levels`]);
  }
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: false });
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
  const index = new YamlIndex(doc);
  if (index.duplicates.length > 0) {
    throw new ConfigError(
      file,
      index.duplicates.map(
        (d) => `${at(d.key)}: invalid YAML: Map keys must be unique: ${JSON.stringify(d.name)} is also at line ${position(lineCounter, d.first).split(':')[0]}`,
      ),
    );
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (err) {
    const why = /alias count/i.test(errorMessage(err))
      ? `aliases expand to too many nodes (more than ${MAX_ALIAS_COUNT} alias uses; an alias "bomb" is refused, not expanded)`
      : errorMessage(err);
    throw new ConfigError(file, [`${at(index.firstAlias)}: invalid YAML: ${why}`]);
  }
  if (raw === null || raw === undefined) {
    throw new ConfigError(file, [`${file}: the file is empty; it needs at least a "targets" map`]);
  }
  const targets = (raw as { targets?: unknown }).targets;
  if (targets !== null && typeof targets === 'object' && !Array.isArray(targets)) {
    const count = Object.keys(targets).length;
    if (count > MAX_TARGETS) {
      throw new ConfigError(file, [
        `${at(index.valueAt(['targets']))}: targets: ${count} targets; one daemon runs at most ${MAX_TARGETS} (split them over several daemons, each with its own state_dir)`,
      ]);
    }
  }
  const parsed = daemonConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems: string[] = [];
  for (const issue of parsed.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const where = formatPath([...issue.path, key]);
        problems.push(`${at(index.keyAt(issue.path, key) ?? index.valueAt(issue.path))}: ${where}: unknown key (not a reloadkit setting; check the spelling)`);
      }
      continue;
    }
    if (issue.code === 'invalid_key') {
      const key = String(issue.path[issue.path.length - 1]);
      const why = issue.issues.map((i) => i.message).join('; ');
      problems.push(`${at(index.keyAt(issue.path.slice(0, -1), key) ?? index.valueAt(issue.path))}: ${formatPath(issue.path)}: ${why}`);
      continue;
    }
    if (issue.path.length === 0 && issue.code === 'invalid_type') {
      problems.push(`${file}:1:1: the config must be a map of settings with at least "targets"`);
      continue;
    }
    const where = issue.path.length > 0 ? `${formatPath(issue.path)}: ` : '';
    const missing = issue.code === 'invalid_type' && !index.has(issue.path);
    problems.push(`${at(index.valueAt(issue.path))}: ${where}${missing ? 'required but missing' : issue.message}`);
  }
  throw new ConfigError(file, problems);
}

/**
 * Parses and validates config text and normalizes it. Throws ConfigError
 * listing every problem as `file:line:col: path: message`.
 */
export function parseConfigText(text: string, file: string, overrides: ConfigOverrides = {}): DaemonConfig {
  return normalizeConfig(parseWrittenConfig(text, file), dirname(resolve(file)), overrides);
}

/** The `--nginx` zero-config mode as if written: one target using the system nginx. */
export const NGINX_ZERO_CONFIG: WrittenConfig = { targets: { nginx: { kind: 'nginx', binary: 'nginx' } } };

/** The `--nginx` zero-config mode: one target using the system nginx. */
export function nginxZeroConfig(overrides: ConfigOverrides = {}): DaemonConfig {
  return normalizeConfig(NGINX_ZERO_CONFIG, '/', overrides);
}

/** The written config with the flags and environment variables that win over it, under the file's key names. */
export function withOverrides(written: WrittenConfig, overrides: ConfigOverrides): WrittenConfig {
  const admin = {
    ...written.admin,
    ...(overrides.socket === undefined ? {} : { socket: overrides.socket }),
    ...(overrides.http === undefined ? {} : { http: overrides.http }),
  };
  return {
    ...written,
    ...(overrides.log_level === undefined ? {} : { log_level: overrides.log_level }),
    ...(written.admin !== undefined || overrides.socket !== undefined || overrides.http !== undefined ? { admin } : {}),
  };
}
