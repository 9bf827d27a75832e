// Shared pieces of the CLI: exit codes, usage errors, option parsing and
// where the admin socket is (flag > RELOADKIT_SOCKET > default).
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { defaultSocketPath } from '../daemon/paths.js';

/** SPEC §3: 0 success, 1 a reload/check failed, 2 usage error or daemon unreachable. */
export const EXIT = { OK: 0, FAIL: 1, USAGE: 2 } as const;

export type CommandRun = (argv: readonly string[]) => Promise<number>;

export interface Command {
  summary: string;
  load(): Promise<CommandRun>;
}

/** Bad flags or arguments: printed with a pointer to --help, exit 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
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

/** Admin socket path: `--socket`, else RELOADKIT_SOCKET, else the default for this user. */
export function socketPath(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = flag ?? (env.RELOADKIT_SOCKET || undefined) ?? defaultSocketPath(env);
  return resolve(chosen);
}

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}
