// One place where errors become answers: a client mistake gets its status and {detail};
// anything else is logged and answered 500 without internals.
import type { Context, Next } from 'koa';
import { ClientError } from '../engine/errors.js';
import { logger } from '../log.js';

const log = logger('http');

export async function errorHandler(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.status === 404 && ctx.body === undefined) {
      ctx.status = 404;
      ctx.body = { detail: `no such endpoint: ${ctx.method} ${ctx.path}` };
    } else if (ctx.status === 405 || ctx.status === 501) {
      // The router answers these without a body; say which methods would work.
      const allow = ctx.response.get('Allow');
      ctx.body = { detail: `${ctx.method} is not allowed on ${ctx.path}${allow ? `; use ${allow}` : ''}` };
    }
  } catch (err) {
    const e = err as Error & { status?: number; statusCode?: number; expose?: boolean; type?: string };
    if (err instanceof ClientError) {
      ctx.status = err.status;
      ctx.set(err.headers);
      ctx.body = { detail: err.detail };
      return;
    }
    const status = e.status ?? e.statusCode;
    if (status && status >= 400 && status < 500) {
      // koa-body, formidable and koa itself throw these for bad requests.
      ctx.status = status;
      ctx.body = { detail: clientMessage(e, status) };
      return;
    }
    log.error(`${ctx.method} ${ctx.path}: ${e.stack ?? e.message}`);
    ctx.status = 500;
    ctx.body = { detail: 'internal error; the request was not completed' };
  }
}

function clientMessage(e: Error & { type?: string }, status: number): string {
  if (status === 413) return `request body too large: ${e.message}`;
  if (e.type === 'entity.parse.failed' || /JSON/i.test(e.message)) return `malformed JSON body: ${e.message}`;
  return e.message || 'bad request';
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
