// How the v2 API says no: every refusal under /api/v2 is the spec's ErrorEnvelope,
// {"error": {"code", "message", "details"?}}, with a machine-readable code. Refusals thrown here
// are V2Errors; the engine's ClientErrors and http-errors (body limits, 401) get a code from what
// they are.
import type { Context } from 'koa';
import { errorMiddleware, refusalOf } from '../http/errors.js';
import { missingByNode } from '../scheduler/capabilities.js';
import type { Missing } from '../scheduler/capabilities.js';

export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

/** A refusal of this API: status, code, message, and details for a program to act on. */
export class V2Error extends Error {
  readonly expose = true;

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** The code of a refusal that does not name one, by its status. */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  422: 'invalid_request',
  429: 'rate_limited',
  500: 'internal_error',
  502: 'upstream_error',
  503: 'unavailable',
  504: 'upstream_timeout',
};

/** The engine's codes, where this API names the same refusal otherwise. */
const ENGINE_CODES: Record<string, string> = {
  store_unavailable: 'unavailable',
};

function codeOf(status: number, err: unknown): string {
  if (err instanceof V2Error) return err.code;
  const engineCode = (err as { code?: unknown } | undefined)?.code;
  if (typeof engineCode === 'string' && ENGINE_CODES[engineCode]) return ENGINE_CODES[engineCode];
  return CODE_OF_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request');
}

export function envelope(status: number, message: string, err: unknown): ErrorEnvelope {
  const details = err instanceof V2Error ? err.details : undefined;
  return { error: { code: codeOf(status, err), message, ...(details !== undefined && { details }) } };
}

/** The nodes naming what no backend has, as this API's node_errors. */
function nodeErrorsOf(missing: Missing): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [node, items] of missingByNode(missing)) {
    out[node] = items.map((item) =>
      item.nodeClass
        ? { field: null, reason: 'node_unavailable', message: `no backend that could run the rest has node class ${item.classType}`, detail: '', class_type: item.classType }
        : { field: item.input, reason: 'model_unavailable', message: `no backend that could run the rest has ${item.file}`, detail: item.file, class_type: item.classType },
    );
  }
  return out;
}

/**
 * Refusals in the envelope, unknown paths 404 and unknown methods 405; the engine's MAX_QUEUE
 * refusal (503) and MAX_JOBS_PER_CLIENT refusal (429) are this API's 429 queue_full.
 */
export function v2Errors() {
  const inner = errorMiddleware(envelope);
  return async (ctx: Context, next: () => Promise<unknown>): Promise<void> => {
    await inner(ctx, async () => {
      try {
        await next();
      } catch (err) {
        const refusal = refusalOf(err);
        const code = (err as { code?: unknown }).code;
        if (refusal && refusal.status === 503 && code === 'queue_full') {
          throw new V2Error(429, 'queue_full', refusal.message, undefined, refusal.headers);
        }
        if (refusal && code === 'unrunnable') {
          const { problems, missing } = err as { problems?: string[]; missing?: Missing };
          throw new V2Error(422, 'unrunnable', refusal.message, { problems: problems ?? [refusal.message], ...(missing && { missing, node_errors: nodeErrorsOf(missing) }) });
        }
        if (refusal && code === 'client_limit') {
          // Every v2 job of a key is one engine client: the limit is the key's.
          const message = 'this API key has as many unfinished jobs as MAX_JOBS_PER_CLIENT allows; retry when one finishes';
          throw new V2Error(429, 'queue_full', message, undefined, refusal.headers);
        }
        throw err;
      }
    });
  };
}
