// Health for load balancers and orchestrators: /healthz says the process runs, /readyz whether it
// should get traffic (its store takes writes, a backend is up). Open to all: they tell nothing
// about anyone's work.
import Router from '@koa/router';
import type { Engine } from '../../engine/index.js';

export function healthRoutes(engine: Engine): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', (ctx) => {
    const readiness = engine.readiness();
    ctx.set('Cache-Control', 'no-store');
    ctx.status = readiness.ready ? 200 : 503;
    const { ready, ...rest } = readiness;
    ctx.body = { status: ready ? 'ready' : 'unready', ...rest };
  });
  return router;
}
