// GET /workflow-list and GET /workflow-info: what apps may run and which inputs they may set.
import Router from '@koa/router';
import type { Bridge } from '../../bridge.js';
import { ClientError } from '../../bridge.js';
import { BackendInfo } from '../../compat/backend-info.js';
import { constraintsFor, describe } from '../../workflows/index.js';
import type { ObjectInfo } from '../../workflows/index.js';
import { queryParam } from '../params.js';

/** The backends' /object_info, or undefined while none has answered. */
export type ObjectInfoSource = () => Promise<ObjectInfo | undefined>;

/** A healthy backend's /object_info, kept for a short while (it is large). */
export function poolObjectInfo(bridge: Bridge): ObjectInfoSource {
  const info = new BackendInfo(bridge.scheduler.backends);
  return () => info.objectInfo();
}

export function workflowRoutes(bridge: Bridge, objectInfo: ObjectInfoSource = poolObjectInfo(bridge)): Router {
  const router = new Router();
  router.get('/workflow-list', (ctx) => {
    ctx.body = bridge.catalog.list();
  });
  router.get('/workflow-info', async (ctx) => {
    const alias = queryParam(ctx, 'workflow');
    if (!alias) throw new ClientError(400, `workflow is required: add ?workflow=<alias>, one of ${bridge.catalog.list().join(', ')}`);
    const workflow = bridge.workflow(alias);
    // Without an answer from any backend, the types alone: what a submission is then held to.
    ctx.body = describe(workflow, constraintsFor(workflow, await objectInfo()));
  });
  return router;
}
