// GET/POST /queue, POST /interrupt, POST /free: the queue of this door's prompts and the operator
// actions on it. Actions that reach everyone's work need the admin token (when one is set).
import Router from '@koa/router';
import { plain } from '../errors.js';
import { isPlainObject } from '../../workflows/graph.js';
import { readJsonResult } from '../../http/body.js';
import { pyTruthy } from '../../comfy/python.js';
import type { DoorContext } from './context.js';
import { callerOf } from '../../server/params.js';
import { done } from './context.js';

export function queueRoutes({ door, doors, jsonLimit }: DoorContext): Router {
  const router = new Router();

  router.get('/queue', (ctx) => {
    ctx.body = door.queue(callerOf(ctx));
  });

  router.post('/queue', async (ctx) => {
    const parsed = await readJsonResult(ctx, jsonLimit);
    if (!parsed.ok || !isPlainObject(parsed.value)) throw plain(400, parsed.ok ? 'the body must be a JSON object: {"delete": [ids]} or {"clear": true}' : parsed.reason);
    const body = parsed.value;
    if ('clear' in body && pyTruthy(body.clear)) {
      doors.requireAdmin(ctx);
      await door.clearPending(callerOf(ctx));
    }
    if ('delete' in body && Array.isArray(body.delete)) await door.deletePending(body.delete, callerOf(ctx));
    done(ctx);
  });

  router.post('/interrupt', async (ctx) => {
    // No body, a body that is not JSON, or {} all mean: whatever is running.
    const parsed = await readJsonResult(ctx, jsonLimit);
    const promptId = parsed.ok && isPlainObject(parsed.value) && typeof parsed.value.prompt_id === 'string' ? parsed.value.prompt_id : undefined;
    if (promptId === undefined) doors.requireAdmin(ctx);
    door.interrupt(promptId, callerOf(ctx));
    done(ctx);
  });

  router.post('/free', async (ctx) => {
    doors.requireAdmin(ctx);
    const parsed = await readJsonResult(ctx, jsonLimit);
    if (!parsed.ok || !isPlainObject(parsed.value)) throw plain(400, parsed.ok ? 'the body must be a JSON object: {"unload_models": bool, "free_memory": bool}' : parsed.reason);
    await door.free({ unload_models: parsed.value.unload_models === true, free_memory: parsed.value.free_memory === true });
    done(ctx);
  });

  return router;
}
