// Prompt validation as execution.validate_prompt does it during POST /prompt, including its
// error shapes, coercion of literals and its quirks. It reads node classes from /object_info, so
// it judges a prompt for any backend whose /object_info is known.
import { inputInfo, nodeSchema } from './object-info.js';
import type { NodeSchema, ObjectInfo } from './object-info.js';
import { isPlainObject, pyFloat, pyInt, pyRepr, pyStr, pyTruthy, pyFloatRepr, PyError, pyTypeName } from './python.js';

export interface ErrorReason {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export interface NodeErrorEntry {
  errors: ErrorReason[];
  dependent_outputs: string[];
  class_type: string;
}

export interface ValidationOutcome {
  ok: boolean;
  error: ErrorReason | null;
  /** Output nodes that passed, in graph order: these are the ones that will run. */
  outputs: string[];
  nodeErrors: Record<string, NodeErrorEntry>;
}

/**
 * A node's VALIDATE_INPUTS, which /object_info cannot show: the inputs it takes (they skip the
 * generic range and combo checks) and its verdict on their values.
 */
export interface ValidateInputs {
  readonly args: readonly string[];
  check(args: Record<string, unknown>): true | string;
}

/** The /object_info entry of one class, or undefined when the backend has no such node. */
export type ObjectInfoLookup = (classType: string) => unknown;

/** The VALIDATE_INPUTS of a class, when it has one. */
export type InputsHook = (schema: NodeSchema) => ValidateInputs | undefined;

interface NodeRules {
  readonly schema: NodeSchema;
  readonly validateInputs: ValidateInputs | undefined;
}

/** Node classes by class_type, each read once per prompt. */
class NodeCatalog {
  private readonly read = new Map<string, NodeRules | undefined>();

  constructor(
    private readonly entry: ObjectInfoLookup,
    private readonly hook: InputsHook,
  ) {}

  get(classType: unknown): NodeRules | undefined {
    if (typeof classType !== 'string') return undefined;
    if (!this.read.has(classType)) {
      const schema = nodeSchema(classType, this.entry(classType));
      this.read.set(classType, schema && { schema, validateInputs: this.hook(schema) });
    }
    return this.read.get(classType);
  }
}

type Verdict = [valid: boolean, reasons: ErrorReason[]];

function frame(line: number, fn: string, code: string): string {
  return `  File "/ComfyUI/execution.py", line ${line}, in ${fn}\n    ${code}\n`;
}

const LINK_TRACEBACK = [
  frame(808, 'validate_inputs', 'r = await validate_inputs(prompt_id, prompt, o_id, validated)'),
  frame(788, 'validate_inputs', "o_class_type = prompt[o_id]['class_type']"),
];
const OUTPUT_TRACEBACK = [frame(1010, 'validate_prompt', 'm = await validate_inputs(prompt_id, prompt, o, validated)')];

/** validate_node_input: exact match, "*" on either side, or overlapping comma-separated unions. */
function typesMatch(received: string, expected: string | string[]): boolean {
  if (received === '*' || expected === '*') return true;
  if (Array.isArray(expected)) return false;
  if (received === expected) return true;
  const want = new Set(expected.split(',').map((t) => t.trim()));
  return received.split(',').some((t) => want.has(t.trim()));
}

/** Python tuple indexing of RETURN_TYPES by a link's slot. */
function returnTypeAt(node: NodeSchema, slot: unknown): string {
  const types = node.returnTypes;
  let index: number;
  if (typeof slot === 'boolean') index = slot ? 1 : 0;
  else if (typeof slot === 'number' && Number.isInteger(slot)) index = slot;
  else throw new PyError('TypeError', `tuple indices must be integers or slices, not ${pyTypeName(slot)}`);
  const actual = index < 0 ? types.length + index : index;
  if (actual < 0 || actual >= types.length) throw new PyError('IndexError', 'tuple index out of range');
  return types[actual]!;
}

/** Formats a number the way Python would print the value of an input of this type. */
function formatNumber(value: unknown, type: unknown): string {
  if (type === 'FLOAT' && typeof value === 'number') return pyFloatRepr(value);
  return pyStr(value);
}

function coerce(type: unknown, value: unknown): unknown {
  switch (type) {
    case 'INT':
      return pyInt(value);
    case 'FLOAT':
      return pyFloat(value);
    case 'STRING':
      return pyStr(value);
    case 'BOOLEAN':
      return pyTruthy(value);
    default:
      return value;
  }
}

class PromptValidator {
  private readonly validated = new Map<string, Verdict>();
  /** Nodes whose validation is on the stack; meeting one again is Python's runaway recursion. */
  private readonly active = new Set<string>();

  constructor(
    private readonly prompt: Record<string, unknown>,
    private readonly nodes: NodeCatalog,
  ) {}

  get verdicts(): Map<string, Verdict> {
    return this.validated;
  }

  setVerdict(id: string, verdict: Verdict): void {
    this.validated.set(id, verdict);
  }

  private node(id: string): Record<string, unknown> {
    return this.prompt[id] as Record<string, unknown>;
  }

  /** prompt[o_id] with Python's KeyError / TypeError for ids that are missing or unhashable. */
  private linkedNode(id: unknown): string {
    if (typeof id === 'string' && Object.hasOwn(this.prompt, id)) return id;
    if (Array.isArray(id) || isPlainObject(id)) throw new PyError('TypeError', `unhashable type: '${pyTypeName(id)}'`, LINK_TRACEBACK);
    throw new PyError('KeyError', pyRepr(id), LINK_TRACEBACK);
  }

  validate(id: string): Verdict {
    const memo = this.validated.get(id);
    if (memo) return memo;
    if (this.active.has(id)) throw new PyError('RecursionError', 'maximum recursion depth exceeded', LINK_TRACEBACK);
    this.active.add(id);
    try {
      const verdict = this.validateNode(id);
      this.validated.set(id, verdict);
      return verdict;
    } finally {
      this.active.delete(id);
    }
  }

  private validateNode(id: string): Verdict {
    const node = this.node(id);
    if (!('inputs' in node)) throw new PyError('KeyError', "'inputs'", OUTPUT_TRACEBACK);
    const rawInputs = node.inputs;
    if (rawInputs === null || typeof rawInputs !== 'object') {
      throw new PyError('TypeError', `argument of type '${pyTypeName(rawInputs)}' is not iterable`, OUTPUT_TRACEBACK);
    }
    // A list of inputs has no named members; treat it as empty rather than failing the request.
    const inputs: Record<string, unknown> = Array.isArray(rawInputs) ? {} : (rawInputs as Record<string, unknown>);
    const { schema: cls, validateInputs } = this.nodes.get(node.class_type)!;
    const types = cls.inputs;
    const names = [...new Set([...Object.keys(types.required), ...Object.keys(types.optional ?? {})])];
    const validateArgs = validateInputs?.args ?? [];
    const errors: ErrorReason[] = [];
    let valid = true;

    for (const name of names) {
      const info = inputInfo(types, name)!;
      const inputConfig = [info.type, info.options];
      if (!Object.hasOwn(inputs, name)) {
        if (info.category === 'required') {
          errors.push({
            type: 'required_input_missing',
            message: 'Required input is missing',
            details: name,
            extra_info: { input_name: name },
          });
        }
        continue;
      }
      let value = inputs[name];
      if (Array.isArray(value)) {
        if (value.length !== 2) {
          errors.push({
            type: 'bad_linked_input',
            message: 'Bad linked input, must be a length-2 list of [node_id, slot_index]',
            details: name,
            extra_info: { input_name: name, input_config: inputConfig, received_value: value },
          });
          continue;
        }
        const sourceId = this.linkedNode(value[0]);
        const sourceClass = this.nodes.get(this.node(sourceId).class_type)!.schema;
        const receivedType = returnTypeAt(sourceClass, value[1]);
        if (!typesMatch(receivedType, info.type)) {
          errors.push({
            type: 'return_type_mismatch',
            message: 'Return type mismatch between linked nodes',
            details: `${name}, received_type(${receivedType}) mismatch input_type(${pyStr(info.type)})`,
            extra_info: { input_name: name, input_config: inputConfig, received_type: receivedType, linked_node: value },
          });
          continue;
        }
        try {
          if (!this.validate(sourceId)[0]) valid = false;
        } catch (ex) {
          if (!(ex instanceof PyError)) throw ex;
          valid = false;
          this.validated.set(sourceId, [
            false,
            [
              {
                type: 'exception_during_inner_validation',
                message: 'Exception when validating inner node',
                details: ex.message,
                extra_info: {
                  input_name: name,
                  input_config: inputConfig,
                  exception_message: ex.message,
                  exception_type: ex.pyType,
                  traceback: ex.traceback,
                  linked_node: value,
                },
              },
            ],
          ]);
        }
        continue;
      }

      try {
        if (isPlainObject(value) && '__value__' in value) {
          value = value.__value__;
          inputs[name] = value;
        }
        value = coerce(info.type, value);
        inputs[name] = value;
      } catch (ex) {
        if (!(ex instanceof PyError)) throw ex;
        errors.push({
          type: 'invalid_input_type',
          message: `Failed to convert an input value to a ${pyStr(info.type)} value`,
          details: `${name}, ${pyStr(value)}, ${ex.message}`,
          extra_info: { input_name: name, input_config: inputConfig, received_value: value, exception_message: ex.message },
        });
        continue;
      }

      if (validateArgs.includes(name)) continue;
      const { min, max } = info.options;
      if (typeof min === 'number' && typeof value === 'number' && value < min) {
        errors.push({
          type: 'value_smaller_than_min',
          message: `Value ${formatNumber(value, info.type)} smaller than min of ${formatNumber(min, info.type)}`,
          details: name,
          extra_info: { input_name: name, input_config: inputConfig, received_value: value },
        });
        continue;
      }
      if (typeof max === 'number' && typeof value === 'number' && value > max) {
        errors.push({
          type: 'value_bigger_than_max',
          message: `Value ${formatNumber(value, info.type)} bigger than max of ${formatNumber(max, info.type)}`,
          details: name,
          extra_info: { input_name: name, input_config: inputConfig, received_value: value },
        });
        continue;
      }
      if (Array.isArray(info.type) && !info.type.includes(value as string)) {
        // Long combos (model lists) are summarised rather than echoed back.
        const long = info.type.length > 20;
        errors.push({
          type: 'value_not_in_list',
          message: 'Value not in list',
          details: `${name}: '${pyStr(value)}' not in ${long ? `(list of length ${info.type.length})` : pyRepr(info.type)}`,
          extra_info: { input_name: name, input_config: long ? null : inputConfig, received_value: value },
        });
        continue;
      }
    }

    if (validateInputs && validateArgs.length > 0) {
      const args: Record<string, unknown> = {};
      const missing: string[] = [];
      for (const arg of validateArgs) {
        if (Object.hasOwn(inputs, arg) && !Array.isArray(inputs[arg])) args[arg] = inputs[arg];
        else missing.push(arg);
      }
      if (missing.length > 0) {
        throw new PyError(
          'TypeError',
          `${cls.name}.VALIDATE_INPUTS() missing ${missing.length} required positional argument${missing.length > 1 ? 's' : ''}: ${missing.map((m) => `'${m}'`).join(' and ')}`,
          OUTPUT_TRACEBACK,
        );
      }
      const result = validateInputs.check(args);
      if (result !== true) {
        for (const arg of Object.keys(args)) {
          errors.push({
            type: 'custom_validation_failed',
            message: 'Custom validation failed for node',
            details: `${arg} - ${result}`,
            extra_info: { input_name: arg },
          });
        }
      }
    }

    return errors.length > 0 || !valid ? [false, errors] : [true, []];
  }
}

function isTarget(targets: unknown, id: string): boolean {
  if (targets === null || targets === undefined) return true;
  if (Array.isArray(targets)) return targets.includes(id);
  if (typeof targets === 'string') return targets.includes(id);
  if (isPlainObject(targets)) return Object.hasOwn(targets, id);
  throw new PyError('TypeError', `argument of type '${pyTypeName(targets)}' is not iterable`);
}

function invalidPrompt(message: string, id: string): ValidationOutcome {
  return {
    ok: false,
    error: { type: 'invalid_prompt', message, details: `Node ID '#${id}'`, extra_info: {} },
    outputs: [],
    nodeErrors: {},
  };
}

/**
 * Validates (and coerces in place) an API-format prompt against a backend's /object_info, whole
 * or looked up one class at a time; `validateInputs` adds the VALIDATE_INPUTS hooks it cannot
 * show. Throws only for input that would make ComfyUI itself answer 500.
 */
export function validatePrompt(
  prompt: Record<string, unknown>,
  partialTargets: unknown,
  objectInfo: ObjectInfo | ObjectInfoLookup,
  validateInputs: InputsHook = () => undefined,
): ValidationOutcome {
  const entry: ObjectInfoLookup =
    typeof objectInfo === 'function' ? objectInfo : (classType) => (Object.hasOwn(objectInfo, classType) ? objectInfo[classType] : undefined);
  const nodes = new NodeCatalog(entry, validateInputs);
  const outputs: string[] = [];
  for (const [id, node] of Object.entries(prompt)) {
    if (!isPlainObject(node) || !('class_type' in node)) {
      return invalidPrompt('Cannot execute because a node is missing the class_type property.', id);
    }
    const cls = nodes.get(node.class_type);
    if (!cls) return invalidPrompt(`Cannot execute because node ${pyStr(node.class_type)} does not exist.`, id);
    if (cls.schema.outputNode && isTarget(partialTargets, id)) outputs.push(id);
  }
  if (outputs.length === 0) {
    return {
      ok: false,
      error: { type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} },
      outputs: [],
      nodeErrors: {},
    };
  }

  const validator = new PromptValidator(prompt, nodes);
  const good: string[] = [];
  const failed: Array<[string, ErrorReason[]]> = [];
  const nodeErrors: Record<string, NodeErrorEntry> = {};
  for (const output of outputs) {
    let verdict: Verdict;
    try {
      verdict = validator.validate(output);
    } catch (ex) {
      if (!(ex instanceof PyError)) throw ex;
      verdict = [
        false,
        [
          {
            type: 'exception_during_validation',
            message: 'Exception when validating node',
            details: ex.message,
            extra_info: { exception_type: ex.pyType, traceback: ex.traceback },
          },
        ],
      ];
      validator.setVerdict(output, verdict);
    }
    if (verdict[0]) {
      good.push(output);
      continue;
    }
    failed.push([output, verdict[1]]);
    // Every node with its own reasons so far is charged to this output, as ComfyUI does.
    for (const [id, [valid, reasons]] of validator.verdicts) {
      if (valid || reasons.length === 0) continue;
      const entry = (nodeErrors[id] ??= {
        errors: reasons,
        dependent_outputs: [],
        class_type: String((prompt[id] as Record<string, unknown>).class_type),
      });
      entry.dependent_outputs.push(output);
    }
  }

  if (good.length === 0) {
    const details = failed.flatMap(([, reasons]) => reasons.map((r) => `${r.message}: ${r.details}`)).join('\n');
    return {
      ok: false,
      error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details, extra_info: {} },
      outputs: [],
      nodeErrors,
    };
  }
  return { ok: true, error: null, outputs: good, nodeErrors };
}
