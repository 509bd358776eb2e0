// GET /workflow-list and GET /workflow-info: what apps may run and which inputs they may set.
import Router from '@koa/router';
import type { Engine } from '../../engine/index.js';
import { ClientError } from '../../engine/index.js';
import { describe } from '../../workflows/index.js';
import { queryParam } from '../params.js';

export function workflowRoutes(engine: Engine): Router {
  const router = new Router();
  router.get('/workflow-list', (ctx) => {
    ctx.body = engine.catalog.list();
  });
  router.get('/workflow-info', (ctx) => {
    const alias = queryParam(ctx, 'workflow');
    if (!alias) throw new ClientError(400, `workflow is required: add ?workflow=<alias>, one of ${engine.catalog.list().join(', ')}`);
    ctx.body = describe(engine.workflow(alias));
  });
  return router;
}
