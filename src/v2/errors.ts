// How the v2 API says no: every refusal under /api/v2 is the spec's ErrorEnvelope,
// {"error": {"code", "message", "details"?}}, with a machine-readable code. Refusals thrown here
// are V2Errors; the engine's ClientErrors and http-errors (body limits, 401) get a code from what
// they are.
import type { Context } from 'koa';
import { errorMiddleware, refusalOf } from '../http/errors.js';
import { ClientError } from '../engine/errors.js';
import type { RefusalCode } from '../engine/errors.js';
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

/**
 * Each refusal code of the engine as this API says it: status and code (and a message where the
 * engine's speaks of another door's terms). A Record over every code, so a new one cannot be
 * forgotten here.
 */
export const ENGINE_REFUSALS: Record<RefusalCode, { status: number | ((engine: number) => number); code: string; message?: string }> = {
  // MAX_QUEUE: the spec's bounded queue depth.
  queue_full: { status: 429, code: 'queue_full' },
  // Every v2 job of a key is one engine client: the limit is the key's.
  client_limit: { status: 429, code: 'queue_full', message: 'this API key has as many unfinished jobs as MAX_JOBS_PER_CLIENT allows; retry when one finishes' },
  key_limit: { status: 429, code: 'key_limit' },
  // A tier this API does not know is a body field's bad value (422, as for its other fields); one
  // above the key's bound stays 403.
  invalid_priority: { status: (engine) => (engine === 400 ? 422 : engine), code: 'invalid_priority' },
  store_unavailable: { status: 503, code: 'unavailable' },
  unknown_workflow: { status: 404, code: 'not_found' },
  invalid_inputs: { status: 422, code: 'invalid_inputs' },
  unrunnable: { status: 422, code: 'unrunnable' },
};

function codeOf(status: number, err: unknown): string {
  if (err instanceof V2Error) return err.code;
  return CODE_OF_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request');
}

export function envelope(status: number, message: string, err: unknown): ErrorEnvelope {
  const details = err instanceof V2Error ? err.details : undefined;
  return { error: { code: codeOf(status, err), message, ...(details !== undefined && { details }) } };
}

/** The engine's refusal in this API's terms, or undefined when it names no code of the engine. */
export function fromEngine(err: unknown): V2Error | undefined {
  if (!(err instanceof ClientError)) return undefined;
  const refusal = refusalOf(err);
  const { code } = err;
  if (!refusal || code === undefined || !Object.hasOwn(ENGINE_REFUSALS, code)) return undefined;
  const mapped = ENGINE_REFUSALS[code as RefusalCode];
  let details: Record<string, unknown> | undefined;
  if (err.missing) details = { problems: err.problems ?? [refusal.message], missing: err.missing, node_errors: nodeErrorsOf(err.missing) };
  else if (err.problems) details = { problems: err.problems };
  else if (mapped.code === 'invalid_inputs') details = { problems: [refusal.message] };
  else if (mapped.code === 'invalid_priority') details = { field: 'priority' };
  const status = typeof mapped.status === 'function' ? mapped.status(refusal.status) : mapped.status;
  return new V2Error(status, mapped.code, mapped.message ?? refusal.message, details, refusal.headers);
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

/** Refusals in the envelope (the engine's with this API's codes), unknown paths 404, unknown methods 405. */
export function v2Errors() {
  const inner = errorMiddleware(envelope);
  return async (ctx: Context, next: () => Promise<unknown>): Promise<void> => {
    await inner(ctx, async () => {
      try {
        await next();
      } catch (err) {
        throw fromEngine(err) ?? err;
      }
    });
  };
}
