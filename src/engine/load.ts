// The load step of a pass (and of start): read the source with signature
// checks, validate with the schema, freeze, hash. Nothing here changes the
// unit; the result is a candidate the pass accepts or refuses.
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { errorMessage, findSignatureError, LoadError } from '../shared/errors.js';
import { configHash, isStable } from '../shared/hash.js';
import type { ConfigSource, LoadContext, LoadedConfig, Logger, SourceFile } from '../shared/types.js';
import type { Redactor } from './redact.js';
import { deepFreeze } from './snapshot.js';
import { validateWithSchema, type ValidationHints } from './validate.js';

export type Candidate =
  { ok: true; value: unknown; raw: unknown; hash: string; files: SourceFile[]; origin?: LoadedConfig['origin'] } | { ok: false; message: string; raw: unknown };

export interface LoadEnv {
  unit: string;
  source: ConfigSource;
  schema?: StandardSchemaV1 | undefined;
  redactor: Redactor;
  logger: Logger;
  /** Signature check handed to the source for every file it parses. */
  verify?: LoadContext['verify'];
  /** A file's signature was missing or bad: counted by the caller's observers. */
  onSignatureFailure(file: string, reason: string): void;
}

/** Reads, verifies and validates the source; never throws. */
export async function loadCandidate(env: LoadEnv, signal: AbortSignal): Promise<Candidate> {
  // The first signature failure of this load: its message becomes the load error
  // whatever the source wraps it in, and it is counted and logged once.
  let sigFailure: Error | null = null;
  const verify = env.verify;
  const ctx: LoadContext = { signal };
  if (verify) {
    ctx.verify = async (path, bytes) => {
      try {
        await verify(path, bytes);
      } catch (err) {
        if (!sigFailure) {
          const sigErr = findSignatureError(err);
          sigFailure = sigErr ?? new LoadError(`signature verification failed: ${path}: ${errorMessage(err)}`);
          const reason = sigErr?.reason ?? errorMessage(err);
          env.logger.error({ event: 'security', unit: env.unit, file: path, reason }, 'signature verification failed');
          env.onSignatureFailure(path, reason);
        }
        throw err;
      }
    };
  }
  let loaded;
  try {
    loaded = await env.source.load(ctx);
  } catch (err) {
    return { ok: false, message: errorMessage(sigFailure ?? err), raw: undefined };
  }
  const cycle = cyclePath(loaded.value);
  if (cycle !== null) {
    // Every later step walks the value; a cycle would overflow the stack there.
    return { ok: false, message: `the config contains itself at ${cycle || '(root)'}`, raw: undefined };
  }
  if (sigFailure) {
    // A source that swallowed the verification error must not get its content accepted.
    return { ok: false, message: errorMessage(sigFailure), raw: undefined };
  }
  // Schema issues name fields; the prefix says which source they are in.
  const cand = await candidateFrom(env, loaded.value, loaded.files, `${env.source.description}: `, {
    locate: loaded.locate?.bind(loaded),
    typedTexts: loaded.typedTexts?.bind(loaded),
  });
  return cand.ok && loaded.origin ? { ...cand, origin: loaded.origin.bind(loaded) } : cand;
}

/**
 * How deep a value may nest before the exact cycle search runs: parsed
 * configs stop far sooner (the parsers refuse 1,000 levels), a cycle never.
 */
const CYCLE_SUSPECT_DEPTH = 1000;

/** Whether `v` nests `depth` levels or more (stable parts, frozen plain trees, are not entered). */
function nestsDeeper(v: unknown, depth: number): boolean {
  if (v === null || typeof v !== 'object' || isStable(v)) return false;
  if (depth === 0) return true;
  const children: Iterable<unknown> = Array.isArray(v) || v instanceof Map || v instanceof Set ? v.values() : Object.values(v);
  for (const x of children) if (nestsDeeper(x, depth - 1)) return true;
  return false;
}

/**
 * Where a source's value contains itself (a custom source can return any
 * object): the dotted path of the first back reference, or null when there
 * is none. It runs on every load, so it first only measures the depth (a
 * few µs for a 10 KB config; a walk that tracks every object and path took
 * ten times that), and searches for the cycle only in a value that deep.
 */
function cyclePath(value: unknown): string | null {
  if (!nestsDeeper(value, CYCLE_SUSPECT_DEPTH)) return null;
  const stack = new Set<object>();
  const visit = (v: unknown, path: string): string | null => {
    if (v === null || typeof v !== 'object' || isStable(v)) return null;
    if (stack.has(v)) return path;
    stack.add(v);
    const entries: Iterable<[string, unknown]> =
      v instanceof Map ? v : v instanceof Set ? [...v].map((x, i): [string, unknown] => [String(i), x]) : Object.entries(v);
    for (const [k, x] of entries) {
      const found = visit(x, path === '' ? String(k) : `${path}.${String(k)}`);
      if (found !== null) return found;
    }
    stack.delete(v);
    return null;
  };
  return visit(value, '');
}

/** Validates, freezes and hashes a value (a loaded config, or a fallback). */
export async function candidateFrom(
  env: Pick<LoadEnv, 'schema' | 'redactor'>,
  raw: unknown,
  files: SourceFile[],
  where = '',
  hints: ValidationHints = {},
): Promise<Candidate> {
  let value = raw;
  try {
    if (env.schema) {
      const v = await validateWithSchema(env.schema, raw, env.redactor, hints);
      if (!v.ok) return { ok: false, message: where + v.message, raw };
      value = v.value;
    }
    return { ok: true, value: deepFreeze(value), raw, hash: configHash(value), files };
  } catch (err) {
    return { ok: false, message: errorMessage(err), raw };
  }
}
