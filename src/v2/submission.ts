// Reading a request to run a graph (POST /api/v2/jobs) and checking the graph before anything is
// recorded: the body's fields, a UI-format export sent by mistake, the ComfyUI door's limits on a
// graph's strings, and ComfyUI's own validation against the pool's /object_info. Every problem is
// a 422 whose details a program can act on, per node where there is a node to name.
import { graphLimits, hasProblems } from '../comfy/graph-limits.js';
import type { ErrorReason } from '../comfy/validation.js';
import type { ComfyPrompt } from '../comfy/protocol.js';
import { checkPrompt, outputNodes, restrictToOutputs } from '../compat/validation.js';
import type { ObjectInfo, StoredInput } from '../compat/validation.js';
import { isPlainObject } from '../workflows/graph.js';
import { V2Error } from './errors.js';
import { z } from 'zod';
import { UI_FORMAT, UI_FORMAT_MESSAGE, isUiExport } from './openapi.js';

/** Fields the spec reserves for later: refused while nothing here reads them. */
export const RESERVED_FIELDS: readonly string[] = ['webhook_url', 'inputs'];

/** One problem of one node, as the details of invalid_workflow list it. */
export interface NodeProblemView {
  /** The input it is about, when there is one. */
  field: string | null;
  /** ComfyUI's error type: required_input_missing, value_not_in_list, value_too_long, … */
  reason: string;
  message: string;
  detail: string;
  class_type: string;
}

/** The code of a refused field: the door's table, else the request's. */
const FIELD_CODES: Record<string, string> = { workflow: 'invalid_workflow', inputs: 'invalid_inputs', priority: 'invalid_priority' };

/**
 * A body checked against its schema from the OpenAPI document (with the fields extensions read).
 * Not an object: 400 invalid_request. Else every problem in one 422: its code is the first
 * problem's (a UI-format export is workflow_format_ui; a field nobody reads, `unknownCode`), and
 * details list the problems, the first field refused, and the fields nobody reads.
 */
export function readEnvelope<S extends z.ZodObject>(schema: S, body: unknown, unknownCode: string): z.output<S> {
  // A UI-format export sent as the whole body.
  if (isPlainObject(body) && !('workflow' in body) && 'workflow' in schema.shape && isUiExport(body)) throw new V2Error(422, UI_FORMAT.code, UI_FORMAT_MESSAGE);
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const root = issues.find((i) => i.path.length === 0 && i.code === 'invalid_type');
  if (root) throw new V2Error(400, 'invalid_request', root.message);
  const problems: string[] = [];
  const fields: string[] = [];
  const reserved: string[] = [];
  let code: string | undefined;
  let field: string | undefined;
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const extra = issue.keys;
      fields.push(...extra.slice(0, 10));
      const held = extra.filter((k) => RESERVED_FIELDS.includes(k));
      const unknown = extra.filter((k) => !RESERVED_FIELDS.includes(k));
      reserved.push(...held);
      if (held.length) problems.push(`${held.map((k) => `"${k}"`).join(' and ')} ${held.length > 1 ? 'are' : 'is'} reserved for a later version of this API and not accepted yet`);
      if (unknown.length) {
        const shown = unknown.slice(0, 10).map((k) => JSON.stringify(k.slice(0, 100)));
        problems.push(`unknown field${unknown.length > 1 ? 's' : ''} ${shown.join(', ')}: this request takes ${Object.keys(schema.shape).map((k) => `"${k}"`).join(', ')}`);
      }
      code ??= unknownCode;
      continue;
    }
    const name = String(issue.path[0]);
    problems.push(issue.message);
    const own = issue.code === 'custom' ? (issue.params as { code?: string } | undefined)?.code : undefined;
    code ??= own ?? FIELD_CODES[name] ?? 'invalid_request';
    field ??= name;
  }
  const unique = [...new Set(problems)];
  throw new V2Error(422, code ?? 'invalid_request', unique.join('; '), { problems: unique, ...(field && { field }), ...(fields.length && { fields }), ...(reserved.length && { reserved }) });
}

/** The schema with the fields extensions read added (each extension checks its own). */
export function withFields<S extends z.ZodObject>(schema: S, fields: readonly string[]): S {
  const extra = fields.filter((f) => !(f in schema.shape));
  return extra.length ? (schema.extend(Object.fromEntries(extra.map((f) => [f, z.unknown().optional()]))) as unknown as S) : schema;
}

/** ComfyUI's node_errors, and the graph limits' report in the same shape. */
type NodeErrors = Record<string, { errors: readonly Pick<ErrorReason, 'type' | 'message' | 'details' | 'extra_info'>[]; class_type: string }>;

function problemsOfNodes(entries: NodeErrors) {
  const nodes: Record<string, NodeProblemView[]> = {};
  for (const [id, entry] of Object.entries(entries)) {
    nodes[id] = entry.errors.map((e) => {
      const input = (e.extra_info as { input_name?: unknown } | undefined)?.input_name;
      return {
        field: typeof input === 'string' ? input : null,
        reason: e.type,
        message: e.message,
        detail: e.details,
        class_type: entry.class_type,
      };
    });
  }
  return nodes;
}

/** "Node 12 (KSampler): Required input is missing: model" for the first problem, and how many more. */
function summary(nodes: Record<string, NodeProblemView[]>, fallback: string): string {
  const all = Object.entries(nodes).flatMap(([id, list]) => list.map((p) => ({ id, p })));
  if (all.length === 0) return fallback;
  const { id, p } = all[0];
  const what = p.detail && p.detail !== p.field ? `${p.message}: ${p.detail}` : p.field ? `${p.message}: ${p.field}` : p.message;
  const more = all.length > 1 ? ` (and ${all.length - 1} more problem${all.length > 2 ? 's' : ''})` : '';
  return `Node ${id} (${p.class_type}): ${what}${more}`;
}

/** The ComfyUI door's caps on a graph's strings (file names, prompt texts). */
export function checkGraphLimits(workflow: Record<string, unknown>): void {
  const report = graphLimits({ prompt: workflow });
  if (!hasProblems(report)) return;
  const nodes = problemsOfNodes(report.nodeErrors);
  throw new V2Error(422, 'invalid_workflow', summary(nodes, report.problems[0] ?? 'the workflow is too large'), {
    node_errors: nodes,
    ...(report.problems.length && { problems: report.problems }),
  });
}

/**
 * Check the graph as ComfyUI would on POST /prompt, against the pool's /object_info (without it,
 * only its shape: the backend that takes the job has the last word). Answers the graph to run:
 * coerced as ComfyUI coerces it, and without output nodes that would not run.
 */
export function checkGraph(workflow: Record<string, unknown>, info: ObjectInfo | undefined, stored: StoredInput): ComfyPrompt {
  const prompt = structuredClone(workflow);
  if (!info) {
    shapeOf(prompt);
    return prompt as ComfyPrompt;
  }
  const outcome = checkPrompt(prompt, null, info, stored);
  if (!outcome.ok) {
    const nodes = problemsOfNodes(outcome.nodeErrors);
    const error = outcome.error;
    // A problem of the graph as a whole that ComfyUI ties to one node (a missing or unknown class).
    const named = error?.type === 'invalid_prompt' ? /^Node ID '#(.*)'$/s.exec(error.details)?.[1] : undefined;
    if (error && named !== undefined && Object.hasOwn(prompt, named)) {
      const node = prompt[named];
      const classType = isPlainObject(node) && typeof node.class_type === 'string' ? node.class_type : '';
      nodes[named] = [{ field: null, reason: error.type, message: error.message, detail: '', class_type: classType }];
    }
    const fallback = error ? `${error.message}${error.details ? `: ${error.details}` : ''}` : 'the workflow failed validation';
    throw new V2Error(422, 'invalid_workflow', summary(nodes, fallback), {
      node_errors: nodes,
      ...(error && { reason: error.type }),
    });
  }
  // Backends run every valid output they are sent: leave out those that would fail.
  const restricted = outcome.outputs.length < outputNodes(prompt, info).length ? restrictToOutputs(prompt, outcome.outputs) : prompt;
  shapeOf(restricted);
  return restricted as ComfyPrompt;
}

/** Every node is {"class_type": string, "inputs": object}, and there is one. */
function shapeOf(prompt: Record<string, unknown>): void {
  if (Object.keys(prompt).length === 0) throw new V2Error(422, 'invalid_workflow', 'the workflow has no nodes', { node_errors: {} });
  for (const [id, node] of Object.entries(prompt)) {
    if (!isPlainObject(node) || typeof node.class_type !== 'string') {
      throw new V2Error(422, 'invalid_workflow', `Node ${id.slice(0, 64)}: "class_type" is missing`, { node_errors: { [id]: [{ field: null, reason: 'missing_class_type', message: 'class_type is missing', detail: '', class_type: '' }] } });
    }
    if (!isPlainObject(node.inputs)) {
      throw new V2Error(422, 'invalid_workflow', `Node ${id.slice(0, 64)} (${node.class_type.slice(0, 64)}): "inputs" must be an object`, {
        node_errors: { [id]: [{ field: null, reason: 'invalid_inputs', message: 'inputs must be an object', detail: '', class_type: node.class_type }] },
      });
    }
  }
}
