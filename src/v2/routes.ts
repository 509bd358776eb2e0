// The v2 API under /api/v2 on the main port: its own error envelope (also for 401, 404, 405 and
// 413), CORS with its headers, API keys as Bearer, and the routes of jobs. Requests outside
// /api/v2 pass on to the curated door.
import Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type { Doors } from '../server/auth.js';
import { callerOf } from '../server/params.js';
import { corsFor } from '../http/cors.js';
import { JSON_BODY_LIMIT, readJsonResult } from '../http/body.js';
import type { BodyLimit } from '../http/body.js';
import { V2Error, v2Errors } from './errors.js';
import type { DoorRequest, Submitted, V2Door } from './door.js';
import { V2_DOOR } from './door.js';
import type { BridgeMetrics } from '../metrics/metrics.js';
import { assetRoutes } from './asset-routes.js';

export const V2_PREFIX = '/api/v2';

export interface V2ApiOptions {
  /** Further routers of the API (their paths under /api/v2). */
  more?: Router[];
  /** Counts the bytes of uploads and downloads under door 'v2'. */
  metrics?: BridgeMetrics;
}

/** The v2 API as one middleware, with its routers (for the OpenAPI document's tests). */
export function v2Api(door: V2Door, doors: Doors, { more = [], metrics }: V2ApiOptions = {}): Middleware & { routers: Router[] } {
  const { config } = door.engine;
  const open = [healthRoutes(door), assetRoutes(door.engine, doors)];
  const routers = [jobRoutes(door, { bytes: config.maxPromptBytes, setting: 'MAX_PROMPT_BYTES' }), ...more];
  const api = chain([
    v2Errors(),
    ...(metrics ? [metrics.meter(V2_DOOR)] : []),
    corsFor(config.corsOrigins, { allow: ['Idempotency-Key', 'Last-Event-ID'], expose: ['Idempotency-Replayed', 'Location'] }),
    // The assets check keys themselves: a signed content URL needs none.
    ...open.flatMap(mounted),
    doors.requireClient(),
    ...routers.flatMap(mounted),
  ]);
  const middleware: Middleware = (ctx, next) => (ctx.path === V2_PREFIX || ctx.path.startsWith(`${V2_PREFIX}/`) ? api(ctx, async () => undefined) : next());
  return Object.assign(middleware, { routers: [...open, ...routers] });
}

function mounted(router: Router): Middleware[] {
  return [router.routes() as Middleware, router.allowedMethods() as Middleware];
}

/** Middlewares run as one, in order. */
function chain(middlewares: Middleware[]): Middleware {
  return (ctx, next) => {
    const at = (i: number): Promise<void> => {
      const mw = middlewares[i];
      return mw ? Promise.resolve(mw(ctx, () => at(i + 1))) : Promise.resolve(next()).then(() => undefined);
    };
    return at(0);
  };
}

/** GET /api/v2/health: open to all, as /readyz; tells nothing about anyone's work. */
function healthRoutes(door: V2Door): Router {
  const router = new Router({ prefix: V2_PREFIX });
  router.get('/health', (ctx) => {
    const { ready, checks } = door.engine.readiness();
    ctx.set('Cache-Control', 'no-store');
    if (!ready) throw new V2Error(503, 'unavailable', 'not ready: no backend is up, the job store cannot take writes, or the bridge is starting or stopping', { checks });
    ctx.body = { status: 'healthy', checks };
  });
  return router;
}

function jobRoutes(door: V2Door, graphLimit: BodyLimit): Router {
  const router = new Router({ prefix: V2_PREFIX });

  router.post('/jobs', async (ctx) => {
    answer(ctx, await door.submitGraph(await request(ctx, graphLimit)));
  });

  router.post('/workflows/:alias/jobs', async (ctx) => {
    answer(ctx, await door.submitWorkflow(ctx.params.alias, await request(ctx, JSON_BODY_LIMIT, { optional: true })));
  });

  router.get('/jobs/:id', async (ctx) => {
    const job = door.job(callerOf(ctx), ctx.params.id);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await door.view(job, baseOf(ctx));
  });

  router.post('/jobs/:id/cancel', async (ctx) => {
    ctx.body = await door.cancel(callerOf(ctx), ctx.params.id, baseOf(ctx));
  });

  router.get('/jobs/:id/events', (ctx) => {
    const who = callerOf(ctx);
    const job = door.job(who, ctx.params.id);
    if (ctx.method === 'HEAD') {
      ctx.status = 200;
      ctx.type = 'text/event-stream';
      return;
    }
    door.stream(who, job, ctx.res, baseOf(ctx), lastEventId(ctx.get('last-event-id')));
    // The stream writes the answer itself from here on (a refusal above is answered as usual).
    ctx.respond = false;
  });

  return router;
}

function answer(ctx: Context, submitted: Submitted): void {
  ctx.status = submitted.status;
  if (submitted.replayed) ctx.set('Idempotency-Replayed', 'true');
  const self = (submitted.body as { urls?: { self?: unknown } } | undefined)?.urls?.self;
  if (typeof self === 'string') ctx.set('Location', self);
  ctx.body = submitted.body;
}

/** The request for the door: the caller, its JSON body, its headers, and where links point. */
async function request(ctx: Context, limit: BodyLimit, { optional = false } = {}): Promise<DoorRequest> {
  const type = ctx.get('content-type');
  if (type && !ctx.is('application/json', '+json')) {
    throw new V2Error(415, 'unsupported_media_type', 'send the body as JSON with Content-Type: application/json');
  }
  let body: unknown;
  const declared = ctx.get('content-length');
  if (!(optional && (declared === '0' || (declared === '' && !ctx.get('transfer-encoding'))))) {
    const parsed = await readJsonResult(ctx, limit);
    if (!parsed.ok) throw new V2Error(400, 'invalid_request', parsed.reason);
    body = parsed.value;
  }
  return { who: callerOf(ctx), body, header: (name) => headerOf(ctx, name), base: baseOf(ctx) };
}

/** A header as sent (an empty one too), or undefined when absent. */
function headerOf(ctx: Context, name: string): string | undefined {
  const value = ctx.headers[name.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : value;
}

/** The origin the client reached, for links it can follow as they are. */
function baseOf(ctx: Context): string {
  return ctx.host ? `${ctx.protocol}://${ctx.host}` : '';
}

/** A Last-Event-ID this stream gave: a whole number, else ignored. */
function lastEventId(header: string): number | undefined {
  return /^\d{1,15}$/.test(header.trim()) ? Number(header.trim()) : undefined;
}
