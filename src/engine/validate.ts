// Validation through any Standard Schema validator (zod, valibot, arktype…).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { redactIssueMessage, type Redactor } from './redact.js';
import { child, formatPath, type PathSegment } from '../shared/paths.js';

export type ValidationOutcome = { ok: true; value: unknown } | { ok: false; message: string };

function issueSegments(issue: StandardSchemaV1.Issue): PathSegment[] {
  return (issue.path ?? []).map((p) => {
    const key = typeof p === 'object' && p !== null ? p.key : p;
    return typeof key === 'number' ? key : String(key);
  });
}

/** Issues beyond this many are listed without their position (each lookup may scan a file). */
const MAX_LOCATED_ISSUES = 50;

/** The longest start of `segs` that exists in `value`: where a missing key's parent is. */
function presentPrefix(value: unknown, segs: readonly PathSegment[]): PathSegment[] {
  let v = value;
  let n = 0;
  for (const seg of segs) {
    const next = child(v, seg);
    if (next === undefined) break;
    v = next;
    n += 1;
  }
  return segs.slice(0, n);
}

/** What validation may use from the loaded config. */
export interface ValidationHints {
  /** Where a value is written (LoadedConfig.locate): each issue starts with it. */
  locate?: ((path: readonly PathSegment[]) => string | undefined) | undefined;
}

/**
 * Validates and lists every issue as `path: message`, or, when the source
 * can say where a value is written, `file:line:col: path: message` (for a
 * missing key, where its parent is). With a redactor, the received value is
 * removed from messages of issues under secret keys (valibot and custom
 * refinements quote it).
 */
export async function validateWithSchema(
  schema: StandardSchemaV1,
  value: unknown,
  redactor?: Redactor,
  hints: ValidationHints = {},
): Promise<ValidationOutcome> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    const lines = result.issues.map((i, n) => {
      const segs = issueSegments(i);
      const message = redactor ? redactIssueMessage(redactor, i.message, segs, value) : i.message;
      const where = n < MAX_LOCATED_ISSUES ? whereWritten(hints.locate, value, segs) : undefined;
      return `${where === undefined ? '' : `${where}: `}${segs.length === 0 ? '(root)' : formatPath(segs)}: ${message}`;
    });
    return { ok: false, message: `schema validation failed: ${lines.join('; ')}` };
  }
  return { ok: true, value: result.value };
}

function whereWritten(locate: ValidationHints['locate'], value: unknown, segs: readonly PathSegment[]): string | undefined {
  if (!locate) return undefined;
  try {
    return locate(presentPrefix(value, segs)) || undefined;
  } catch {
    return undefined; // a source's lookup must not hide the validation error
  }
}
