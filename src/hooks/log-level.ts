// logLevelHook: the config's log level becomes the pino logger's level.
// check refuses a level pino does not know (listing the ones it does);
// apply sets `logger.level`, skipped when the logger already has it.
import { OptionsError, refuseUnknownKeys } from '../shared/errors.js';
import type { NextPrevHook } from '../shared/types.js';
import { selection, type ConfigWith, type Selection } from './select.js';

/** What the hook needs of a logger; any pino logger (or child) has it. */
export interface LevelLogger {
  level: string;
  readonly levels: { readonly values: Readonly<Record<string, number>> };
}

export interface LogLevelHookOptions {
  /** Hook name in results (default `log-level`); give each of two such hooks its own. */
  name?: string;
}

function checkPinoLogger(where: string, logger: unknown): asserts logger is LevelLogger {
  const values = (logger as Partial<LevelLogger> | null)?.levels?.values;
  if (typeof logger !== 'object' || logger === null || typeof values !== 'object' || values === null) {
    throw new OptionsError(`${where}: logger must be a pino logger (an object with level and levels.values), got ${logger === null ? 'null' : typeof logger}`);
  }
}

/** Valid levels in severity order, custom levels included, then `silent`. */
export function validLevels(logger: LevelLogger): string[] {
  checkPinoLogger('validLevels', logger);
  const values = logger.levels.values;
  return [...Object.keys(values).sort((a, b) => values[a]! - values[b]!), 'silent'];
}

function levelAt(sel: Selection, config: unknown, logger: LevelLogger): string {
  const level = sel.pick(config);
  const where = sel.description === 'selector' ? 'the selector' : sel.description;
  if (typeof level !== 'string') {
    throw new Error(level === undefined ? `no log level at ${where}` : `log level at ${where} must be a string, got ${typeof level}`);
  }
  const valid = validLevels(logger);
  if (!valid.includes(level)) {
    throw new Error(`log level ${JSON.stringify(level)} (at ${where}) is not a pino level; valid levels: ${valid.join(', ')}`);
  }
  return level;
}

/**
 * Sets a pino logger's level from the config. `path` is a dotted path
 * (`'log.level'`, checked against the config type) or a selector
 * (`(c: Config) => c.log.level`). Child loggers created earlier keep their
 * own level: pass the logger whose level should follow the config.
 */
export function logLevelHook<P extends string>(logger: LevelLogger, path: P, options?: LogLevelHookOptions): NextPrevHook<ConfigWith<P, string>>;
export function logLevelHook<C>(logger: LevelLogger, select: (config: C) => string, options?: LogLevelHookOptions): NextPrevHook<C>;
export function logLevelHook(logger: LevelLogger, path: string | ((config: never) => string), options: LogLevelHookOptions = {}): NextPrevHook<unknown> {
  refuseUnknownKeys('logLevelHook', options, ['name']);
  const name = options.name ?? 'log-level';
  if (typeof name !== 'string' || name === '') throw new OptionsError(`logLevelHook: name must be a non-empty string, got ${typeof name}`);
  checkPinoLogger(`logLevelHook "${name}"`, logger);
  const sel = selection(`logLevelHook "${name}"`, path);
  // The level the last apply replaced; a unit runs one pass at a time, and
  // rollback follows its own pass's apply.
  let replaced: string | undefined;
  return {
    name,
    args: 'next-prev',
    check: (next) => {
      levelAt(sel, next, logger);
    },
    apply: (next) => {
      const level = levelAt(sel, next, logger);
      if (logger.level === level) return 'skipped';
      replaced = logger.level;
      logger.level = level;
      return 'applied';
    },
    rollback: () => {
      if (replaced !== undefined) logger.level = replaced;
    },
  };
}
