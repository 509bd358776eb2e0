// Checking a prompt before it is queued, as ComfyUI does during POST /prompt, against a backend's
// /object_info. The checks themselves are the simulator's faithful port of ComfyUI's
// validate_prompt; this module feeds it node classes described by /object_info instead of the
// simulator's own nodes.
import { validatePrompt } from '../sim/validation.js';
import type { ErrorReason, ValidationOutcome } from '../sim/validation.js';
import { NodeRegistry } from '../sim/nodes/registry.js';
import type { InputSpec, InputTypes, NodeClass, NodeEnv } from '../sim/nodes/types.js';
import { FileStore } from '../sim/files.js';
import { isObject } from './request-body.js';

export type { ValidationOutcome };

/** /object_info as a backend answers it: class name → schema. */
export type ObjectInfo = Record<string, unknown>;

/** Validation never looks at files or models on this side; the schemas carry the model lists. */
const NO_ENV: NodeEnv = { checkpoints: [], files: new FileStore() };

/** [TYPE, options] with newer servers' ["COMBO", {options: [...]}] turned into the classic [[...], options]. */
export function normaliseSpec(spec: unknown): InputSpec | undefined {
  if (!Array.isArray(spec) || spec.length === 0) return undefined;
  const [type, options] = spec as [unknown, unknown];
  const opts = isObject(options) ? options : {};
  if (type === 'COMBO' && Array.isArray(opts.options)) return [opts.options as string[], opts];
  if (typeof type === 'string' || Array.isArray(type)) return [type as string | string[], opts];
  return undefined;
}

function specs(section: unknown): Record<string, InputSpec> {
  const out: Record<string, InputSpec> = {};
  if (!isObject(section)) return out;
  for (const [name, spec] of Object.entries(section)) {
    const normal = normaliseSpec(spec);
    if (normal) out[name] = normal;
  }
  return out;
}

/** What kind of file an upload combo takes (LoadImage: image), from its `*_upload` option. */
function uploadKind(options: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(options)) {
    if (value === true && key.endsWith('_upload')) return key.slice(0, -'_upload'.length);
  }
  if (typeof options.upload === 'string') return options.upload;
  return undefined;
}

/**
 * A value an upload combo may take although the backend's list lacks it: a file this door stores
 * (it is sent along at dispatch), or a path or annotated name the list cannot show.
 */
export type StoredInput = (value: string) => boolean;

/** One node class as /object_info describes it, in the shape the validator reads. */
function schemaClass(name: string, schema: unknown, stored: StoredInput): NodeClass | undefined {
  if (!isObject(schema)) return undefined;
  const input = isObject(schema.input) ? schema.input : {};
  const types: InputTypes = { required: specs(input.required), optional: specs(input.optional) };
  // Upload combos (LoadImage's image) are checked by the node's own VALIDATE_INPUTS in ComfyUI:
  // the file must exist, wherever it came from; the list is only what the widget offers.
  const uploads = Object.entries({ ...types.optional, ...types.required }).filter(
    ([, spec]) => Array.isArray(spec[0]) && uploadKind(spec[1] ?? {}) !== undefined,
  );
  const validateArgs = uploads.map(([n]) => n);
  return {
    name,
    displayName: typeof schema.display_name === 'string' ? schema.display_name : name,
    description: '',
    category: typeof schema.category === 'string' ? schema.category : '',
    pythonModule: typeof schema.python_module === 'string' ? schema.python_module : '',
    outputNode: schema.output_node === true,
    returnTypes: Array.isArray(schema.output) ? schema.output.map((t) => (typeof t === 'string' ? t : '*')) : [],
    inputTypes: () => types,
    validateArgs,
    validateInputs:
      validateArgs.length === 0
        ? undefined
        : (args) => {
            for (const [arg, spec] of uploads) {
              if (!(arg in args)) continue;
              const value = String(args[arg]);
              const listed = (spec[0] as unknown[]).includes(value);
              const unlisted = value.includes('/') || /\[(input|output|temp)\]$/.test(value);
              if (!listed && !unlisted && !stored(value)) return `Invalid ${uploadKind(spec[1] ?? {})} file: ${value}`;
            }
            return true;
          },
    run: () => Promise.reject(new Error(`${name} runs on a backend, not here`)),
  };
}

/** The node classes of one /object_info snapshot. */
class SchemaRegistry extends NodeRegistry {
  private readonly built = new Map<string, NodeClass | undefined>();

  constructor(
    private readonly info: ObjectInfo,
    private readonly stored: StoredInput,
  ) {
    super();
  }

  override get(name: unknown): NodeClass | undefined {
    if (typeof name !== 'string' || !Object.hasOwn(this.info, name)) return undefined;
    if (!this.built.has(name)) this.built.set(name, schemaClass(name, this.info[name], this.stored));
    return this.built.get(name);
  }

  override names(): string[] {
    return Object.keys(this.info);
  }
}

/**
 * ComfyUI's verdict on a prompt: ok with the outputs that will run (and node_errors for those that
 * will not), or the error POST /prompt answers with 400. Coerces literal inputs in place, as
 * ComfyUI does, so pass a copy.
 */
export function checkPrompt(prompt: Record<string, unknown>, targets: unknown, info: ObjectInfo, stored: StoredInput): ValidationOutcome {
  try {
    return validatePrompt(prompt, targets, new SchemaRegistry(info, stored), NO_ENV);
  } catch (err) {
    // ComfyUI answers 500 here (e.g. partial_execution_targets of the wrong type); a 400 says why.
    const reason: ErrorReason = { type: 'invalid_prompt', message: 'Invalid prompt', details: (err as Error).message, extra_info: {} };
    return { ok: false, error: reason, outputs: [], nodeErrors: {} };
  }
}

/** Ids of the output nodes of a prompt, in prompt order. */
export function outputNodes(prompt: Record<string, unknown>, info: ObjectInfo): string[] {
  return Object.entries(prompt)
    .filter(([, node]) => isObject(node) && typeof node.class_type === 'string' && isObject(info[node.class_type]) && (info[node.class_type] as { output_node?: unknown }).output_node === true)
    .map(([id]) => id);
}

/** A link input: [source node id, output slot]. */
function linkedId(value: unknown): string | undefined {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' ? value[0] : undefined;
}

/**
 * The part of a prompt that the given outputs need: they and everything they link to. A backend
 * runs every valid output node it is sent, so a prompt with outputs left out (rejected, or not in
 * partial_execution_targets) is sent without them.
 */
export function restrictToOutputs<T extends Record<string, unknown>>(prompt: T, outputs: readonly string[]): T {
  const keep = new Set<string>();
  const frontier = [...outputs];
  while (frontier.length) {
    const id = frontier.pop()!;
    if (keep.has(id) || !Object.hasOwn(prompt, id)) continue;
    keep.add(id);
    const node = prompt[id];
    if (!isObject(node) || !isObject(node.inputs)) continue;
    for (const value of Object.values(node.inputs)) {
      const source = linkedId(value);
      if (source !== undefined && !keep.has(source)) frontier.push(source);
    }
  }
  return Object.fromEntries(Object.entries(prompt).filter(([id]) => keep.has(id))) as T;
}
