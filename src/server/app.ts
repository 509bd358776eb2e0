// The HTTP + websocket server of the curated door.
import type http from 'node:http';
import Koa from 'koa';
import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Engine } from '../engine/index.js';
import { CURATED_DOOR, CuratedSessions } from './sessions.js';
import { errorHandler, logStreamError } from './errors.js';
import { Doors } from './auth.js';
import { ClientHub } from './hub.js';
import { listen, refuseUpgrade } from '../http/listen.js';
import type { Listening } from '../http/listen.js';
import { JSON_BODY_LIMIT, readBody, parseJson } from '../http/body.js';
import type { BodyLimit } from '../http/body.js';
import { refuse } from '../http/errors.js';
import { workflowRoutes } from './routes/workflows.js';
import { jobRoutes } from './routes/jobs.js';
import { uploadRoutes } from './routes/uploads.js';
import { operatorRoutes } from './routes/operator.js';
import { backendRoutes } from './routes/backends.js';
import { healthRoutes } from './routes/health.js';
import { metricsRoutes } from './routes/metrics.js';
import type { BridgeMetrics } from '../metrics/metrics.js';
import { requestLog } from '../http/request-log.js';
import { V2Door } from '../v2/door.js';
import { v2Api } from '../v2/routes.js';
import { assetReferences } from '../v2/asset-extension.js';
import { DashboardFeed, dashboardApi, dashboardPage } from '../dashboard/index.js';
import { webhookExtension, webhookRoutes } from '../webhooks/index.js';
import { referenceRoutes } from '../openapi/routes.js';
import { mainDocument } from '../openapi/document.js';

export interface RunningServer {
  server: http.Server;
  hub: ClientHub;
  /** The Comfy API v2 door, served under /api/v2 on this port. */
  v2: V2Door;
  /** The dashboard's live feed (GET /dashboard/events). */
  dashboard: DashboardFeed;
  /** Every router of this port (the v2 door's too): what GET /openapi.json describes. */
  routers: Router[];
  url: string;
  /** Stop accepting, let running requests finish for up to graceMs, then cut them. */
  close(graceMs?: number): Promise<void>;
}

/**
 * JSON and text bodies, read before routing into ctx.request.body (the text for text/plain, the
 * parsed value for JSON; undefined when empty). /upload streams its files itself.
 */
function jsonBodies(limit: BodyLimit) {
  return async (ctx: Context, next: Next) => {
    if (ctx.method === 'POST' && ctx.is('application/json', '+json', 'text/plain')) {
      const text = (await readBody(ctx, limit)).toString('utf8');
      let body: unknown;
      if (text.trim() !== '') {
        if (ctx.is('text/plain')) body = text;
        else {
          const parsed = parseJson(text);
          if (!parsed.ok) throw refuse(400, parsed.reason);
          body = parsed.value;
        }
      }
      (ctx.request as { body?: unknown }).body = body;
    }
    await next();
  };
}

export function createApp(sessions: CuratedSessions, doors: Doors, v2: V2Door, dashboard: DashboardFeed, metrics?: BridgeMetrics): { app: Koa; routers: Router[] } {
  const { engine } = sessions;
  const app = new Koa();
  const routers: Router[] = [];
  const mount = (router: Router, allowedMethods = true) => {
    routers.push(router);
    app.use(router.routes());
    if (allowedMethods) app.use(router.allowedMethods());
  };
  app.on('error', logStreamError);
  app.use(requestLog());
  // /api/v2 is a door of its own (errors, CORS, routes); everything else is the curated door.
  const api = v2Api(v2, doors, { metrics });
  routers.push(...api.routers);
  app.use(api);
  app.use(errorHandler);
  if (metrics) app.use(metrics.meter(CURATED_DOOR));
  app.use(doors.cors());
  mount(healthRoutes(engine));
  // Its own token, before the client keys are asked for.
  if (metrics) mount(metricsRoutes(metrics, doors));
  // The dashboard page and the API reference hold no data: open to all, before the key check.
  mount(dashboardPage(doors), false);
  mount(referenceRoutes(mainDocument), false);
  app.use(doors.requireClient());
  app.use(jsonBodies(JSON_BODY_LIMIT));
  for (const router of [workflowRoutes(engine), jobRoutes(sessions), uploadRoutes(engine), operatorRoutes(engine, doors), backendRoutes(engine, doors), dashboardApi(engine, doors, dashboard), webhookRoutes(engine, doors)]) {
    mount(router);
  }
  return { app, routers };
}

export async function startServer(engine: Engine, host: string, port: number, metrics?: BridgeMetrics): Promise<RunningServer> {
  const doors = new Doors(engine.config);
  const sessions = new CuratedSessions(engine);
  const v2 = new V2Door(engine, { extensions: [assetReferences(engine), webhookExtension(engine.config.webhooks)] });
  const dashboard = new DashboardFeed(engine);
  const { app, routers } = createApp(sessions, doors, v2, dashboard, metrics);
  const hub = new ClientHub(sessions, doors, { heartbeatMs: engine.config.heartbeatMs, disconnectGraceMs: engine.config.disconnectGraceMs });
  let listening: Listening;
  try {
    listening = await listen(app.callback(), host, port, {
      timeouts: { requestMs: engine.config.requestTimeoutMs },
      onUpgrade: (req, socket, head) => {
        const path = (req.url ?? '').split('?')[0];
        if (path === '/ws') hub.handleUpgrade(req, socket, head);
        else refuseUpgrade(socket, 404, '');
      },
    });
  } catch (err) {
    dashboard.close();
    await hub.close();
    sessions.close();
    v2.close();
    throw err;
  }
  return {
    server: listening.server,
    hub,
    v2,
    dashboard,
    routers,
    url: listening.url,
    async close(graceMs = 5000) {
      // Dashboard streams end now; their pages reconnect wherever they can.
      dashboard.close();
      await hub.close();
      sessions.close();
      // Event streams end now; their clients reconnect (with Last-Event-ID) wherever they can.
      v2.close();
      await listening.close(graceMs);
    },
  };
}
