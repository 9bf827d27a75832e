// Checks of source options at construction, so a typo fails at startup.
import { OptionsError, refuseUnknownKeys } from '../shared/errors.js';
import type { EnvOption } from './normalize.js';

function invalid(message: string): never {
  throw new OptionsError(message);
}

/** A source's options argument: an object (or left out) with only `known` keys. */
export function checkSourceOptions<O extends object>(what: string, options: O | undefined, known: readonly (keyof O & string)[]): O {
  if (options === undefined) return {} as O;
  refuseUnknownKeys(what, options, known);
  return options;
}

export function checkPath(what: string, path: unknown): string {
  if (typeof path !== 'string' || path === '') invalid(`${what} needs a path (a non-empty string)`);
  if (path.includes('\0')) invalid(`${what}: path contains a NUL byte`);
  return path;
}

export function checkMaxBytes(what: string, maxBytes: unknown): number | undefined {
  if (maxBytes === undefined) return undefined;
  if (typeof maxBytes !== 'number' || !Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    invalid(`${what}: maxBytes must be a positive integer, got ${String(maxBytes)}`);
  }
  return maxBytes;
}

export function checkEnv(what: string, env: unknown): EnvOption | undefined {
  if (env === undefined || typeof env === 'boolean') return env;
  if (env === null || typeof env !== 'object' || Array.isArray(env)) {
    invalid(`${what}: env must be true, false or a record of variables`);
  }
  return env as EnvOption;
}
