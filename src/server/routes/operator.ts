// Operator actions: the generation count, freeing backend memory.
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
  return router;
}
