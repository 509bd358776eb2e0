// GET /metrics: the bridge's Prometheus metrics (src/metrics), for whoever holds METRICS_TOKEN or
// the admin token; when neither is set, for whoever may use the client API, like the operator actions.
import Router from '@koa/router';
import type { BridgeMetrics } from '../../metrics/metrics.js';
import { ClientError } from '../../engine/index.js';
import type { Doors } from '../auth.js';

export function metricsRoutes(metrics: BridgeMetrics, doors: Doors): Router {
  const router = new Router();
  router.get('/metrics', async (ctx) => {
    if (!doors.metricsAllowed(ctx)) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new ClientError(401, 'the metrics need a token: send Authorization: Bearer <METRICS_TOKEN or ADMIN_TOKEN>');
    }
    const { contentType, text } = await metrics.exposition();
    ctx.set('Cache-Control', 'no-store');
    ctx.type = contentType;
    ctx.body = text;
  });
  return router;
}
