// The ComfyUI API-format workflow (the "prompt" of POST /prompt): node id → node.

export interface NodeMeta {
  title?: string;
  /** Comma-separated names of this node's inputs that users may set. */
  apiinput?: string;
  [key: string]: unknown;
}

export interface PromptNode {
  class_type: string;
  inputs: Record<string, unknown>;
  _meta?: NodeMeta;
  [key: string]: unknown;
}

export type PromptGraph = Record<string, PromptNode>;

export type GraphReading = { ok: true; graph: PromptGraph } | { ok: false; problems: string[] };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A link `[sourceNodeId, outputIndex]` feeds an input from another node's output. */
export function isLink(value: unknown): value is [string, number] {
  return Array.isArray(value) && value.length === 2 && typeof value[0] === 'string' && typeof value[1] === 'number';
}

/**
 * Checks the shape ComfyUI itself requires of every node, so that a broken file
 * fails at start-up instead of on every submission.
 */
export function readGraph(value: unknown): GraphReading {
  if (!isPlainObject(value)) {
    return { ok: false, problems: ['must be a JSON object of nodes in ComfyUI API format (use "Export (API)")'] };
  }
  const ids = Object.keys(value);
  if (ids.length === 0) return { ok: false, problems: ['has no nodes'] };
  const problems: string[] = [];
  for (const id of ids) {
    const node = value[id];
    if (!isPlainObject(node)) {
      problems.push(`node ${id} must be an object with class_type and inputs`);
      continue;
    }
    if (typeof node.class_type !== 'string' || node.class_type === '') {
      problems.push(`node ${id} has no class_type (is this a UI-format workflow? export it with "Export (API)")`);
    }
    if (!isPlainObject(node.inputs)) problems.push(`node ${id} must have an "inputs" object`);
    if (node._meta !== undefined) {
      if (!isPlainObject(node._meta)) problems.push(`node ${id}: _meta must be an object`);
      else if (node._meta.title !== undefined && typeof node._meta.title !== 'string') {
        problems.push(`node ${id}: _meta.title must be a string`);
      }
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, graph: value as PromptGraph };
}
