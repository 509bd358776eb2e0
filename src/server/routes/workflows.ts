// GET /workflow-list and GET /workflow-info: what apps may run and which inputs they may set.
import Router from '@koa/router';
import type { Engine } from '../../engine/index.js';
import { ClientError } from '../../engine/index.js';
import { constraintsFor, describe } from '../../workflows/index.js';
import { checkQuery } from '../../http/validate.js';
import { WorkflowInfoQuery } from '../openapi.js';

export function workflowRoutes(engine: Engine): Router {
  const router = new Router();
  router.get('/workflow-list', (ctx) => {
    ctx.body = engine.catalog.list();
  });
  router.get('/workflow-info', async (ctx) => {
    const query = checkQuery(ctx, WorkflowInfoQuery);
    if (!query.ok) throw new ClientError(400, `${query.problems.join('; ')}, one of ${engine.catalog.list().join(', ')}`);
    const alias = query.value.workflow;
    const workflow = engine.workflow(alias);
    // Without an answer from any backend, the types alone: what a submission is then held to.
    ctx.body = describe(workflow, constraintsFor(workflow, await engine.pool.objectInfo()));
  });
  return router;
}
