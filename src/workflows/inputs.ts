// The inputs of a workflow that users may set, found through each node's `_meta.apiinput`.

import { compareNodeIds } from '../comfy/protocol.js';
import type { Constraints } from './constraints.js';
import { isFileInput } from './files.js';
import { isFloatInput } from './float-inputs.js';
import { isLink, isPlainObject } from './graph.js';
import type { PromptGraph } from './graph.js';

export type InputType = 'str' | 'int' | 'float' | 'bool';

export type InputValue = string | number | boolean;

export interface ExposedInput {
  /** `<nodeId>/<input>`, the name clients use, e.g. "6/text". */
  key: string;
  nodeId: string;
  input: string;
  type: InputType;
  /** The node's `_meta.title`, or its class_type when untitled. */
  title: string;
  class: string;
  default: InputValue;
}

export interface InputDescription {
  type: InputType;
  title: string;
  class: string;
  /** Left out for file inputs: a submission may only name files POST /upload returned. */
  default?: InputValue;
  min?: number;
  max?: number;
  choices?: readonly InputValue[];
}

export type InputsReading = { ok: true; inputs: ExposedInput[] } | { ok: false; problems: string[] };

export function inputKey(nodeId: string, input: string): string {
  return `${nodeId}/${input}`;
}

/** Splits "6/text" into node id and input name; input names never contain "/". */
export function splitInputKey(key: string): { nodeId: string; input: string } | undefined {
  const slash = key.lastIndexOf('/');
  if (slash <= 0 || slash === key.length - 1) return undefined;
  return { nodeId: key.slice(0, slash), input: key.slice(slash + 1) };
}

/** Names listed in an apiinput string: "text, seed" → ["text", "seed"]. */
export function parseApiInput(apiinput: string): string[] {
  const names = apiinput
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  return [...new Set(names)];
}

/** The type a client must send, judged from the workflow's default value. */
export function inferInputType(classType: string, input: string, value: unknown): InputType | undefined {
  switch (typeof value) {
    case 'string':
      return 'str';
    case 'boolean':
      return 'bool';
    case 'number':
      if (!Number.isFinite(value)) return undefined;
      return Number.isInteger(value) && !isFloatInput(classType, input) ? 'int' : 'float';
    default:
      return undefined;
  }
}

/**
 * Every exposed input in node-id order (within a node, apiinput order), or every
 * reason the apiinput marks cannot be honoured.
 */
export function exposedInputs(graph: PromptGraph): InputsReading {
  const inputs: ExposedInput[] = [];
  const problems: string[] = [];
  for (const nodeId of Object.keys(graph).sort(compareNodeIds)) {
    const node = graph[nodeId]!;
    const apiinput = node._meta?.apiinput;
    if (apiinput === undefined) continue;
    const where = `node ${nodeId} (${node.class_type})`;
    if (typeof apiinput !== 'string') {
      problems.push(`${where}: _meta.apiinput must be a comma-separated string of input names`);
      continue;
    }
    const title = typeof node._meta?.title === 'string' && node._meta.title !== '' ? node._meta.title : node.class_type;
    for (const input of parseApiInput(apiinput)) {
      if (!Object.hasOwn(node.inputs, input)) {
        const known = Object.keys(node.inputs).join(', ') || 'none';
        problems.push(`${where}: apiinput names "${input}", which this node does not have (its inputs: ${known})`);
        continue;
      }
      const value = node.inputs[input];
      const type = inferInputType(node.class_type, input, value);
      if (type === undefined) {
        problems.push(`${where}: apiinput names "${input}", ${unexposableReason(value)}`);
        continue;
      }
      inputs.push({
        key: inputKey(nodeId, input),
        nodeId,
        input,
        type,
        title,
        class: node.class_type,
        default: value as InputValue,
      });
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, inputs };
}

function unexposableReason(value: unknown): string {
  if (isLink(value)) return `which is linked to node ${value[0]}; only inputs with a literal value can be exposed`;
  if (Array.isArray(value)) return 'whose value is a list; only strings, numbers and booleans can be exposed';
  if (isPlainObject(value)) return 'whose value is an object; only strings, numbers and booleans can be exposed';
  return `whose value is ${value === null ? 'null' : String(value)}; only strings, numbers and booleans can be exposed`;
}

/**
 * What clients are told about a workflow's inputs, keyed like the values they submit: with the
 * constraints (see constraintsFor), also the type, range and choices a submission is held to.
 */
export function describe(workflow: { readonly inputs: readonly ExposedInput[] }, constraints?: Constraints): Record<string, InputDescription> {
  const description: Record<string, InputDescription> = {};
  for (const input of workflow.inputs) {
    const rule = constraints !== undefined && Object.hasOwn(constraints, input.key) ? constraints[input.key] : undefined;
    const entry: InputDescription = { type: rule?.type ?? input.type, title: input.title, class: input.class };
    // The workflow's own file name would be refused if submitted, so it is not offered.
    if (!isFileInput(input)) entry.default = input.default;
    if (rule?.min !== undefined) entry.min = rule.min;
    if (rule?.max !== undefined) entry.max = rule.max;
    if (rule?.choices !== undefined) entry.choices = rule.choices;
    description[input.key] = entry;
  }
  return description;
}
