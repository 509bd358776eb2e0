// What a value for an exposed input must be: its JSON type, and the range or choices ComfyUI
// itself enforces when it validates a prompt (execution.py validate_inputs), read from a
// backend's /object_info. Checking them here turns a failure on the backend, long after the
// client was told "queued", into a 400 that names every problem at once.
//
// What validate_inputs enforces on a literal input, and so what is checked here:
//   - conversion to the declared type (int(), float(), str(), bool()); the curated door is
//     stricter and asks for the JSON type itself, as it always has;
//   - "min" and "max" of the input's options (INT and FLOAT inputs);
//   - membership of a combo's choices (a classic [[...]] list or ["COMBO", {options}]), except
//     for remote combos, whose choices only the browser knows.
// It does not enforce "step" or "round" (the front end's widgets apply those), so neither is
// checked nor advertised. It also skips min/max for an input the node validates itself
// (VALIDATE_INPUTS naming it); /object_info does not say which those are, and the core nodes
// have no such ranged input, so the range is applied regardless.

import { uploadKind } from '../comfy/object-info.js';
import { isFileInput } from './files.js';
import { isPlainObject } from './graph.js';
import type { ExposedInput, InputType, InputValue } from './inputs.js';

/** /object_info as a backend answers it: node class name → schema. Read defensively. */
export type ObjectInfo = Readonly<Record<string, unknown>>;

export interface InputConstraint {
  type: InputType;
  min?: number;
  max?: number;
  /** The values a combo offers; any other value is refused. */
  choices?: readonly InputValue[];
}

/** Constraints keyed like the values clients submit ("3/steps"). */
export type Constraints = Readonly<Record<string, InputConstraint>>;

/** Longest string accepted for a "str" input, in UTF-16 code units. */
export const MAX_STRING_LENGTH = 10_000;

/** ComfyUI's error messages leave out combo lists longer than this; so do ours. */
const LISTED_CHOICES = 20;

/**
 * The constraints of every exposed input. Without /object_info (no backend has answered yet)
 * or for a node class or input it does not describe, only the type judged from the workflow's
 * default remains: the check then falls back to the type checks alone, and the backend has the
 * last word.
 */
export function constraintsFor(workflow: { readonly inputs: readonly ExposedInput[] }, objectInfo?: ObjectInfo): Constraints {
  if (objectInfo === undefined) return readConstraints(workflow);
  // The pool keeps one /object_info object until it fetches anew, so every submission of a
  // workflow until then is held to the same constraints: read them once.
  let byWorkflow = known.get(objectInfo);
  if (byWorkflow === undefined) known.set(objectInfo, (byWorkflow = new WeakMap()));
  let constraints = byWorkflow.get(workflow);
  if (constraints === undefined) byWorkflow.set(workflow, (constraints = readConstraints(workflow, objectInfo)));
  return constraints;
}

const known = new WeakMap<ObjectInfo, WeakMap<object, Constraints>>();

function readConstraints(workflow: { readonly inputs: readonly ExposedInput[] }, objectInfo?: ObjectInfo): Constraints {
  const constraints: Record<string, InputConstraint> = {};
  for (const input of workflow.inputs) {
    const declared = objectInfo === undefined ? undefined : declaredInput(objectInfo, input.class, input.input);
    constraints[input.key] = declared === undefined ? { type: input.type } : fromDeclaration(input, declared);
  }
  return constraints;
}

/** Every problem with the submitted values, one per input, each naming the input. */
export function checkValues(constraints: Constraints, values: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    const constraint = Object.hasOwn(constraints, key) ? constraints[key] : undefined;
    if (constraint === undefined) continue;
    const problem = checkValue(constraint, value);
    if (problem !== undefined) problems.push(`"${key}" ${problem}`);
  }
  return problems;
}

/** Why a value breaks the input's constraint, or undefined when it fits. */
export function checkValue(constraint: InputConstraint, value: unknown): string | undefined {
  const typeProblem = valueProblem(constraint.type, value);
  if (typeProblem !== undefined) return typeProblem;
  const { min, max, choices } = constraint;
  if (typeof value === 'number' && ((min !== undefined && value < min) || (max !== undefined && value > max))) {
    if (min !== undefined && max !== undefined) return `must be between ${min} and ${max}, got ${value}`;
    return min !== undefined ? `must be at least ${min}, got ${value}` : `must be at most ${max}, got ${value}`;
  }
  if (choices !== undefined && !choices.includes(value as InputValue)) {
    const offered =
      choices.length > LISTED_CHOICES ? `one of the ${choices.length} choices GET /workflow-info lists` : `one of ${choices.map((c) => JSON.stringify(c)).join(', ')}`;
    return `must be ${offered}, got ${describeValue(value)}`;
  }
  return undefined;
}

/** Why a value does not fit the input's type, or undefined when it fits. */
function valueProblem(type: InputType, value: unknown): string | undefined {
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

/** One input as /object_info declares it: the type (a name, or a classic combo's list) and options. */
interface Declaration {
  type: string | readonly unknown[];
  options: Record<string, unknown>;
}

function declaredInput(objectInfo: ObjectInfo, classType: string, input: string): Declaration | undefined {
  const schema = Object.hasOwn(objectInfo, classType) ? objectInfo[classType] : undefined;
  if (!isPlainObject(schema) || !isPlainObject(schema.input)) return undefined;
  for (const category of ['required', 'optional'] as const) {
    const section = schema.input[category];
    if (!isPlainObject(section) || !Object.hasOwn(section, input)) continue;
    const spec = section[input];
    if (!Array.isArray(spec) || spec.length === 0) return undefined;
    const [type, options] = spec as [unknown, unknown];
    if (typeof type !== 'string' && !Array.isArray(type)) return undefined;
    return { type, options: isPlainObject(options) ? options : {} };
  }
  return undefined;
}

function fromDeclaration(input: ExposedInput, { type, options }: Declaration): InputConstraint {
  const constraint: InputConstraint = { type: declaredType(input, type) };
  if (constraint.type === 'int' || constraint.type === 'float') {
    if (isNumber(options.min)) constraint.min = options.min;
    if (isNumber(options.max)) constraint.max = options.max;
  }
  const choices = comboChoices(type, options);
  // A file input takes a name POST /upload made, which no backend's list shows yet.
  if (choices !== undefined && !isFileInput(input)) constraint.choices = choices;
  return constraint;
}

/**
 * The type a client must send: the backend's INT or FLOAT where the workflow's default is a
 * number that fits it (JSON cannot tell 7.0 from 7), else the type judged from the default.
 */
function declaredType(input: ExposedInput, type: Declaration['type']): InputType {
  if (typeof input.default !== 'number') return input.type;
  if (type === 'FLOAT') return 'float';
  if (type === 'INT' && Number.isInteger(input.default)) return 'int';
  return input.type;
}

function comboChoices(type: Declaration['type'], options: Record<string, unknown>): InputValue[] | undefined {
  // A multiselect combo takes a list, which the curated door does not accept anyway.
  if (options.multiselect === true) return undefined;
  let list: unknown;
  if (Array.isArray(type)) list = type;
  else if (type === 'COMBO' && !options.remote_combo) list = options.options;
  if (!Array.isArray(list)) return undefined;
  // Upload combos (LoadImage's image) list the backend's input folder; the node's own validator judges those.
  if (uploadKind(options) !== undefined) return undefined;
  return list.filter((choice): choice is InputValue => ['string', 'number', 'boolean'].includes(typeof choice));
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}
