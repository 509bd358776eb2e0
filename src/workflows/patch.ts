// Produces the graph sent to ComfyUI; the catalog's graphs are shared and never changed.

import type { PromptGraph } from './graph.js';
import { splitInputKey } from './inputs.js';

/** A copy of the graph with checked values ("6/text" → value) set on their nodes. */
export function patchWorkflow(graph: PromptGraph, values: Readonly<Record<string, unknown>>): PromptGraph {
  const patched = structuredClone(graph);
  for (const [key, value] of Object.entries(values)) {
    const target = splitInputKey(key);
    const node = target && Object.hasOwn(patched, target.nodeId) ? patched[target.nodeId] : undefined;
    // Values come from checkSubmission, so a miss means a caller bug, not bad client input.
    if (target === undefined || node === undefined || !Object.hasOwn(node.inputs, target.input)) {
      throw new Error(`cannot patch "${key}": the workflow has no such node input`);
    }
    node.inputs[target.input] = value;
  }
  return patched;
}

/**
 * A copy of the graph in which every input whose value is a string found in the
 * mapping gets the mapped string instead, e.g. an upload's bridge name → the name
 * a backend stored it under.
 */
export function replaceInputValues(graph: PromptGraph, mapping: Readonly<Record<string, string>>): PromptGraph {
  const replaced = structuredClone(graph);
  for (const node of Object.values(replaced)) {
    for (const [input, value] of Object.entries(node.inputs)) {
      if (typeof value === 'string' && Object.hasOwn(mapping, value)) node.inputs[input] = mapping[value];
    }
  }
  return replaced;
}
