// How the v2 door says no: the spec's ErrorEnvelope, {"error": {"code", "message", "details"?}},
// with a machine-readable code. Refusals thrown as V2Error carry their own code; every other
// refusal (the engine's ClientError, http-errors from bodies and uploads, 404/405 of the router)
// gets the code that goes with its status.
import type { ErrorShape } from '../http/errors.js';
import { errorMiddleware } from '../http/errors.js';

/** A refusal with the spec's code and optional details. */
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

/** The code of a refusal that did not choose one. */
const CODES: Record<number, string> = {
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
  502: 'backend_unavailable',
  503: 'unavailable',
};

export function codeFor(status: number): string {
  return CODES[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request');
}

export interface ErrorEnvelope {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export const envelope: ErrorShape = (status, message, err): ErrorEnvelope => {
  if (err instanceof V2Error) return { error: { code: err.code, message, ...(err.details && { details: err.details }) } };
  return { error: { code: codeFor(status), message } };
};

/** Koa middleware: every refusal below it in the spec's envelope. */
export const envelopeErrors = errorMiddleware(envelope);
