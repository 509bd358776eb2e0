// One place per door where errors become answers. Refusals are http-errors (ctx.throw,
// createHttpError) or errors that carry their own status and headers (the engine's ClientError,
// the compatible door's CompatError); each door only chooses the body's shape.
import { STATUS_CODES } from 'node:http';
import type { Context, Next } from 'koa';
import createHttpError, { isHttpError } from 'http-errors';
import type { HttpError } from 'http-errors';
import { logger } from '../log.js';

const log = logger('http');

/**
 * The body of an answer. `err` is the error thrown, or undefined when the door itself answers
 * (no such path, method not allowed).
 */
export type ErrorShape = (status: number, message: string, err: unknown) => unknown;

/** What the client is told: status, message and headers (Retry-After, WWW-Authenticate). */
export interface Refusal {
  status: number;
  message: string;
  headers: Record<string, string>;
}

interface Carried extends Error {
  status?: unknown;
  statusCode?: unknown;
  expose?: unknown;
  headers?: unknown;
  detail?: unknown;
}

/** A refusal the thrower meant the client to see, or undefined for an internal failure. */
export function refusalOf(err: unknown): Refusal | undefined {
  if (!(err instanceof Error)) return undefined;
  const e = err as Carried;
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || !Number.isInteger(status) || status < 400 || status > 599) return undefined;
  // http-errors say so with `expose` (true below 500); others carrying headers chose their status.
  const exposed = isHttpError(err) ? err.expose : typeof e.expose === 'boolean' ? e.expose : typeof e.headers === 'object' || status < 500;
  if (!exposed) return undefined;
  const headers: Record<string, string> = {};
  if (typeof e.headers === 'object' && e.headers !== null) {
    for (const [name, value] of Object.entries(e.headers)) if (typeof value === 'string') headers[name] = value;
  }
  const message = typeof e.detail === 'string' ? e.detail : e.message || STATUS_CODES[status] || 'refused';
  return { status, message, headers };
}

/** A refusal with a message for the client (also for 5xx, which http-errors hides by default). */
export function refuse(status: number, message: string, headers?: Record<string, string>): HttpError {
  return createHttpError(status, message, { expose: true, ...(headers ? { headers } : {}) });
}

/** Koa middleware: refusals in the door's shape, unknown paths 404, unknown methods 405, the rest 500. */
export function errorMiddleware(shape: ErrorShape, internalMessage = 'internal error; the request was not completed') {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body == null) {
        ctx.status = 404;
        ctx.body = shape(404, `no such endpoint: ${ctx.method} ${ctx.path}`, undefined);
      } else if ((ctx.status === 405 || ctx.status === 501) && ctx.body == null && ctx.response.get('Allow')) {
        // The router's answer for a method it knows (405) or not (501): either way the path
        // exists and other methods work there.
        const allow = ctx.response.get('Allow');
        ctx.status = 405;
        ctx.body = shape(405, `${ctx.method} is not allowed on ${ctx.path}; use ${allow}`, undefined);
      }
    } catch (err) {
      const refusal = refusalOf(err);
      if (refusal) {
        ctx.status = refusal.status;
        ctx.set(refusal.headers);
        ctx.body = shape(refusal.status, refusal.message, err);
        return;
      }
      const e = err as Error;
      log.error(`${ctx.method} ${ctx.path}: ${e?.stack ?? String(err)}`);
      const status = isHttpError(err) && err.status >= 500 ? err.status : 500;
      ctx.status = status;
      ctx.body = shape(status, internalMessage, err);
    }
  };
}

const HANG_UPS = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED']);

/**
 * For koa's 'error' event: errors after the answer started (a streamed body cut short). A client
 * that hangs up mid-download is ordinary; anything else is worth a warning. Either way koa's
 * default (printing a stack to stderr) is not what an operator wants.
 */
export function logStreamError(err: Error & { code?: string; status?: number; expose?: boolean }): void {
  if (err.code && HANG_UPS.has(err.code)) {
    log.debug(`client went away mid-response (${err.code})`);
    return;
  }
  if (err.status && err.status < 500 && err.expose) return;
  log.warn(`response failed: ${err.message}`);
}
