// Operator actions: the generation count, freeing backend memory.
import Router from '@koa/router';
import type { Bridge } from '../../bridge.js';
import { ClientError } from '../../bridge.js';
import { optionalClientId } from '../params.js';
import type { Doors } from '../auth.js';
import { logger } from '../../log.js';

const log = logger('operator');

export function operatorRoutes(bridge: Bridge, doors: Doors): Router {
  const router = new Router();
  router.get('/generation-count', (ctx) => {
    ctx.body = bridge.generationCount.value;
  });
  router.post('/free', async (ctx) => {
    const clientId = optionalClientId(ctx);
    const options = { unload_models: true, free_memory: true };
    if (clientId) {
      const backend = bridge.backendOf(clientId);
      if (!backend) throw new ClientError(404, `no backend serves clientId ${clientId}: it has no job`);
      try {
        await backend.client.free(options);
      } catch (err) {
        throw new ClientError(502, `the backend serving ${clientId} did not answer: ${(err as Error).message}`);
      }
      ctx.body = { detail: `server memory free now / ${clientId}` };
      return;
    }
    doors.requireAdmin(ctx);
    const results = await Promise.allSettled(bridge.scheduler.backends.map((b) => b.client.free(options)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') log.warn(`free on ${bridge.scheduler.backends[i].url} failed: ${(r.reason as Error).message}`);
    });
    ctx.body = { detail: 'server memory free now / ALL' };
  });
  return router;
}
