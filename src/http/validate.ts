// Checking a request's body, query or path against the zod schema that also describes it in the
// OpenAPI document (src/openapi), so what is checked and what is documented cannot drift. Every
// problem is reported, not the first; each door turns the list into its own refusal.
import type { Context } from 'koa';
import type { z } from 'zod';

export type Checked<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** One issue in words: its own message when that names the field, else the field's path first. */
function problemOf(issue: z.core.$ZodIssue): string {
  if (issue.path.length === 0 || issue.message.includes(String(issue.path[0]))) return issue.message;
  return `"${issue.path.map(String).join('.')}": ${issue.message}`;
}

export function check<S extends z.ZodType>(schema: S, value: unknown): Checked<z.output<S>> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  // A message said of several items of one list is said once.
  return { ok: false, problems: [...new Set(result.error.issues.map(problemOf))] };
}

/**
 * The query string checked against an object schema: a parameter given more than once is a
 * problem (not a guess), and an empty one counts as absent.
 */
export function checkQuery<S extends z.ZodObject>(ctx: Context, schema: S): Checked<z.output<S>> {
  const problems: string[] = [];
  const values: Record<string, string> = {};
  for (const name of Object.keys(schema.shape)) {
    const value = ctx.query[name];
    if (Array.isArray(value)) problems.push(`"${name}" is given more than once`);
    else if (value !== undefined && value !== '') values[name] = value;
  }
  const checked = check(schema, values);
  if (checked.ok && problems.length === 0) return checked;
  return { ok: false, problems: [...problems, ...(checked.ok ? [] : checked.problems)] };
}
