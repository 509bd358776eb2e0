// ComfyUI's jobs API: GET /api/jobs, GET /api/jobs/{job_id}, POST /api/jobs/{job_id}/cancel and
// POST /api/jobs/cancel {job_ids}, over this door's prompts that the caller may see. Another
// key's job is one that does not exist: absent from the list, 404, nothing cancelled. ComfyUI
// serves these under /api only; here, like every route of the door, they are at /jobs too.
import Router from '@koa/router';
import type { Context } from 'koa';
import { parseJson, readBody } from '../../http/body.js';
import { isPlainObject } from '../../workflows/graph.js';
import { callerOf } from '../../server/params.js';
import { isCanonicalUuid } from '../prompt-request.js';
import { readJobsQuery } from '../jobs.js';
import type { DoorContext } from './context.js';
import { queryString } from './context.js';

/** The jobs API's refusals are {"error": reason}, with whatever else they name. */
function refuse(ctx: Context, status: number, error: string, more: Record<string, unknown> = {}): void {
  ctx.status = status;
  ctx.body = { error, ...more };
}

export function jobsRoutes({ door, jsonLimit }: DoorContext): Router {
  const router = new Router();

  router.get('/jobs', (ctx) => {
    const read = readJobsQuery((name) => queryString(ctx, name));
    if (!read.ok) return refuse(ctx, 400, read.error);
    ctx.body = door.jobList(callerOf(ctx), read.query);
  });

  router.get('/jobs/:job_id', (ctx) => {
    const job = door.jobDetail(ctx.params.job_id!, callerOf(ctx));
    if (!job) return refuse(ctx, 404, 'Job not found');
    ctx.body = job;
  });

  router.post('/jobs/cancel', async (ctx) => {
    const parsed = parseJson((await readBody(ctx, jsonLimit)).toString('utf8'));
    if (!parsed.ok) return refuse(ctx, 400, 'Request body must be valid JSON');
    const ids = isPlainObject(parsed.value) ? parsed.value.job_ids : undefined;
    if (!Array.isArray(ids)) return refuse(ctx, 400, 'job_ids must be a list');
    const invalid = ids.filter((id) => !isCanonicalUuid(id)).map((id) => (typeof id === 'string' ? id : JSON.stringify(id)));
    if (invalid.length > 0) return refuse(ctx, 400, 'job_ids contains invalid id(s)', { invalid_ids: invalid });
    const who = callerOf(ctx);
    const cancelled = await Promise.all(ids.map((id) => door.cancelJob(id, who)));
    ctx.body = { cancelled: cancelled.some(Boolean) };
  });

  router.post('/jobs/:job_id/cancel', async (ctx) => {
    ctx.body = { cancelled: await door.cancelJob(ctx.params.job_id!, callerOf(ctx)) };
  });

  return router;
}
