// CORS for the origins CORS_ORIGINS allows ("*" for any); other origins get no CORS headers.
import cors from '@koa/cors';
import type { Context, Middleware } from 'koa';

/** Request headers a door reads and answer headers it sends, beyond the ones every door has. */
export interface CorsHeaders {
  allow?: readonly string[];
  expose?: readonly string[];
}

export function corsFor(origins: readonly string[], extra: CorsHeaders = {}): Middleware {
  const allowAll = origins.includes('*');
  const allowed = new Set(origins);
  return cors({
    origin: (ctx: Context) => {
      const origin = ctx.get('origin');
      if (!origin) return '';
      if (allowAll) return '*';
      return allowed.has(origin) ? origin : '';
    },
    allowMethods: ['GET', 'POST', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type', 'X-Admin-Token', 'ori_file_id', ...(extra.allow ?? [])],
    exposeHeaders: ['Retry-After', ...(extra.expose ?? [])],
    maxAge: 600,
    // The door's error middleware answers refusals after this one has set its headers.
    keepHeadersOnError: false,
  });
}
