// GET /prompt (queue length) and POST /prompt (queue a graph).
import Router from '@koa/router';
import { errorBody } from '../errors.js';
import { readJsonResult } from '../../http/body.js';
import { graphLimits, hasProblems } from '../../comfy/graph-limits.js';
import type { DoorContext } from './context.js';
import { callerOf } from '../../server/params.js';

export function promptRoutes({ door, queueLength, promptLimit }: DoorContext): Router {
  const router = new Router();
  router.get('/prompt', (ctx) => {
    ctx.body = { exec_info: { queue_remaining: queueLength.value } };
  });
  router.post('/prompt', async (ctx) => {
    const parsed = await readJsonResult(ctx, promptLimit);
    if (!parsed.ok) {
      // ComfyUI answers a body that is not JSON with a bare 500; a 400 in its own shape says why.
      ctx.status = 400;
      ctx.body = errorBody('invalid_prompt', 'Invalid JSON', parsed.reason);
      return;
    }
    const limits = graphLimits(parsed.value);
    if (hasProblems(limits)) {
      const nodes = Object.keys(limits.nodeErrors).length > 0;
      ctx.status = 400;
      ctx.body = errorBody(
        nodes ? 'prompt_outputs_failed_validation' : 'invalid_prompt',
        nodes ? 'Prompt outputs failed validation' : limits.problems[0],
        limits.problems.join('\n'),
        limits.nodeErrors,
      );
      return;
    }
    const answer = await door.submit(parsed.value, callerOf(ctx));
    ctx.status = answer.status;
    ctx.body = answer.body;
  });
  return router;
}
