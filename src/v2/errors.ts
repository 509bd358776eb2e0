// How the v2 API says no: every refusal under /api/v2 is the spec's ErrorEnvelope,
// {"error": {"code", "message", "details"?}}, with a machine-readable code. Refusals thrown here
// are V2Errors; other refusals (the engine's ClientError, http-errors from bodies, uploads and the
// key check) get the code that goes with their status.
import { errorMiddleware } from '../http/errors.js';

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

function codeOf(status: number, err: unknown): string {
  if (err instanceof V2Error) return err.code;
  return CODE_OF_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'invalid_request');
}

export function envelope(status: number, message: string, err: unknown): ErrorEnvelope {
  const details = err instanceof V2Error ? err.details : undefined;
  return { error: { code: codeOf(status, err), message, ...(details !== undefined && { details }) } };
}

/** Koa middleware: refusals below it in the envelope. */
export function v2Errors() {
  return errorMiddleware(envelope);
}
