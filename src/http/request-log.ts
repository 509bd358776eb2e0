// The access log: one line per request with method, url, status and duration, written when the
// answer is over (a streamed download counts until its last byte, or until the client left).
// Query values that carry a credential (?token= for browser websockets and links) are replaced.
import type { Context, Middleware, Next } from 'koa';
import { logger } from '../log.js';
import type { Logger } from '../log.js';

const SECRET_PARAM = /([?&](?:token|api_?key|key|password)=)[^&#]*/gi;

/** `url` with the values of credential-carrying query parameters replaced. */
export function redactQuery(url: string): string {
  return url.replace(SECRET_PARAM, '$1[redacted]');
}

/** Probes a load balancer sends every few seconds: logged at debug level. */
const PROBES = new Set(['/healthz', '/readyz']);

export function requestLog(log: Logger = logger('http')): Middleware {
  return async function logRequest(ctx: Context, next: Next): Promise<void> {
    // Nothing to pay for when access lines are off (tests, LOG_LEVEL=warn).
    const level = PROBES.has(ctx.path) ? 'debug' : 'info';
    if (!log.isLevelEnabled(level)) return next();
    const started = performance.now();
    const res = ctx.res;
    res.once('close', () => {
      const ms = Math.round((performance.now() - started) * 10) / 10;
      const url = redactQuery(ctx.originalUrl);
      const statusCode = res.statusCode;
      const cut = !res.writableFinished;
      // Field names as pino-http writes them, so log tools that know those read these too.
      log[level]({ method: ctx.method, url, statusCode, responseTime: ms, ...(cut && { cut }) }, `${ctx.method} ${url} ${statusCode} ${ms} ms${cut ? ' (cut short)' : ''}`);
    });
    await next();
  };
}
