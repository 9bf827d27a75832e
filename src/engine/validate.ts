// Validation through any Standard Schema validator (zod, valibot, arktype…).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { formatPath, type PathSegment } from './paths.js';

export type ValidationOutcome = { ok: true; value: unknown } | { ok: false; message: string };

function issuePath(issue: StandardSchemaV1.Issue): string {
  if (!issue.path || issue.path.length === 0) return '(root)';
  const segs: PathSegment[] = issue.path.map((p) => {
    const key = typeof p === 'object' && p !== null ? p.key : p;
    return typeof key === 'number' ? key : String(key);
  });
  return formatPath(segs);
}

/** Validates and lists every issue as `path: message`. */
export async function validateWithSchema(schema: StandardSchemaV1, value: unknown): Promise<ValidationOutcome> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    const lines = result.issues.map((i) => `${issuePath(i)}: ${i.message}`);
    return { ok: false, message: `schema validation failed: ${lines.join('; ')}` };
  }
  return { ok: true, value: result.value };
}
