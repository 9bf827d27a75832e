// Validation through any Standard Schema validator (zod, valibot, arktype…).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { redactIssueMessage, type Redactor } from './redact.js';
import { child, formatPath, isPlainObject, type PathSegment } from '../shared/paths.js';

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
  /** Values typed from environment text, with the text (LoadedConfig.typedTexts). */
  typedTexts?: (() => readonly { path: readonly PathSegment[]; text: string }[]) | undefined;
}

/** `value` with `text` at `path`, copying only the containers on the way. */
function withTextAt(value: unknown, path: readonly PathSegment[], text: string): unknown {
  if (path.length === 0) return text;
  const [head, ...rest] = path as [PathSegment, ...PathSegment[]];
  if (Array.isArray(value) && typeof head === 'number') {
    const copy = [...(value as unknown[])];
    copy[head] = withTextAt(copy[head], rest, text);
    return copy;
  }
  if (isPlainObject(value) && typeof head === 'string') {
    const copy = { ...value };
    Object.defineProperty(copy, head, { value: withTextAt(value[head], rest, text), enumerable: true, writable: true, configurable: true });
    return copy;
  }
  return value;
}

const within = (segs: readonly PathSegment[], path: readonly PathSegment[]) => path.every((seg, k) => segs[k] === seg);

/** The value with the text back wherever the schema refused a value typed from it (or something in it); null when there is none. */
function untyped(
  value: unknown,
  issues: readonly StandardSchemaV1.Issue[],
  typedTexts: NonNullable<ValidationHints['typedTexts']>,
): { value: unknown; paths: (readonly PathSegment[])[] } | null {
  const refused = issues.map(issueSegments);
  let out: { value: unknown; paths: (readonly PathSegment[])[] } | null = null;
  for (const { path, text } of typedTexts()) {
    if (!refused.some((segs) => within(segs, path))) continue;
    out ??= { value, paths: [] };
    out.value = withTextAt(out.value, path, text);
    out.paths.push(path);
  }
  return out;
}

/**
 * Validates and lists every issue as `path: message`, or, when the source
 * can say where a value is written, `file:line:col: path: message` (for a
 * missing key, where its parent is). A value the source typed from
 * environment text (`"8080"` → 8080) that the schema refuses is validated
 * again as that text, so a string setting keeps a value such as `0123`. With a redactor, the received value is
 * removed from messages of issues under secret keys (valibot and custom
 * refinements quote it).
 */
export async function validateWithSchema(
  schema: StandardSchemaV1,
  input: unknown,
  redactor?: Redactor,
  hints: ValidationHints = {},
): Promise<ValidationOutcome> {
  const validate = async (v: unknown) => {
    const r = schema['~standard'].validate(v);
    return r instanceof Promise ? await r : r;
  };
  let value = input;
  let result = await validate(value);
  // A value typed from the environment that the schema refuses: try its text instead. When
  // the text is refused too, the error is the one about the typed value.
  const retry = result.issues && hints.typedTexts ? untyped(value, result.issues, hints.typedTexts) : null;
  if (retry !== null) {
    const second = await validate(retry.value);
    if (!second.issues?.some((i) => retry.paths.some((p) => within(issueSegments(i), p)))) {
      value = retry.value;
      result = second;
    }
  }
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
