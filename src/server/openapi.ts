// The curated door in the OpenAPI document (src/openapi): its request schemas, which the routes
// check requests with, and what each route answers. Every refusal is {"detail": message}.
import { z } from 'zod';
import type { ZodOpenApiPathsObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import { CLIENT, OPEN, OPERATOR, RetryAfter, Tier, json, jsonResponse } from '../openapi/common.js';
import { CLIENT_ID } from './client-id.js';
import { BackendFields } from '../engine/backend-spec.js';

export const Detail = z.object({ detail: z.string() }).meta({ id: 'Detail', description: 'Every refusal of the curated door and of the operator routes: a sentence saying what was wrong and what to send instead.' });

const REFUSALS: Record<number, string> = {
  400: 'The request is not valid; every problem is listed.',
  401: 'An API key is required (`Authorization: Bearer <key>`).',
  403: 'This needs the admin token.',
  404: 'No such thing (or not the caller\'s).',
  409: 'Not possible in the current state.',
  413: 'The body is larger than the limit named in the message.',
  415: 'Wrong Content-Type.',
  429: 'A limit was reached (MAX_JOBS_PER_CLIENT); retry after Retry-After.',
  502: 'A backend did not answer.',
  503: 'The queue is full (MAX_QUEUE) or the job store is unreachable; retry after Retry-After.',
};

/** The {"detail"} refusals a route may answer. */
export function refusals(...statuses: number[]): ZodOpenApiResponsesObject {
  const out: ZodOpenApiResponsesObject = {};
  for (const s of statuses) {
    const retry = s === 429 || s === 503;
    out[String(s) as '400'] = jsonResponse(REFUSALS[s] ?? 'Refused.', Detail, retry ? z.object({ 'Retry-After': RetryAfter }) : undefined);
  }
  return out;
}

// ── requests ──────────────────────────────────────────────────────────────────────────────────

const CLIENT_ID_RULE = '8 to 128 letters, digits or _ . : @ -';
export const ClientId = z
  .string({ error: `clientId is required: add ?clientId=<your id> (${CLIENT_ID_RULE})` })
  .regex(CLIENT_ID, { error: (issue) => `clientId ${JSON.stringify(String(issue.input).slice(0, 140))} is not valid: use ${CLIENT_ID_RULE}` })
  .meta({ description: 'The client\'s own id (8 to 128 letters, digits or `_ . : @ -`): it owns the client\'s jobs within its API key.', example: 'my-app-0001' });

export const ClientQuery = z.object({ clientId: ClientId });
export const OptionalClientQuery = z.object({ clientId: ClientId.optional() });

export const WorkflowInfoQuery = z.object({
  workflow: z.string({ error: 'workflow is required: add ?workflow=<alias>' }).meta({ description: 'A workflow alias from GET /workflow-list.', example: 'txt2img' }),
});

/** POST /generate-based-workflow's query: the client, and the priority tier (or in the body, not both). */
export const SubmissionQuery = z.object({ clientId: ClientId, priority: Tier.optional() });

/** The refusal of a submission without a workflow name (the route adds the names it may take). */
export const WORKFLOW_REQUIRED = '"workflow" is required';

/**
 * POST /generate-based-workflow's body: the alias, its priority tier, and every other field an
 * input value; the engine then holds each value to the workflow's inputs and the pool's bounds.
 */
export const WorkflowSubmission = z
  .object(
    {
      workflow: z.string({ error: WORKFLOW_REQUIRED }).min(1, { error: WORKFLOW_REQUIRED }).meta({ description: 'A workflow alias from GET /workflow-list.', example: 'txt2img' }),
      priority: Tier.nullish(),
    },
    { error: 'the request body must be a JSON object like {"workflow": "<alias>", "<node>/<input>": value}' },
  )
  .catchall(z.unknown().meta({ description: 'An input value, as `"<node>/<input>": value` (GET /workflow-info lists them).' }))
  .meta({ id: 'WorkflowSubmission', description: 'The alias, its priority tier and the input values to set, each as `"<node>/<input>": value` (GET /workflow-info lists them).', example: { workflow: 'txt2img', '6/text': 'a lighthouse at dusk', '3/seed': 42, priority: 'normal' } });

/** POST /admin/backends: the schema the engine holds a new backend's fields to (engine/backend-spec.ts). */
export const NewBackend = BackendFields.register(z.globalRegistry, { id: 'NewBackend', description: 'A backend to add: its URL, labels, and credentials given once (in the URL, as `token`, or as `username` and `password`).' });

export const NEW_BACKEND_HINT = 'send a JSON object (Content-Type: application/json) like {"url": "http://gpu1:8188", "labels": ["sdxl"]}, with "token" or "username" and "password" when the backend asks for credentials';

// ── answers ───────────────────────────────────────────────────────────────────────────────────

const Health = z.object({ status: z.literal('ok') });
const Readiness = z
  .object({
    status: z.enum(['ready', 'unready']),
    checks: z.object({ doors: z.boolean(), store: z.boolean(), backends: z.number().int(), redis: z.boolean().optional() }),
    cluster: z.object({ role: z.enum(['dispatcher', 'follower']), process: z.string() }).optional(),
  })
  .meta({ id: 'Readiness' });

const InputDescription = z.object({
  type: z.string(),
  title: z.string().optional(),
  class: z.string().optional(),
  default: z.unknown().optional(),
  min: z.number().optional(),
  max: z.number().optional(),
  choices: z.array(z.unknown()).optional(),
});

const ExecutionInfo = z.object({ status: z.string().meta({ description: 'waiting, running, closed, …' }), detail: z.string() });

export const BackendInfo = z
  .object({
    id: z.string(),
    url: z.string(),
    state: z.string(),
    healthy: z.boolean(),
    draining: z.boolean(),
    labels: z.array(z.string()),
    jobs: z.array(z.object({ jobId: z.string(), state: z.string(), progress: z.number().optional() })),
    queueRemaining: z.number().int(),
    secondsPerUnit: z.number().optional(),
    meanJobSeconds: z.number().optional(),
    version: z.string().optional(),
    models: z.array(z.string()).optional(),
    removed: z.literal(true).optional(),
  })
  .meta({ id: 'BackendInfo', description: 'A backend of the pool as the operator sees it; never its credentials.' });

const backendId = z.object({ id: z.string().meta({ description: 'A backend id from GET /admin/backends.' }) });
const jobId = z.object({ id: z.string().meta({ description: 'A job id.' }) });

const multipartResults = {
  description: 'Every output of the client\'s finished jobs, one part each (`result_<n>`, with its file name); the results are forgotten once sent whole.',
  content: { 'multipart/form-data': { schema: z.object({}).catchall(z.string().meta({ format: 'binary' })) } },
};

export const curatedPaths: ZodOpenApiPathsObject = {
  '/healthz': { get: { tags: ['health'], summary: 'The process runs', security: OPEN, responses: { 200: jsonResponse('Alive.', Health) } } },
  '/readyz': {
    get: {
      tags: ['health'],
      summary: 'Should this process get traffic',
      description: 'Ready when its doors serve, its job store takes writes and at least one backend is up.',
      security: OPEN,
      responses: { 200: jsonResponse('Ready.', Readiness), 503: jsonResponse('Not ready.', Readiness) },
    },
  },
  '/metrics': {
    get: {
      tags: ['operator'],
      summary: 'Prometheus metrics',
      description: 'For METRICS_TOKEN or the admin token as the bearer; with neither set, for whoever may use the client API.',
      security: [{ apiKey: [] }, { adminToken: [] }, {}],
      responses: { 200: { description: 'The exposition text.', content: { 'text/plain': { schema: z.string() } } }, ...refusals(401) },
    },
  },
  '/workflow-list': { get: { tags: ['curated'], summary: 'The workflow aliases a client may run', security: CLIENT, responses: { 200: jsonResponse('Aliases.', z.array(z.string())), ...refusals(401) } } },
  '/workflow-info': {
    get: {
      tags: ['curated'],
      summary: 'The inputs of a workflow',
      description: 'Each input a submission may set, as `"<node>/<input>"`, with its type, default and bounds (from the pool\'s /object_info when a backend answers).',
      security: CLIENT,
      requestParams: { query: WorkflowInfoQuery },
      responses: { 200: jsonResponse('The inputs by key.', z.record(z.string(), InputDescription)), ...refusals(400, 401, 404) },
    },
  },
  '/generate-based-workflow': {
    post: {
      tags: ['curated'],
      summary: 'Queue a curated workflow with input values',
      security: CLIENT,
      requestParams: { query: SubmissionQuery, header: z.object({ 'Webhook-URL': z.string().optional().meta({ description: 'Called when the job ends (when webhooks are enabled).' }) }) },
      requestBody: { required: true, content: { ...json(WorkflowSubmission), 'text/plain': { schema: z.string().meta({ description: 'The same JSON object, sent as text.' }) } } },
      responses: { 200: jsonResponse('Queued: `queued / <jobs ahead>`.', Detail), ...refusals(400, 401, 404, 413, 415, 429, 503) },
    },
  },
  '/execution-info': {
    get: { tags: ['curated'], summary: 'The state of the client\'s job', security: CLIENT, requestParams: { query: ClientQuery }, responses: { 200: jsonResponse('Its status.', ExecutionInfo), ...refusals(400, 401, 404) } },
  },
  '/interrupt': {
    post: { tags: ['curated'], summary: 'Cancel the client\'s jobs', security: CLIENT, requestParams: { query: ClientQuery }, responses: { 200: jsonResponse('Interrupted.', Detail), ...refusals(400, 401) } },
  },
  '/history': {
    get: {
      tags: ['curated'],
      summary: 'Collect the client\'s results',
      security: CLIENT,
      requestParams: { query: ClientQuery },
      responses: { 200: multipartResults, 204: { description: 'Nothing to collect.' }, ...refusals(400, 401, 409, 502) },
    },
  },
  '/upload': {
    post: {
      tags: ['curated'],
      summary: 'Upload images a workflow will use',
      description: 'Each file part is checked by content (PNG, JPEG, GIF, WebP, BMP, TIFF) and stored under a fresh name; the answer maps each part\'s `ori_file_id` header (else its field name) to that name. All or nothing.',
      security: CLIENT,
      requestParams: { query: OptionalClientQuery },
      requestBody: { required: true, content: { 'multipart/form-data': { schema: z.object({}).catchall(z.string().meta({ format: 'binary' })) } } },
      responses: { 200: jsonResponse('Stored names by identifier.', z.record(z.string(), z.string())), ...refusals(400, 401, 413, 415) },
    },
  },
  '/generation-count': { get: { tags: ['operator'], summary: 'How many jobs were ever queued', security: CLIENT, responses: { 200: jsonResponse('The count.', z.number().int()), ...refusals(401) } } },
  '/free': {
    post: {
      tags: ['operator'],
      summary: 'Free backend memory',
      description: 'With `clientId`, the backend serving that client; without, every backend (admin token).',
      security: OPERATOR,
      requestParams: { query: OptionalClientQuery },
      responses: { 200: jsonResponse('Freed.', Detail), ...refusals(400, 401, 403, 404, 502) },
    },
  },
  '/admin/jobs/{id}/plan': {
    get: {
      tags: ['operator'],
      summary: 'Why the scheduler placed a job where it did',
      security: OPERATOR,
      requestParams: { path: jobId },
      responses: { 200: jsonResponse('The placement plan.', z.record(z.string(), z.unknown())), ...refusals(401, 403, 404) },
    },
  },
  '/admin/backends': {
    get: { tags: ['operator'], summary: 'The pool', security: OPERATOR, responses: { 200: jsonResponse('Every backend.', z.array(BackendInfo)), ...refusals(401, 403) } },
    post: {
      tags: ['operator'],
      summary: 'Add a backend',
      security: OPERATOR,
      requestBody: { required: true, content: json(NewBackend) },
      responses: { 201: jsonResponse('Added.', BackendInfo), ...refusals(400, 401, 403, 409) },
    },
  },
  '/admin/backends/{id}': {
    get: { tags: ['operator'], summary: 'One backend', security: OPERATOR, requestParams: { path: backendId }, responses: { 200: jsonResponse('The backend.', BackendInfo), ...refusals(401, 403, 404) } },
    delete: {
      tags: ['operator'],
      summary: 'Remove a backend',
      description: 'It takes no new work and leaves the pool once its running jobs end.',
      security: OPERATOR,
      requestParams: { path: backendId },
      responses: { 200: jsonResponse('The backend as it is now.', BackendInfo), ...refusals(401, 403, 404) },
    },
  },
  '/admin/backends/{id}/drain': {
    post: { tags: ['operator'], summary: 'Stop giving a backend new work', security: OPERATOR, requestParams: { path: backendId }, responses: { 200: jsonResponse('The backend.', BackendInfo), ...refusals(401, 403, 404) } },
  },
  '/admin/backends/{id}/resume': {
    post: { tags: ['operator'], summary: 'Give a drained backend work again', security: OPERATOR, requestParams: { path: backendId }, responses: { 200: jsonResponse('The backend.', BackendInfo), ...refusals(401, 403, 404) } },
  },
};
