// Operator actions: the generation count, freeing backend memory, a job's placement plan.
import Router from '@koa/router';
import type { Engine } from '../../engine/index.js';
import { ClientError } from '../../engine/index.js';
import { callerOf, optionalClientId } from '../params.js';
import type { Doors } from '../auth.js';

export function operatorRoutes(engine: Engine, doors: Doors): Router {
  const router = new Router();
  router.get('/generation-count', async (ctx) => {
    ctx.body = await engine.generationCount.current();
  });
  router.post('/free', async (ctx) => {
    const clientId = optionalClientId(ctx);
    const options = { unload_models: true, free_memory: true };
    if (clientId) {
      const backend = engine.as(callerOf(ctx)).backendOf(clientId);
      if (!backend) throw new ClientError(404, `no backend serves clientId ${clientId}: it has no job`);
      const [result] = await engine.freeMemory(options, { backend });
      if (!result || result.error !== undefined) throw new ClientError(502, `the backend serving ${clientId} did not answer: ${result?.error ?? 'it is no longer configured'}`);
      ctx.body = { detail: `server memory free now / ${clientId}` };
      return;
    }
    doors.requireAdmin(ctx);
    await engine.freeMemory(options, { all: true });
    ctx.body = { detail: 'server memory free now / ALL' };
  });
  // Why the scheduler sent a job where it did (or how it weighs the backends for a waiting job).
  router.get('/admin/jobs/:id/plan', (ctx) => {
    doors.requireAdmin(ctx);
    const id = ctx.params.id;
    if (!engine.get(id)) throw new ClientError(404, `no job ${id}`);
    const plan = engine.explain(id);
    if (!plan) {
      throw new ClientError(404, engine.isDispatcher ? `no plan is kept for job ${id}: it was placed long ago or never` : 'this process does not dispatch: ask the dispatcher (GET /readyz tells which process it is)');
    }
    ctx.body = plan;
  });
  return router;
}
