// One curated workflow: its graph and the inputs users may set.

import { readGraph } from './graph.js';
import type { PromptGraph } from './graph.js';
import { exposedInputs } from './inputs.js';
import type { ExposedInput } from './inputs.js';

export interface Workflow {
  /** The name clients use; the file name for a file no alias names. */
  alias: string;
  /** Path of the file relative to the workflow folder. */
  file: string;
  graph: PromptGraph;
  inputs: ExposedInput[];
}

export type WorkflowReading = { ok: true; workflow: Workflow } | { ok: false; problems: string[] };

/** How problems name a workflow, so an admin can find both the alias and the file. */
export function workflowLabel(alias: string, file: string): string {
  return alias === file ? `workflow file "${file}"` : `workflow "${alias}" (file "${file}")`;
}

/** Builds a workflow from a parsed JSON file; problems name the workflow and node. */
export function buildWorkflow(alias: string, file: string, json: unknown): WorkflowReading {
  const label = workflowLabel(alias, file);
  const graph = readGraph(json);
  if (!graph.ok) return { ok: false, problems: graph.problems.map((problem) => `${label}: ${problem}`) };
  const inputs = exposedInputs(graph.graph);
  if (!inputs.ok) return { ok: false, problems: inputs.problems.map((problem) => `${label}: ${problem}`) };
  return { ok: true, workflow: { alias, file, graph: graph.graph, inputs: inputs.inputs } };
}
