// The job endpoints of the curated door: submit, poll, collect, interrupt.
import Router from '@koa/router';
import type { Context } from 'koa';
import { ClientError } from '../../engine/index.js';
import type { CuratedSessions } from '../sessions.js';
import { CURATED_DOOR } from '../sessions.js';
import type { Job } from '../../jobs/job.js';
import { isFinal } from '../../jobs/job.js';
import { multipartStream, newBoundary } from '../multipart.js';
import type { Part } from '../multipart.js';
import { callerOf, refused, requireClient } from '../params.js';
import { check, checkQuery } from '../../http/validate.js';
import { SubmissionQuery, WORKFLOW_REQUIRED, WorkflowSubmission } from '../openapi.js';
import type { Tier } from '../../scheduler/fair-queue.js';
import type { ClientRef } from '../../engine/index.js';
import { parseJson } from '../../http/body.js';
import { webhookTables } from '../../webhooks/index.js';
import { logger } from '../../log.js';

const log = logger('jobs');

export function jobRoutes(sessions: CuratedSessions): Router {
  const { engine } = sessions;
  const router = new Router();

  router.post('/generate-based-workflow', async (ctx) => {
    const { clientId, body, tier } = submission(ctx, engine.catalog.list());
    const tables = webhookTables(engine.config.webhooks, callerOf(ctx), ctx.headers['webhook-url']);
    const { queueLength } = await engine.as(callerOf(ctx)).submitWorkflow(clientId, body, CURATED_DOOR, { tables, ...(tier != null && { tier }) });
    ctx.body = { detail: `queued / ${queueLength}` };
  });

  router.get('/execution-info', (ctx) => {
    const client = requireClient(ctx);
    const status = sessions.status(client);
    if (!status) throw new ClientError(404, `no job for clientId ${client.clientId}`);
    ctx.body = { status: status.status, detail: status.detail };
  });

  router.post('/interrupt', async (ctx) => {
    const client = requireClient(ctx);
    await sessions.cancel(client, 'interrupted by request');
    ctx.body = { detail: `interrupted that clientId will be ignored. / ${client.clientId}` };
  });

  router.get('/history', async (ctx) => {
    const client = requireClient(ctx);
    const jobs = sessions.collectable(client);
    if (jobs.length === 0) {
      const open = sessions.session(client).filter((j) => !isFinal(j));
      if (open.length) throw new ClientError(409, `not finished yet: ${open.length} job(s) of ${client.clientId} still waiting or running; wait for "closed"`);
      ctx.status = 204;
      return;
    }
    await sendResults(ctx, sessions, client, jobs);
  });

  return router;
}

/**
 * The submission's envelope, checked with the schemas of the OpenAPI document (every problem of
 * query and body at once): the client, the body without `priority`, and the tier asked for in the
 * body or the query (once). The engine then checks the inputs and holds the tier to the key's bounds.
 */
function submission(ctx: Context, aliases: readonly string[]): { clientId: string; body: Record<string, unknown>; tier?: Tier | null } {
  const query = checkQuery(ctx, SubmissionQuery);
  const body = check(WorkflowSubmission, jsonBody(ctx));
  const problems = [...(query.ok ? [] : query.problems), ...(body.ok ? [] : body.problems.map((p) => (p === WORKFLOW_REQUIRED ? `${p}: one of ${aliases.join(', ')}` : p)))];
  if (query.ok && body.ok && query.value.priority !== undefined && body.value.priority != null && query.value.priority !== body.value.priority) {
    problems.push(`"priority" is ${JSON.stringify(body.value.priority)} in the body and ${JSON.stringify(query.value.priority)} in the query; give it once`);
  }
  if (!query.ok || !body.ok || problems.length) throw refused(problems, problems.every((p) => p.includes('"priority"')) ? 'invalid_priority' : undefined);
  const { priority, ...inputs } = body.value;
  return { clientId: query.value.clientId, body: inputs, tier: priority ?? query.value.priority };
}

/** The parsed JSON body (read before routing; a string for text/plain). */
function jsonBody(ctx: Context): unknown {
  if (!ctx.is('application/json', 'text/plain', '+json')) {
    throw new ClientError(415, 'send the body as JSON with Content-Type: application/json');
  }
  const body = (ctx.request as { body?: unknown }).body;
  if (body === undefined) throw new ClientError(400, 'the body is empty; send a JSON object like {"workflow": "<alias>", "<node>/<input>": value}');
  if (typeof body === 'string' && ctx.is('text/plain')) {
    const parsed = parseJson(body);
    if (!parsed.ok) throw new ClientError(400, parsed.reason);
    return parsed.value;
  }
  return body;
}

/**
 * Stream every output of the given jobs as one multipart response, each file straight from the
 * backend that made it. The first file is opened before answering, so a backend that is gone
 * gives a clean 502 instead of a broken 200; the results are forgotten only once all bytes left.
 */
async function sendResults(ctx: Context, sessions: CuratedSessions, client: ClientRef, jobs: Job[]): Promise<void> {
  const files = jobs.flatMap((job) => job.outputs);
  const abort = new AbortController();
  const open = async (i: number) => {
    return sessions.engine.viewOutput(files[i], abort.signal);
  };
  let first;
  if (files.length > 0) {
    try {
      first = await open(0);
    } catch (err) {
      if (err instanceof ClientError) throw err;
      throw new ClientError(502, `results are on a backend that does not answer now; try again later (${(err as Error).message})`);
    }
  }
  const boundary = newBoundary();
  async function* parts(): AsyncGenerator<Part> {
    for (let i = 0; i < files.length; i++) {
      const res = i === 0 ? first! : await open(i);
      const type = res.headers['content-type'];
      yield {
        name: `result_${i}`,
        filename: files[i].filename,
        contentType: (Array.isArray(type) ? type[0] : type) ?? 'application/octet-stream',
        body: res.body,
      };
    }
  }
  const stream = multipartStream(boundary, parts());
  let complete = false;
  stream.on('end', () => (complete = true));
  stream.on('error', (err) => log.warn({ door: CURATED_DOOR, client: client.clientId, tenant: client.tenant }, `results cut short: ${err.message}`));
  // 'finish': every byte was handed to the connection; 'close' without it: the client went away.
  ctx.res.once('finish', () => {
    if (complete) void sessions.collected(client, jobs);
  });
  ctx.res.once('close', () => {
    if (ctx.res.writableFinished) return;
    abort.abort();
    stream.destroy();
  });
  ctx.status = 200;
  ctx.type = `multipart/form-data; boundary=${boundary}`;
  ctx.body = stream;
}
