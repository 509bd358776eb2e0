// How this door says no. Where ComfyUI has an error shape (POST /prompt's
// {"error": {...}, "node_errors": {...}}) it is used; where ComfyUI answers with a bare status
// (/view, /upload), the status is kept and the body is a one-line reason.
import { STATUS_CODES } from 'node:http';
import { errorMiddleware, refusalOf } from '../http/errors.js';
import { missingByNode } from '../scheduler/capabilities.js';
import type { Missing } from '../scheduler/capabilities.js';

export interface ErrorInfo {
  type: string;
  message: string;
  details: string;
  extra_info: Record<string, unknown>;
}

export interface ErrorBody {
  error: ErrorInfo;
  node_errors: Record<string, unknown>;
}

export function errorBody(type: string, message: string, details = '', nodeErrors: Record<string, unknown> = {}): ErrorBody {
  return { error: { type, message, details, extra_info: {} }, node_errors: nodeErrors };
}

/** A refusal with its status and body; thrown by routes, answered by `compatErrors`. */
export class CompatError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody | string,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body === 'string' ? body : body.error.message);
  }
}

/**
 * POST /prompt's answer when no backend can run the prompt, in ComfyUI's validation shape: each
 * node whose class or model file no backend that could run the rest has gets a node error
 * (a model as ComfyUI's own `value_not_in_list`).
 */
export function unrunnableBody(detail: string, problems: readonly string[], missing: Missing | undefined): ErrorBody {
  const nodeErrors: Record<string, unknown> = {};
  for (const [node, items] of missing ? missingByNode(missing) : []) {
    nodeErrors[node] = {
      class_type: items[0].classType,
      dependent_outputs: [],
      errors: items.map((item) =>
        item.nodeClass
          ? { type: 'node_unavailable', message: `No backend that could run this prompt has node class ${item.classType}`, details: item.classType, extra_info: {} }
          : { type: 'value_not_in_list', message: 'Value not in list', details: `${item.input}: '${item.file}' is on no backend that could run this prompt`, extra_info: { input_name: item.input, received_value: item.file } },
      ),
    };
  }
  const body = errorBody('prompt_unrunnable', 'No backend can run this prompt', problems.join('\n') || detail, nodeErrors);
  if (missing) body.error.extra_info = { missing };
  return body;
}

/** A bare status with a short plain-text reason (ComfyUI itself sends these empty). */
export function plain(status: number, reason: string): CompatError {
  return new CompatError(status, reason);
}

/** The engine's codes this door names as they are (ComfyUI has none for them). */
const ENGINE_TYPES = new Set(['invalid_priority', 'key_limit']);

/** Type names for statuses the engine or middleware raise. */
function typeOf(status: number, err?: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && ENGINE_TYPES.has(code)) return code;
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 408) return 'request_timeout';
  if (status === 413) return 'request_too_large';
  if (status === 429 || status === 503) return 'queue_full';
  return 'bad_request';
}

/** The body of a refusal: CompatError's own, else ComfyUI's {"error", "node_errors"}; unknown paths as aiohttp says them. */
export function compatShape(status: number, message: string, err: unknown): unknown {
  if (err instanceof CompatError) return err.body;
  if (err === undefined) return `${status}: ${STATUS_CODES[status] ?? 'Error'}`;
  if (refusalOf(err) === undefined) return errorBody('server_error', message);
  return errorBody(typeOf(status, err), message);
}

export const compatErrors = errorMiddleware(compatShape);
