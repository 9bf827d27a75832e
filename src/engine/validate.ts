// Validation through any Standard Schema validator (zod, valibot, arktype…).
import type { StandardSchemaV1 } from '@standard-schema/spec';
import { redactIssueMessage, type Redactor } from './redact.js';
import { formatPath, type PathSegment } from '../shared/paths.js';

export type ValidationOutcome = { ok: true; value: unknown } | { ok: false; message: string };

function issueSegments(issue: StandardSchemaV1.Issue): PathSegment[] {
  return (issue.path ?? []).map((p) => {
    const key = typeof p === 'object' && p !== null ? p.key : p;
    return typeof key === 'number' ? key : String(key);
  });
}

/**
 * Validates and lists every issue as `path: message`. With a redactor, the
 * received value is removed from messages of issues under secret keys
 * (valibot and custom refinements quote it).
 */
export async function validateWithSchema(schema: StandardSchemaV1, value: unknown, redactor?: Redactor): Promise<ValidationOutcome> {
  let result = schema['~standard'].validate(value);
  if (result instanceof Promise) result = await result;
  if (result.issues) {
    const lines = result.issues.map((i) => {
      const segs = issueSegments(i);
      const message = redactor ? redactIssueMessage(redactor, i.message, segs, value) : i.message;
      return `${segs.length === 0 ? '(root)' : formatPath(segs)}: ${message}`;
    });
    return { ok: false, message: `schema validation failed: ${lines.join('; ')}` };
  }
  return { ok: true, value: result.value };
}
