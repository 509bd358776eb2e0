// GET /workflow-list and GET /workflow-info: what apps may run and which inputs they may set.
import Router from '@koa/router';
import type { Bridge } from '../../bridge.js';
import { ClientError } from '../../bridge.js';
import { describe } from '../../workflows/index.js';
import { queryParam } from '../params.js';

export function workflowRoutes(bridge: Bridge): Router {
  const router = new Router();
  router.get('/workflow-list', (ctx) => {
    ctx.body = bridge.catalog.list();
  });
  router.get('/workflow-info', (ctx) => {
    const alias = queryParam(ctx, 'workflow');
    if (!alias) throw new ClientError(400, `workflow is required: add ?workflow=<alias>, one of ${bridge.catalog.list().join(', ')}`);
    ctx.body = describe(bridge.workflow(alias));
  });
  return router;
}
