// Length caps on the strings of a POST /prompt body, checked before anything else reads it.
// ComfyUI turns some strings into file names and prefixes (filename_prefix, checkpoint, LoRA and
// image names); a 90 MB filename_prefix would be copied into every history entry and path. Every
// problem is reported at once.
import { isPlainObject } from './python.js';

/** A string ComfyUI uses as a file or model name, or a file name prefix. */
export const MAX_NAME_CHARS = 1024;
/** Any other string (prompt text, say). */
export const MAX_STRING_CHARS = 64 * 1024;
/** A client_id, the same rule as on /ws. */
export const MAX_CLIENT_ID_CHARS = 256;
/** Problems beyond this many are summarised, so the answer stays small. */
const MAX_REPORTED = 50;

/** Input names whose value is a file or model name (ckpt_name, lora_name, vae_name, …) or a prefix. */
export function isNameInput(input: string): boolean {
  return /(^|_)name$/.test(input) || /^(filename_prefix|image|mask|audio|video|file|filename|model|ckpt|lora|vae|unet|clip)$/.test(input);
}

export interface NodeProblem {
  type: string;
  message: string;
  details: string;
  extra_info: { input_name: string };
}

export interface GraphLimitReport {
  /** Problems outside a node (client_id, extra_data), one line each. */
  problems: string[];
  /** Per node id, in ComfyUI's node_errors shape. */
  nodeErrors: Record<string, { errors: NodeProblem[]; dependent_outputs: string[]; class_type: string }>;
}

/** Every string over MAX_STRING_CHARS anywhere in `value`, walked without recursion. */
function longStrings(value: unknown, root: string, found: (path: string, length: number) => void): void {
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > MAX_STRING_CHARS) found(path, v.length);
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => stack.push([item, `${path}[${i}]`]));
    } else if (isPlainObject(v)) {
      for (const [k, item] of Object.entries(v)) {
        if (k.length > MAX_NAME_CHARS) found(`${path} key`, k.length);
        stack.push([item, `${path}.${k.slice(0, 64)}`]);
      }
    }
  }
}

/** The length problems of a POST /prompt body; empty lists when there are none. */
export function graphLimits(body: unknown): GraphLimitReport {
  const report: GraphLimitReport = { problems: [], nodeErrors: {} };
  if (!isPlainObject(body)) return report;
  let count = 0;
  const note = (line: string) => {
    if (++count <= MAX_REPORTED) report.problems.push(line);
  };
  const clientIds: [string, unknown][] = [['client_id', body.client_id]];
  if (isPlainObject(body.extra_data)) clientIds.push(['extra_data.client_id', body.extra_data.client_id]);
  for (const [where, id] of clientIds) {
    if (typeof id === 'string' && id.length > MAX_CLIENT_ID_CHARS) note(`${where} is ${id.length} characters long; at most ${MAX_CLIENT_ID_CHARS} are allowed`);
  }

  const prompt = isPlainObject(body.prompt) ? body.prompt : {};
  const nodeProblem = (id: string, node: Record<string, unknown>, input: string, length: number, max: number) => {
    if (++count > MAX_REPORTED) return;
    const entry = (report.nodeErrors[id.slice(0, MAX_NAME_CHARS)] ??= {
      errors: [],
      dependent_outputs: [],
      class_type: typeof node.class_type === 'string' ? node.class_type.slice(0, MAX_NAME_CHARS) : '',
    });
    entry.errors.push({
      type: 'value_too_long',
      message: 'Value too long',
      details: `${input}: ${length} characters; at most ${max} are allowed`,
      extra_info: { input_name: input.slice(0, MAX_NAME_CHARS) },
    });
  };
  for (const [id, node] of Object.entries(prompt)) {
    if (id.length > MAX_NAME_CHARS) note(`a node id is ${id.length} characters long; at most ${MAX_NAME_CHARS} are allowed`);
    if (!isPlainObject(node)) continue;
    const inputs = isPlainObject(node.inputs) ? node.inputs : {};
    for (const [input, value] of Object.entries(inputs)) {
      if (typeof value !== 'string') continue;
      const max = isNameInput(input) ? MAX_NAME_CHARS : MAX_STRING_CHARS;
      if (value.length > max) nodeProblem(id, node, input, value.length, max);
    }
    if (typeof node.class_type === 'string' && node.class_type.length > MAX_NAME_CHARS) {
      note(`node ${id.slice(0, 64)}: class_type is ${node.class_type.length} characters long; at most ${MAX_NAME_CHARS} are allowed`);
    }
  }
  // Strings elsewhere (extra_data, a node's _meta, nested values) get the general cap.
  const rest = { ...body, prompt: undefined };
  longStrings(rest, 'body', (path, length) => note(`${path} is ${length} characters long; at most ${MAX_STRING_CHARS} are allowed`));
  for (const [id, node] of Object.entries(prompt)) {
    if (!isPlainObject(node)) continue;
    const { inputs, ...others } = node;
    longStrings(others, `prompt.${id.slice(0, 64)}`, (path, length) => note(`${path} is ${length} characters long; at most ${MAX_STRING_CHARS} are allowed`));
    if (isPlainObject(inputs)) {
      for (const [input, value] of Object.entries(inputs)) {
        if (typeof value !== 'string') longStrings(value, `prompt.${id.slice(0, 64)}.inputs.${input.slice(0, 64)}`, (path, length) => note(`${path} is ${length} characters long; at most ${MAX_STRING_CHARS} are allowed`));
        if (input.length > MAX_NAME_CHARS) note(`node ${id.slice(0, 64)}: an input name is ${input.length} characters long; at most ${MAX_NAME_CHARS} are allowed`);
      }
    }
  }
  if (count > MAX_REPORTED) report.problems.push(`… and ${count - MAX_REPORTED} more`);
  return report;
}

export function hasProblems(report: GraphLimitReport): boolean {
  return report.problems.length > 0 || Object.keys(report.nodeErrors).length > 0;
}
