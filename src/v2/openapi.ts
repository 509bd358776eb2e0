// The Comfy API v2 door in the OpenAPI document (src/openapi): the request schemas the routes check
// requests with, and the spec's objects it answers with. Names, codes and statuses follow the Comfy
// API v2 contract; every refusal is its ErrorEnvelope.
import { z } from 'zod';
import type { ZodOpenApiPathsObject, ZodOpenApiResponsesObject } from 'zod-openapi';
import { AnyObject, CLIENT, OPEN, RetryAfter, Tier, json, jsonResponse } from '../openapi/common.js';
import { MAX_PATH_CHARS, MAX_TAGS, MAX_TAG_CHARS } from './assets.js';

export const ErrorEnvelope = z
  .object({
    error: z.object({
      code: z.string().meta({ description: 'Machine-readable: invalid_request, invalid_workflow, workflow_format_ui, invalid_inputs, missing_asset, blob_not_found, hash_mismatch, idempotency_key_reuse, idempotency_conflict, queue_full, too_many_streams, unauthorized, forbidden, not_found, method_not_allowed, payload_too_large, unsupported_media_type, range_not_satisfiable, upstream_error, unavailable, internal_error, …', example: 'invalid_workflow' }),
      message: z.string(),
      details: z.record(z.string(), z.unknown()).optional().meta({ description: 'For a program to act on: node_errors per node, problems, …' }),
    }),
  })
  .meta({ id: 'ErrorEnvelope', description: 'Every refusal of the v2 door.' });

const REFUSALS: Record<number, string> = {
  400: '`invalid_request`: the body is not JSON or not an object.',
  401: '`unauthorized`: an API key is required.',
  403: '`forbidden`.',
  404: '`not_found` (another key\'s job or asset answers as a missing one).',
  409: '`idempotency_conflict`: a request with this Idempotency-Key is still being handled; retry after Retry-After.',
  413: '`payload_too_large`.',
  415: '`unsupported_media_type`.',
  416: '`range_not_satisfiable`.',
  422: 'The request is not valid; the code and details say how.',
  429: '`queue_full` (MAX_QUEUE, or MAX_JOBS_PER_CLIENT for the key), or `too_many_streams`; retry after Retry-After.',
  502: '`upstream_error`: a backend did not answer.',
  503: '`unavailable`: the bridge is not ready or its job store is unreachable.',
};

/** The ErrorEnvelope refusals a route may answer. */
export function refusals(...statuses: number[]): ZodOpenApiResponsesObject {
  const out: ZodOpenApiResponsesObject = {};
  for (const s of statuses) {
    const retry = s === 409 || s === 429 || s === 503;
    out[String(s) as '400'] = jsonResponse(REFUSALS[s] ?? 'Refused.', ErrorEnvelope, retry ? z.object({ 'Retry-After': RetryAfter }) : undefined);
  }
  return out;
}

// ── requests ──────────────────────────────────────────────────────────────────────────────────

/** An Idempotency-Key of the job routes: checked with this schema (door.ts, idempotency.ts checkKey). */
export const IdempotencyKeyValue = z.string().regex(/^[\x21-\x7e]{1,255}$/, { error: 'Idempotency-Key must be 1 to 255 visible ASCII characters (a uuid is recommended)' });
const IdempotencyKey = z.object({
  'Idempotency-Key': IdempotencyKeyValue.optional().meta({ description: '1 to 255 visible ASCII characters (a uuid is recommended). A retry with the same key and body replays the recorded answer (Idempotency-Replayed: true); another body is 422 idempotency_key_reuse; one still in flight is 409.' }),
});
const WebhookUrl = z.object({ 'Webhook-Url': z.string().optional().meta({ description: 'Called when the job ends (when webhooks are enabled); defaults to the key\'s own.' }) });

/** A UI-format export ("nodes" and "links"), sent where the API-format graph belongs. */
export const isUiExport = (value: Record<string, unknown>) => Array.isArray(value.nodes) && 'links' in value;
export const UI_FORMAT_MESSAGE = 'this is a UI-format workflow (the export with "nodes" and "links"); export it with "Export (API)" and send that graph as {"workflow": <graph>}';
/** The refusal's code for a UI-format export, carried by its issue (submission.ts readEnvelope reads it). */
export const UI_FORMAT = { code: 'workflow_format_ui' };

const Graph = z
  .record(z.string(), z.unknown(), {
    error: (issue) => (issue.input === undefined ? '"workflow" is required: the API-format graph ("Export (API)" in ComfyUI), as {"workflow": <graph>}' : '"workflow" must be an object of node id → {"class_type", "inputs"}'),
  })
  .refine((graph) => !isUiExport(graph), { error: UI_FORMAT_MESSAGE, params: UI_FORMAT })
  .meta({ description: 'The API-format graph ("Export (API)" in ComfyUI): node id → {"class_type", "inputs"}.' });

/** POST /api/v2/jobs's body. Any other field is refused (`webhook_url` and `inputs` are reserved by the spec). */
export const JobSubmission = z
  .strictObject({ workflow: Graph, priority: Tier.nullish() }, { error: 'the body must be a JSON object: {"workflow": <API-format graph>}' })
  .meta({ id: 'JobSubmission', description: 'Checked like ComfyUI checks POST /prompt, against the pool\'s /object_info.' });

/** POST /api/v2/workflows/{alias}/jobs's body (optional). Any other field is refused. */
export const WorkflowJobSubmission = z
  .strictObject(
    {
      inputs: z
        .record(z.string(), z.unknown(), { error: '"inputs" must be an object of "<node>/<input>": value' })
        .refine((inputs) => !('workflow' in inputs), { error: 'unknown input "workflow"' })
        .optional()
        .meta({ description: '`"<node>/<input>": value` for the inputs the workflow exposes (GET /workflow-info lists them).' }),
      priority: Tier.nullish(),
    },
    { error: 'the body must be a JSON object: {"inputs": {"<node>/<input>": value}}' },
  )
  .meta({ id: 'WorkflowJobSubmission' });

const filePath = z
  .string({ error: `"file_path" must be a file name of 1 to ${MAX_PATH_CHARS} characters without control characters` })
  .min(1, { error: `"file_path" must be a file name of 1 to ${MAX_PATH_CHARS} characters without control characters` })
  .max(MAX_PATH_CHARS, { error: `"file_path" must be a file name of 1 to ${MAX_PATH_CHARS} characters without control characters` })
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\x00-\x1f\x7f]*$/, { error: `"file_path" must be a file name of 1 to ${MAX_PATH_CHARS} characters without control characters` })
  .meta({ example: 'photo.png' });
const tagsError = `"tags" must be a list of at most ${MAX_TAGS} strings of 1 to ${MAX_TAG_CHARS} characters`;
const tags = z.array(z.string({ error: tagsError }).min(1, { error: tagsError }).max(MAX_TAG_CHARS, { error: tagsError }), { error: tagsError }).max(MAX_TAGS, { error: tagsError });

export const FromHashBody = z
  .object(
    {
      hash: z.string({ error: '"hash" is required: the blake3:<hex> of bytes you uploaded before' }).meta({ example: 'blake3:9f8a1c0d…' }),
      file_path: filePath.nullish(),
      tags: tags.nullish(),
    },
    { error: 'send a JSON object: {"hash": "blake3:<hex>", "file_path"?, "tags"?}' },
  )
  .meta({ id: 'AssetFromHash' });

const AssetUpload = z.object({
  file: z.string().meta({ format: 'binary', description: 'The bytes.' }),
  content_type: z.string().meta({ example: 'image/png' }),
  file_path: filePath,
  expected_hash: z.string().optional().meta({ description: '`blake3:<hex>`: checked against the hash of the bytes received (409 hash_mismatch).' }),
  tags: z.array(z.string()).optional().meta({ description: 'Repeated `tags` fields, or one holding a JSON list.' }),
});

// ── answers ───────────────────────────────────────────────────────────────────────────────────

const iso = z.string().meta({ format: 'date-time' });

export const Asset = z
  .object({
    id: z.string(),
    hash: z.string().nullable().meta({ description: '`blake3:<hex>`; null for job outputs, which are not hashed.' }),
    size_bytes: z.number().int(),
    content_type: z.string(),
    file_path: z.string().nullable(),
    tags: z.array(z.string()),
    created_new: z.boolean().optional().meta({ description: 'On create answers: new bytes (true) or bytes the bridge had (false).' }),
    created_at: iso,
    url: z.string().meta({ format: 'uri', description: 'A signed content URL: it needs no API key until url_expires_at.' }),
    url_expires_at: iso,
  })
  .meta({ id: 'Asset' });

export const JobStatus = z.enum(['queued', 'running', 'succeeded', 'canceling', 'canceled', 'failed', 'expired']).meta({ id: 'JobStatus' });

export const Progress = z
  .object({
    value: z.number().min(0).max(1),
    nodes_done: z.number().int(),
    nodes_total: z.number().int(),
    current_node: z.string().nullable(),
    current_node_class: z.string().nullable(),
    step: z.number().int().nullable(),
    steps: z.number().int().nullable(),
    message: z.string().nullable(),
  })
  .meta({ id: 'Progress' });

export const Output = z
  .object({
    node_id: z.string(),
    name: z.string(),
    type: z.enum(['image', 'video', 'audio', 'text', 'file', 'latent']),
    content_type: z.string(),
    size_bytes: z.number().int().nullable().meta({ description: 'null when the backend that holds the file could not be asked.' }),
    id: z.string().meta({ description: 'An asset id: GET /api/v2/assets/{id}.' }),
    hash: z.string().nullable(),
    url: z.string(),
    url_expires_at: iso,
  })
  .meta({ id: 'Output' });

export const Job = z
  .object({
    id: z.string(),
    status: JobStatus,
    created_at: iso,
    started_at: iso.nullable(),
    completed_at: iso.nullable(),
    expires_at: iso,
    queue_position: z.number().int().nullable(),
    progress: Progress.nullable(),
    outputs: z.array(Output),
    error: z.object({ code: z.string(), message: z.string(), node_id: z.string().nullable(), class_type: z.string().nullable(), traceback: z.string().nullable() }).nullable(),
    metrics: z.object({ queue_ms: z.number().int().nullable(), execution_ms: z.number().int().nullable() }),
    urls: z.object({ self: z.string(), events: z.string(), cancel: z.string() }),
  })
  .meta({ id: 'Job' });

const Health = z.object({ status: z.literal('healthy'), checks: z.record(z.string(), z.unknown()) });
const created = z.object({
  'Idempotency-Replayed': z.string().optional().meta({ description: '`true` when replayed from an earlier request with the same Idempotency-Key.' }),
  Location: z.string().meta({ description: 'The job\'s URL.' }),
});
const jobId = z.object({ id: z.string().meta({ description: 'A job id (from any door).' }) });
const assetId = z.object({ id: z.string().meta({ description: 'An asset id (an upload or a job output).' }) });
const bytes = { 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } };

export const v2Paths: ZodOpenApiPathsObject = {
  '/api/v2/health': {
    get: { tags: ['v2'], summary: 'Ready to take work', security: OPEN, responses: { 200: jsonResponse('Healthy.', Health), ...refusals(503) } },
  },
  '/api/v2/jobs': {
    post: {
      tags: ['v2'],
      summary: 'Submit a graph',
      description: 'A 201 means the job is recorded and queued. A UI-format export is refused with `workflow_format_ui`; a graph ComfyUI would refuse with `invalid_workflow` and per-node `node_errors`; `inputs` and `webhook_url` are reserved by the spec and refused. Asset references (`{"__type": "core/ASSET", "info": {"id"}}`) in the graph are resolved (`missing_asset`).',
      security: CLIENT,
      requestParams: { header: IdempotencyKey.extend(WebhookUrl.shape) },
      requestBody: { required: true, content: json(JobSubmission) },
      responses: { 201: jsonResponse('Queued.', Job, created), ...refusals(400, 401, 409, 413, 415, 422, 429, 503) },
    },
  },
  '/api/v2/workflows/{alias}/jobs': {
    post: {
      tags: ['v2'],
      summary: 'Run a curated workflow (bridge extension)',
      description: 'Like POST /api/v2/jobs, for a workflow of the bridge\'s catalog with the client\'s input values; a bad value is `invalid_inputs` with every problem in details.problems.',
      security: CLIENT,
      requestParams: { path: z.object({ alias: z.string().meta({ description: 'A workflow alias (GET /workflow-list).' }) }), header: IdempotencyKey.extend(WebhookUrl.shape) },
      requestBody: { required: false, content: json(WorkflowJobSubmission) },
      responses: { 201: jsonResponse('Queued.', Job, created), ...refusals(400, 401, 404, 409, 413, 415, 422, 429, 503) },
    },
  },
  '/api/v2/jobs/{id}': {
    get: { tags: ['v2'], summary: 'A job (poll it)', security: CLIENT, requestParams: { path: jobId }, responses: { 200: jsonResponse('The job.', Job), ...refusals(401, 404) } },
  },
  '/api/v2/jobs/{id}/cancel': {
    post: { tags: ['v2'], summary: 'Ask for a job to be cancelled', description: 'Idempotent: a finished job is answered as it is.', security: CLIENT, requestParams: { path: jobId }, responses: { 200: jsonResponse('The job now.', Job), ...refusals(401, 404) } },
  },
  '/api/v2/jobs/{id}/events': {
    get: {
      tags: ['v2'],
      summary: 'Follow a job (Server-Sent Events)',
      description: 'Events `status`, `progress`, `preview`, `output`, each with an `id:`; a reconnect with Last-Event-ID resumes after it. The stream ends after the final `status`.',
      security: CLIENT,
      requestParams: { path: jobId, header: z.object({ 'Last-Event-ID': z.string().optional() }) },
      responses: { 200: { description: 'The event stream.', content: { 'text/event-stream': { schema: z.string() } } }, ...refusals(401, 404, 429) },
    },
  },
  '/api/v2/assets': {
    post: {
      tags: ['v2'],
      summary: 'Upload an asset',
      description: 'The bytes are hashed (blake3) while received and kept once per key.',
      security: CLIENT,
      requestParams: { header: IdempotencyKey },
      requestBody: { required: true, content: { 'multipart/form-data': { schema: AssetUpload } } },
      responses: { 201: jsonResponse('New bytes stored; asset minted.', Asset), 200: jsonResponse('Bytes the bridge had; asset minted over them.', Asset), ...refusals(401, 404, 409, 413, 415, 422) },
    },
  },
  '/api/v2/assets/from-hash': {
    post: {
      tags: ['v2'],
      summary: 'Mint an asset over bytes uploaded before',
      security: CLIENT,
      requestBody: { required: true, content: json(FromHashBody) },
      responses: { 201: jsonResponse('Minted.', Asset), 200: jsonResponse('The same asset existed.', Asset), ...refusals(401, 404, 413, 415, 422) },
    },
  },
  '/api/v2/assets/by-hash/{hash}': {
    head: {
      tags: ['v2'],
      summary: 'May the caller mint from these bytes',
      security: CLIENT,
      requestParams: { path: z.object({ hash: z.string().meta({ example: 'blake3:9f8a1c0d…' }) }) },
      responses: { 200: { description: 'Yes.' }, 404: { description: '`blob_not_found`.' }, 401: { description: '`unauthorized`.' } },
    },
  },
  '/api/v2/assets/{id}': {
    get: { tags: ['v2'], summary: 'An asset, with a fresh content URL', security: CLIENT, requestParams: { path: assetId }, responses: { 200: jsonResponse('The asset.', Asset), ...refusals(401, 404) } },
  },
  '/api/v2/assets/{id}/content': {
    get: {
      tags: ['v2'],
      summary: 'An asset\'s bytes (Range, HEAD)',
      description: 'With the `signature` and `expires` of its signed URL, no API key is needed.',
      security: [{ apiKey: [] }, {}],
      requestParams: {
        path: assetId,
        query: z.object({ signature: z.string().optional(), expires: z.string().optional() }),
        header: z.object({ Range: z.string().optional().meta({ example: 'bytes=0-1048575' }) }),
      },
      responses: { 200: { description: 'The bytes.', content: bytes }, 206: { description: 'The range asked for.', content: bytes }, ...refusals(401, 403, 404, 416, 502) },
    },
  },
};
