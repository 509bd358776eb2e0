// Checking a prompt before it is queued, as ComfyUI does during POST /prompt, against a backend's
// /object_info. The checks are ComfyUI's validate_prompt (src/comfy); this module adds what
// /object_info cannot show: the file checks of upload combos.
import { validatePrompt } from '../comfy/validation.js';
import type { ErrorReason, InputsHook, ValidationOutcome } from '../comfy/validation.js';
import { uploadKind } from '../comfy/object-info.js';
import type { ObjectInfo } from '../comfy/object-info.js';
import { isPlainObject } from '../workflows/graph.js';

export type { ValidationOutcome, ObjectInfo };
export { normaliseSpec } from '../comfy/object-info.js';

/**
 * A value an upload combo may take although the backend's list lacks it: a file this door stores
 * (it is sent along at dispatch), or a path or annotated name the list cannot show.
 */
export type StoredInput = (value: string) => boolean;

/**
 * Upload combos (LoadImage's image) are checked by the node's own VALIDATE_INPUTS in ComfyUI:
 * the file must exist, wherever it came from; the list is only what the widget offers.
 */
function uploadChecks(stored: StoredInput): InputsHook {
  return (schema) => {
    const uploads = Object.entries({ ...schema.inputs.optional, ...schema.inputs.required }).filter(
      ([, spec]) => Array.isArray(spec[0]) && uploadKind(spec[1] ?? {}) !== undefined,
    );
    if (uploads.length === 0) return undefined;
    return {
      args: uploads.map(([name]) => name),
      check: (args) => {
        for (const [arg, spec] of uploads) {
          if (!(arg in args)) continue;
          const value = String(args[arg]);
          const listed = (spec[0] as unknown[]).includes(value);
          const unlisted = value.includes('/') || /\[(input|output|temp)\]$/.test(value);
          if (!listed && !unlisted && !stored(value)) return `Invalid ${uploadKind(spec[1] ?? {})} file: ${value}`;
        }
        return true;
      },
    };
  };
}

/**
 * ComfyUI's verdict on a prompt: ok with the outputs that will run (and node_errors for those that
 * will not), or the error POST /prompt answers with 400. Coerces literal inputs in place, as
 * ComfyUI does, so pass a copy.
 */
export function checkPrompt(prompt: Record<string, unknown>, targets: unknown, info: ObjectInfo, stored: StoredInput): ValidationOutcome {
  try {
    return validatePrompt(prompt, targets, info, uploadChecks(stored));
  } catch (err) {
    // ComfyUI answers 500 here (e.g. partial_execution_targets of the wrong type); a 400 says why.
    const reason: ErrorReason = { type: 'invalid_prompt', message: 'Invalid prompt', details: (err as Error).message, extra_info: {} };
    return { ok: false, error: reason, outputs: [], nodeErrors: {} };
  }
}

/** Ids of the output nodes of a prompt, in prompt order. */
export function outputNodes(prompt: Record<string, unknown>, info: ObjectInfo): string[] {
  return Object.entries(prompt)
    .filter(([, node]) => isPlainObject(node) && typeof node.class_type === 'string' && isPlainObject(info[node.class_type]) && (info[node.class_type] as { output_node?: unknown }).output_node === true)
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
    if (!isPlainObject(node) || !isPlainObject(node.inputs)) continue;
    for (const value of Object.values(node.inputs)) {
      const source = linkedId(value);
      if (source !== undefined && !keep.has(source)) frontier.push(source);
    }
  }
  return Object.fromEntries(Object.entries(prompt).filter(([id]) => keep.has(id))) as T;
}
