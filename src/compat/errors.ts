// How this door says no. Where ComfyUI has an error shape (POST /prompt's
// {"error": {...}, "node_errors": {...}}) it is used; where ComfyUI answers with a bare status
// (/view, /upload), the status is kept and the body is a one-line reason.
import type { Context, Next } from 'koa';
import { ClientError } from '../engine/errors.js';
import { logger } from '../log.js';

const log = logger('compat');

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

/** A bare status with a short plain-text reason (ComfyUI itself sends these empty). */
export function plain(status: number, reason: string): CompatError {
  return new CompatError(status, reason);
}

/** Type names for statuses the engine or middleware raise. */
function typeOf(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 413) return 'request_too_large';
  if (status === 429 || status === 503) return 'queue_full';
  return 'bad_request';
}

export async function compatErrors(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.type = 'text/plain';
      ctx.body = '404: Not Found';
    }
  } catch (err) {
    if (err instanceof CompatError) {
      ctx.status = err.status;
      ctx.set(err.headers);
      ctx.body = err.body;
      return;
    }
    if (err instanceof ClientError) {
      ctx.status = err.status;
      ctx.set(err.headers);
      ctx.body = errorBody(typeOf(err.status), err.detail);
      return;
    }
    const e = err as Error & { status?: number; statusCode?: number };
    const status = e.status ?? e.statusCode;
    if (status && status >= 400 && status < 500) {
      ctx.status = status;
      ctx.body = errorBody(typeOf(status), e.message || 'bad request');
      return;
    }
    log.error(`${ctx.method} ${ctx.path}: ${e.stack ?? e.message}`);
    ctx.status = 500;
    ctx.body = errorBody('server_error', 'internal error; the request was not completed');
  }
}
