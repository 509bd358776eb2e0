// Checks the values a client submits for a workflow's exposed inputs.

import { checkValue, constraintsFor } from './constraints.js';
import type { ObjectInfo } from './constraints.js';
import { isPlainObject } from './graph.js';
import type { ExposedInput, InputValue } from './inputs.js';

export { MAX_STRING_LENGTH, describeValue } from './constraints.js';

/** The body field that names the workflow; it is not an input. */
const WORKFLOW_FIELD = 'workflow';

export type SubmissionCheck =
  | {
      ok: true;
      /** Only the inputs the client sent; the others keep the workflow's defaults. */
      values: Record<string, InputValue>;
      /** Submitted strings that name files the client uploaded, each once, in body order. */
      uploads: string[];
    }
  | { ok: false; problems: string[] };

/**
 * Lists every problem with a submission, or the values to apply. With the backends'
 * /object_info, values must also keep to ComfyUI's ranges and choices (see constraints.ts);
 * without it (no backend has answered yet) only their types are checked, and the backend
 * judges the rest.
 */
export function checkSubmission(
  workflow: { readonly inputs: readonly ExposedInput[] },
  body: unknown,
  isUploadName: (value: string) => boolean,
  objectInfo?: ObjectInfo,
): SubmissionCheck {
  if (!isPlainObject(body)) return { ok: false, problems: ['the request body must be a JSON object'] };
  const byKey = new Map(workflow.inputs.map((input) => [input.key, input]));
  const constraints = constraintsFor(workflow, objectInfo);
  const values: Record<string, InputValue> = {};
  const uploads = new Set<string>();
  const problems: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (key === WORKFLOW_FIELD) continue;
    const input = byKey.get(key);
    if (input === undefined) {
      problems.push(unknownInput(key, workflow.inputs));
      continue;
    }
    const problem = checkValue(constraints[key]!, value);
    if (problem !== undefined) {
      problems.push(`"${key}" ${problem}`);
      continue;
    }
    values[key] = value as InputValue;
    if (typeof value === 'string' && isUploadName(value)) uploads.add(value);
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, values, uploads: [...uploads] };
}

function unknownInput(key: string, inputs: readonly ExposedInput[]): string {
  const accepted = inputs.length > 0 ? `accepts ${inputs.map((input) => input.key).join(', ')}` : 'accepts no inputs';
  return `unknown input "${key}": this workflow ${accepted}`;
}
