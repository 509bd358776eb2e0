// Node classes as a ComfyUI backend describes them on GET /object_info, read into the shape its
// prompt validator looks at: each input's type and options, the output types, whether the node
// is an output.
import { isPlainObject } from './python.js';

/** /object_info as a backend answers it: class name → schema. */
export type ObjectInfo = Record<string, unknown>;

/** [TYPE] or [TYPE, options]; TYPE is a name or a list of combo choices, exactly as /object_info shows it. */
export type InputSpec = [string | string[]] | [string | string[], Record<string, unknown>];

export interface InputTypes {
  required: Record<string, InputSpec>;
  optional?: Record<string, InputSpec>;
  hidden?: Record<string, string>;
}

/** One node class as the validator reads it from its /object_info entry. */
export interface NodeSchema {
  readonly name: string;
  readonly outputNode: boolean;
  readonly returnTypes: readonly string[];
  readonly inputs: InputTypes;
}

export interface InputInfo {
  type: string | string[];
  category: 'required' | 'optional';
  options: Record<string, unknown>;
  spec: InputSpec;
}

/** [TYPE, options] with newer servers' ["COMBO", {options: [...]}] turned into the classic [[...], options]. */
export function normaliseSpec(spec: unknown): InputSpec | undefined {
  if (!Array.isArray(spec) || spec.length === 0) return undefined;
  const [type, options] = spec as [unknown, unknown];
  const opts = isPlainObject(options) ? options : {};
  if (type === 'COMBO' && Array.isArray(opts.options)) return [opts.options as string[], opts];
  if (typeof type === 'string' || Array.isArray(type)) return [type as string | string[], opts];
  return undefined;
}

function specs(section: unknown): Record<string, InputSpec> {
  const out: Record<string, InputSpec> = {};
  if (!isPlainObject(section)) return out;
  for (const [name, spec] of Object.entries(section)) {
    const normal = normaliseSpec(spec);
    if (normal) out[name] = normal;
  }
  return out;
}

/** The schema of one class from its /object_info entry; undefined when the entry is not a schema. */
export function nodeSchema(name: string, entry: unknown): NodeSchema | undefined {
  if (!isPlainObject(entry)) return undefined;
  const input = isPlainObject(entry.input) ? entry.input : {};
  return {
    name,
    outputNode: entry.output_node === true,
    // A list here is a combo output; it links to anything, like "*".
    returnTypes: Array.isArray(entry.output) ? entry.output.map((t) => (typeof t === 'string' ? t : '*')) : [],
    inputs: { required: specs(input.required), optional: specs(input.optional) },
  };
}

/** get_input_info: the declared type, category and options of one input. */
export function inputInfo(types: InputTypes, name: string): InputInfo | null {
  for (const category of ['required', 'optional'] as const) {
    const spec = types[category]?.[name];
    if (spec) return { type: spec[0], category, options: spec[1] ?? {}, spec };
  }
  return null;
}

/** What kind of file an upload combo takes (LoadImage: image), from its `*_upload` option. */
export function uploadKind(options: Record<string, unknown>): string | undefined {
  for (const [key, value] of Object.entries(options)) {
    if (value === true && key.endsWith('_upload')) return key.slice(0, -'_upload'.length);
  }
  if (typeof options.upload === 'string') return options.upload;
  return undefined;
}
