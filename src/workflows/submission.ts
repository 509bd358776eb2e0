// Checks the values a client submits for a workflow's exposed inputs.

import { isPlainObject } from './graph.js';
import type { ExposedInput, InputType, InputValue } from './inputs.js';

/** Longest string accepted for a "str" input, in UTF-16 code units. */
export const MAX_STRING_LENGTH = 10_000;

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

/** Lists every problem with a submission, or the values to apply. */
export function checkSubmission(
  workflow: { readonly inputs: readonly ExposedInput[] },
  body: unknown,
  isUploadName: (value: string) => boolean,
): SubmissionCheck {
  if (!isPlainObject(body)) return { ok: false, problems: ['the request body must be a JSON object'] };
  const byKey = new Map(workflow.inputs.map((input) => [input.key, input]));
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
    const problem = valueProblem(input.type, value);
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

/** Why a value does not fit the input's type, or undefined when it fits. */
export function valueProblem(type: InputType, value: unknown): string | undefined {
  switch (type) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return `must be an int, got ${describeValue(value)}`;
      if (!Number.isSafeInteger(value)) {
        return `must be an int between ${Number.MIN_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER}, got ${describeValue(value)}`;
      }
      return undefined;
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) return `must be a float, got ${describeValue(value)}`;
      return undefined;
    case 'str':
      if (typeof value !== 'string') return `must be a string, got ${describeValue(value)}`;
      if (value.length > MAX_STRING_LENGTH) {
        return `must be at most ${MAX_STRING_LENGTH} characters long, got ${value.length}`;
      }
      return undefined;
    case 'bool':
      if (typeof value !== 'boolean') return `must be a bool (true or false), got ${describeValue(value)}`;
      return undefined;
  }
}

/** A short description of a submitted value for problem messages: `string "12"`, `number 1.5`. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
      return `string ${JSON.stringify(shown)}`;
    }
    case 'number':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}
