// Shared pieces of the CLI: exit codes, usage errors, option parsing and
// where the admin socket is (flag > RELOADKIT_SOCKET > the config
// file's admin.socket > default).
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEFAULT_CONFIG_PATH, defaultSocketPath } from '../shared/defaults.js';
import { UsageError, ClientConfigError } from '../shared/errors.js';

/** Exit codes: 0 success, 1 a reload/check failed, 2 usage error or daemon unreachable. */
export const EXIT = { OK: 0, FAIL: 1, USAGE: 2 } as const;

type CommandRun = (argv: readonly string[]) => Promise<number>;

export interface Command {
  summary: string;
  load(): Promise<CommandRun>;
}

type Options = NonNullable<ParseArgsConfig['options']>;
type WithHelp<O extends Options> = O & { help: { type: 'boolean'; short: 'h' } };
export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: WithHelp<O>; strict: true; allowPositionals: true }>>;

/** node:util parseArgs, strict, with its errors turned into UsageErrors. */
export function parse<O extends Options>(argv: readonly string[], options: O, maxPositionals: number): Parsed<O> {
  let parsed: Parsed<O>;
  try {
    const withHelp = { ...options, help: { type: 'boolean', short: 'h' } } as WithHelp<O>;
    parsed = parseArgs({ args: [...argv], options: withHelp, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '') : String(err));
  }
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[maxPositionals])}`);
  }
  return parsed;
}

/** Where the client found the admin socket. */
export interface SocketChoice {
  path: string;
  from: 'flag' | 'env' | 'file' | 'default';
  /** The config file it came from (`from: 'file'`). */
  file?: string;
}

/**
 * Admin socket for `reload`/`status`: `--socket`, else RELOADKIT_SOCKET,
 * else `admin.socket` of the config file (`-c`, else RELOADKIT_CONFIG, else
 * the default file if it exists), else the default for this user. The file
 * (and with it yaml and the daemon's config module) is only read when
 * neither the flag nor the environment names the socket. A missing default
 * file is not an error; a missing named one is.
 */
export async function findSocket(
  flags: { socket?: string | undefined; config?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
  defaultConfig: string = DEFAULT_CONFIG_PATH,
): Promise<SocketChoice> {
  if (flags.socket !== undefined) {
    if (flags.socket === '') throw new UsageError('--socket needs a path (an empty path disables the socket of `run`; there is nothing to connect to)');
    return { path: resolve(flags.socket), from: 'flag' };
  }
  // An empty environment variable counts as unset (as for `run`).
  if (env.RELOADKIT_SOCKET) return { path: resolve(env.RELOADKIT_SOCKET), from: 'env' };
  if (flags.config === '') throw new UsageError('-c/--config needs a file');
  const named = flags.config ?? (env.RELOADKIT_CONFIG || undefined);
  const file = resolve(named ?? defaultConfig);
  if (named === undefined) {
    try {
      await stat(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
        return { path: defaultSocketPath(env), from: 'default' };
      }
      // Anything else (permission denied…) is reported by the read below.
    }
  }
  return { path: await socketFromConfigFile(file), from: 'file', file };
}

/**
 * `admin.socket` of a daemon config file, resolved as the daemon resolves it
 * (daemon/config.ts `normalizeConfig`: relative to the file's directory; the
 * default when the key is absent). Only that key is read: a file the daemon
 * would reject for another reason (a typo in a target, while the daemon runs
 * on its previous config) still tells where the socket is.
 */
async function socketFromConfigFile(file: string): Promise<string> {
  const [{ readConfigBytes }, { MAX_CONFIG_BYTES }, { normalizeConfig }, { parseDocument }] = await Promise.all([
    import('../sources/read.js'),
    import('../daemon/own-config.js'),
    import('../daemon/config.js'),
    import('yaml'),
  ]);
  const hint = 'pass --socket PATH or set RELOADKIT_SOCKET';
  let text: string;
  try {
    text = (await readConfigBytes(file, { maxBytes: MAX_CONFIG_BYTES })).bytes.toString('utf8');
  } catch (err) {
    const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    const why =
      code === 'ENOENT' ? 'no such file' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err as Error).message.replace(`${file}: `, '');
    throw new ClientConfigError(`cannot read the config file ${file} for admin.socket: ${why} (${hint})`);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  const first = doc.errors[0];
  if (first) {
    const pos = first.linePos?.[0];
    const msg = (first.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
    throw new ClientConfigError(`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${msg} (cannot find admin.socket; ${hint})`);
  }
  const admin: unknown = doc.get('admin');
  const socket: unknown = admin === undefined || admin === null ? undefined : doc.getIn(['admin', 'socket']);
  if (socket !== undefined && typeof socket !== 'string') {
    throw new ClientConfigError(`${file}: admin.socket must be a path (${hint})`);
  }
  // The daemon's own normalization, applied to this one key.
  const path = normalizeConfig({ targets: {}, ...(socket === undefined ? {} : { admin: { socket } }) }, dirname(file)).admin.socket;
  if (path === '')
    throw new ClientConfigError(`${file} disables the admin socket (admin.socket: ""); nothing to connect to (${hint} if the daemon runs with one)`);
  return path;
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}
