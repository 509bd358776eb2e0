// GET /history, GET /history/{prompt_id}, POST /history {clear, delete}.
import Router from '@koa/router';
import { plain } from '../errors.js';
import { isPlainObject } from '../../workflows/graph.js';
import { readJsonResult } from '../../http/body.js';
import type { DoorContext } from './context.js';
import { callerOf } from '../../server/params.js';
import { done, queryString } from './context.js';

function intParam(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  // ComfyUI's int() raises (500) on anything else.
  if (!/^\s*[-+]?\d+\s*$/.test(value)) throw plain(400, `${name} must be an integer`);
  return Number(value);
}

export function historyRoutes({ door, doors, jsonLimit }: DoorContext): Router {
  const router = new Router();

  router.get('/history', (ctx) => {
    ctx.body = door.history(callerOf(ctx), intParam(queryString(ctx, 'max_items'), 'max_items'), intParam(queryString(ctx, 'offset'), 'offset'));
  });

  router.get('/history/:prompt_id', (ctx) => {
    ctx.body = door.entry(ctx.params.prompt_id!, callerOf(ctx));
  });

  router.post('/history', async (ctx) => {
    const parsed = await readJsonResult(ctx, jsonLimit);
    if (!parsed.ok || !isPlainObject(parsed.value)) throw plain(400, parsed.ok ? 'the body must be a JSON object: {"delete": [ids]} or {"clear": true}' : parsed.reason);
    const body = parsed.value;
    if ('clear' in body && body.clear) {
      doors.requireAdmin(ctx);
      await door.forget('all', callerOf(ctx));
    }
    if ('delete' in body && Array.isArray(body.delete)) await door.forget(body.delete, callerOf(ctx));
    done(ctx);
  });

  return router;
}
