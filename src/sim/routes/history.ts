// GET /history, GET /history/{prompt_id}, POST /history.
import type { BackendContext } from '../context.js';
import type { Router } from '../http/router.js';
import { empty, json } from '../http/response.js';
import { pyInt, pyTruthy } from '../../comfy/python.js';
import { objectBody } from './queue.js';

export function historyRoutes(router: Router, ctx: BackendContext): void {
  router.get('/history', (req) => {
    // int() of a bad value raises, which the client sees as a 500.
    const maxItems = req.query.has('max_items') ? pyInt(req.query.get('max_items')) : null;
    const offset = req.query.has('offset') ? pyInt(req.query.get('offset')) : -1;
    return json(ctx.history.list(maxItems, offset));
  });

  router.get('/history/{prompt_id}', (req) => json(ctx.history.get(req.params.prompt_id!)));

  router.post('/history', async (req) => {
    const body = await objectBody(req);
    if ('clear' in body || 'delete' in body) ctx.stats.historyDeletes++;
    if ('clear' in body && pyTruthy(body.clear)) ctx.history.clear();
    if ('delete' in body) {
      const ids = Array.isArray(body.delete) ? body.delete : typeof body.delete === 'string' ? [...body.delete] : [];
      for (const id of ids) if (typeof id === 'string') ctx.history.delete(id);
    }
    return empty();
  });
}
