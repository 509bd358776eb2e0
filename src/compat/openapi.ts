// The ComfyUI-compatible door in an OpenAPI document of its own (its own port, and paths that
// collide with the curated door's: /history, /interrupt, /free). Its answers are ComfyUI's, so its
// checks stay ComfyUI's, in ComfyUI's words. POST /prompt's envelope is checked with the schema
// here (every problem in the one error's details); the rest this module only describes. Every path
// is also served under /api, which the document says with a second server.
import { z } from 'zod';
import type { ZodOpenApiPathsObject, ZodOpenApiResponseObject } from 'zod-openapi';
import { AnyObject, CLIENT, OPERATOR, RetryAfter, Tier, json, jsonResponse } from '../openapi/common.js';
import { FOLDER_TYPES } from '../comfy/file-names.js';

export const ComfyError = z
  .object({
    error: z.object({ type: z.string().meta({ example: 'prompt_outputs_failed_validation' }), message: z.string(), details: z.string(), extra_info: z.record(z.string(), z.unknown()) }),
    node_errors: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'ComfyError', description: 'ComfyUI\'s error shape (POST /prompt), also for refusals of the bridge\'s own (unauthorized, queue_full, no_backend).' });

const JobsError = z.object({ error: z.string(), invalid_ids: z.array(z.string()).optional() }).meta({ id: 'ComfyJobsError', description: 'The jobs API\'s refusals.' });

/** A bare status with a one-line reason (ComfyUI sends these empty). */
const reason = (description: string): ZodOpenApiResponseObject => ({ description, content: { 'text/plain': { schema: z.string() } } });
const comfyError = (description: string): ZodOpenApiResponseObject => jsonResponse(description, ComfyError);
const unauthorized = { 401: comfyError('`unauthorized`: an API key is required (`Authorization: Bearer <key>`).') };
const forbidden = { 403: comfyError('`forbidden`: this action reaches everyone\'s work and needs the admin token.') };
const empty = { description: 'Done (an empty body, as ComfyUI answers).' };
const noBackend = { 503: { ...comfyError('`no_backend`: no ComfyUI backend is healthy; retry after Retry-After.'), headers: z.object({ 'Retry-After': RetryAfter }) } };
const passedOn = (what: string) => jsonResponse(`${what}, as a healthy backend answers it (cached).`, AnyObject);

const QueueActions = z.object({ delete: z.array(z.string()).optional(), clear: z.boolean().optional() }).meta({ description: '`clear` reaches every client\'s waiting prompts of the caller\'s key (admin token).' });
/** What ComfyUI's float() takes of what JSON carries: a number, a numeric string, a boolean. */
export function toFloat(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export const NO_PROMPT_MESSAGE = 'No prompt provided';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const numberError = (issue: { input?: unknown }) => `"number" must be a number, got ${JSON.stringify(issue.input)?.slice(0, 100)}`;

/** A problem of the envelope in ComfyUI's words: its error type and message, by field. */
export const PROMPT_FIELD_ERRORS: Record<string, { type: string; message: string }> = {
  number: { type: 'invalid_prompt', message: 'Invalid number' },
  prompt: { type: 'invalid_prompt', message: 'Invalid prompt' },
  extra_data: { type: 'invalid_prompt', message: 'Invalid extra_data' },
  prompt_id: { type: 'invalid_prompt_id', message: 'Invalid prompt_id format' },
  partial_execution_targets: { type: 'invalid_prompt', message: 'Invalid partial_execution_targets' },
  priority: { type: 'invalid_priority', message: 'Invalid priority' },
};

/**
 * POST /prompt's body, as ComfyUI's server.py reads it (its lenient `number` and `front`), with the
 * bridge's `priority`. Other fields are ignored, as ComfyUI ignores them.
 */
export const PromptRequest = z
  .looseObject({
    number: z
      .union([z.number(), z.string(), z.boolean()], { error: numberError })
      .refine((n) => toFloat(n) !== undefined, { error: numberError })
      .optional()
      .meta({ description: 'The queue number to use (a number, or what Python\'s float() takes); without it the next one is counted.' }),
    prompt: z
      .record(z.string(), z.unknown(), { error: (issue) => (issue.input === undefined ? NO_PROMPT_MESSAGE : '"prompt" must be an object of node id → {"class_type", "inputs"}') })
      .meta({ description: 'The API-format graph.' }),
    extra_data: z.record(z.string(), z.unknown(), { error: '"extra_data" must be an object' }).optional(),
    prompt_id: z
      .string({ error: (issue) => promptIdError(issue.input) })
      .regex(UUID, { error: (issue) => promptIdError(issue.input) })
      .nullish()
      .meta({ description: 'A canonical UUID of the client\'s choosing.' }),
    partial_execution_targets: z.array(z.string(), { error: '"partial_execution_targets" must be a list of output node ids' }).nullish(),
    priority: Tier.nullish(),
    client_id: z.unknown().optional().meta({ description: 'The clientId of the websocket that hears this prompt\'s events (copied into extra_data.client_id).' }),
    front: z.unknown().optional().meta({ description: 'Truthy (as Python sees it): ahead of the caller\'s other prompts, in the highest priority tier the key may use.' }),
  })
  .meta({ id: 'ComfyPromptRequest' });

function promptIdError(input: unknown): string {
  return `prompt_id must be a lowercase hyphenated UUID such as "3f2b8c1e-5d4a-4e8b-9c7d-2a1b0c9d8e7f", got ${JSON.stringify(input)?.slice(0, 100)}`;
}

const PromptAccepted = z.object({ prompt_id: z.string(), number: z.number(), node_errors: z.record(z.string(), z.unknown()) });
const Upload = z.object({
  image: z.string().meta({ format: 'binary' }),
  subfolder: z.string().optional(),
  type: z.enum(FOLDER_TYPES as unknown as [string, ...string[]]).optional(),
  overwrite: z.string().optional().meta({ description: '"true" or "1" to replace a file of that name.' }),
});
const Uploaded = z.object({ name: z.string(), subfolder: z.string(), type: z.string() });
const promptId = z.object({ prompt_id: z.string() });
const jobId = z.object({ job_id: z.string() });
const file = { 'image/*': { schema: z.string().meta({ format: 'binary' }) }, 'application/octet-stream': { schema: z.string().meta({ format: 'binary' }) } };

export const compatPaths: ZodOpenApiPathsObject = {
  '/prompt': {
    get: { tags: ['comfyui'], summary: 'The queue length', security: CLIENT, responses: { 200: jsonResponse('How many prompts wait or run.', z.object({ exec_info: z.object({ queue_remaining: z.number().int() }) })), ...unauthorized } },
    post: {
      tags: ['comfyui'],
      summary: 'Queue a graph',
      description: 'Checked as ComfyUI checks it, against the pool\'s /object_info; runs on whichever backend the scheduler picks. Progress arrives on the websocket /ws?clientId=<client_id>.',
      security: CLIENT,
      requestBody: { required: true, content: json(PromptRequest) },
      responses: { 200: jsonResponse('Queued.', PromptAccepted), 400: comfyError('Not valid (`invalid_prompt`, `prompt_outputs_failed_validation` with node_errors).'), ...unauthorized, 413: comfyError('Larger than MAX_PROMPT_BYTES.'), 429: comfyError('`queue_full`.'), ...noBackend },
    },
  },
  '/queue': {
    get: { tags: ['comfyui'], summary: 'Running and pending prompts of the caller', security: CLIENT, responses: { 200: jsonResponse('ComfyUI\'s queue lists.', z.object({ queue_running: z.array(z.unknown()), queue_pending: z.array(z.unknown()) })), ...unauthorized } },
    post: { tags: ['comfyui'], summary: 'Delete or clear pending prompts', security: CLIENT, requestBody: { required: true, content: json(QueueActions) }, responses: { 200: empty, 400: reason('Not a JSON object.'), ...unauthorized, ...forbidden } },
  },
  '/interrupt': {
    post: {
      tags: ['comfyui'],
      summary: 'Interrupt a prompt',
      description: 'With `prompt_id`, that prompt; without, whatever runs (admin token).',
      security: CLIENT,
      requestBody: { required: false, content: json(z.object({ prompt_id: z.string().optional() })) },
      responses: { 200: empty, ...unauthorized, ...forbidden },
    },
  },
  '/free': {
    post: {
      tags: ['comfyui'],
      summary: 'Free memory on every backend',
      security: OPERATOR,
      requestBody: { required: true, content: json(z.object({ unload_models: z.boolean().optional(), free_memory: z.boolean().optional() })) },
      responses: { 200: empty, 400: reason('Not a JSON object.'), ...unauthorized, ...forbidden },
    },
  },
  '/history': {
    get: {
      tags: ['comfyui'],
      summary: 'Finished prompts of the caller',
      security: CLIENT,
      requestParams: { query: z.object({ max_items: z.string().optional().meta({ description: 'An integer.' }), offset: z.string().optional().meta({ description: 'An integer.' }) }) },
      responses: { 200: jsonResponse('By prompt id.', z.record(z.string(), z.unknown())), 400: reason('Not an integer.'), ...unauthorized },
    },
    post: { tags: ['comfyui'], summary: 'Forget finished prompts', security: CLIENT, requestBody: { required: true, content: json(QueueActions) }, responses: { 200: empty, 400: reason('Not a JSON object.'), ...unauthorized, ...forbidden } },
  },
  '/history/{prompt_id}': {
    get: { tags: ['comfyui'], summary: 'One finished prompt', security: CLIENT, requestParams: { path: promptId }, responses: { 200: jsonResponse('Empty ({}) when there is no such prompt of the caller.', z.record(z.string(), z.unknown())), ...unauthorized } },
  },
  '/jobs': {
    get: {
      tags: ['comfyui'],
      summary: 'The caller\'s jobs (ComfyUI\'s jobs API)',
      security: CLIENT,
      requestParams: {
        query: z.object({
          status: z.string().optional().meta({ description: 'Comma-separated statuses.' }),
          workflow_id: z.string().optional(),
          sort_by: z.enum(['created_at', 'execution_duration']).optional(),
          sort_order: z.enum(['asc', 'desc']).optional(),
          limit: z.string().optional().meta({ description: 'A positive integer.' }),
          offset: z.string().optional().meta({ description: 'An integer.' }),
        }),
      },
      responses: { 200: jsonResponse('A page of jobs.', z.object({ jobs: z.array(z.unknown()), pagination: z.record(z.string(), z.unknown()) })), 400: jsonResponse('A parameter is not valid.', JobsError), ...unauthorized },
    },
  },
  '/jobs/cancel': {
    post: {
      tags: ['comfyui'],
      summary: 'Cancel several jobs',
      security: CLIENT,
      requestBody: { required: true, content: json(z.object({ job_ids: z.array(z.string().meta({ format: 'uuid' })) })) },
      responses: { 200: jsonResponse('Whether any was cancelled.', z.object({ cancelled: z.boolean() })), 400: jsonResponse('Not valid.', JobsError), ...unauthorized },
    },
  },
  '/jobs/{job_id}': {
    get: { tags: ['comfyui'], summary: 'One job', security: CLIENT, requestParams: { path: jobId }, responses: { 200: jsonResponse('The job.', AnyObject), 404: jsonResponse('`Job not found`.', JobsError), ...unauthorized } },
  },
  '/jobs/{job_id}/cancel': {
    post: { tags: ['comfyui'], summary: 'Cancel one job', security: CLIENT, requestParams: { path: jobId }, responses: { 200: jsonResponse('Whether it was cancelled.', z.object({ cancelled: z.boolean() })), ...unauthorized } },
  },
  '/view': {
    get: {
      tags: ['comfyui'],
      summary: 'A file: an output (streamed from the backend that made it) or an upload',
      security: CLIENT,
      requestParams: {
        query: z.object({
          filename: z.string(),
          type: z.enum(FOLDER_TYPES as unknown as [string, ...string[]]).optional(),
          subfolder: z.string().optional(),
          preview: z.string().optional(),
          channel: z.string().optional(),
        }),
        header: z.object({ Range: z.string().optional() }),
      },
      responses: { 200: { description: 'The file.', content: file }, 206: { description: 'The range asked for.', content: file }, 400: reason('Not a valid name.'), 403: reason('The subfolder leaves its folder.'), 404: reason('No such file.'), 502: reason('The backend did not answer.'), ...unauthorized },
    },
  },
  '/upload/image': {
    post: { tags: ['comfyui'], summary: 'Upload an input image', security: CLIENT, requestBody: { required: true, content: { 'multipart/form-data': { schema: Upload } } }, responses: { 200: jsonResponse('Where it was stored.', Uploaded), 400: reason('Not valid.'), 413: reason('Larger than UPLOAD_MAX_SIZE.'), ...unauthorized } },
  },
  '/upload/mask': {
    post: {
      tags: ['comfyui'],
      summary: 'Upload a mask for an image',
      security: CLIENT,
      requestBody: { required: true, content: { 'multipart/form-data': { schema: Upload.extend({ original_ref: z.string().meta({ description: 'JSON {"filename", "subfolder", "type"} of the image.' }) }) } } },
      responses: { 200: jsonResponse('Where it was stored.', Uploaded), 400: reason('Not valid.'), 413: reason('Larger than UPLOAD_MAX_SIZE.'), ...unauthorized },
    },
  },
  '/object_info': { get: { tags: ['comfyui'], summary: 'Every node class', security: CLIENT, responses: { 200: passedOn('/object_info'), ...unauthorized, ...noBackend } } },
  '/object_info/{node_class}': {
    get: { tags: ['comfyui'], summary: 'One node class', security: CLIENT, requestParams: { path: z.object({ node_class: z.string() }) }, responses: { 200: passedOn('Its entry of /object_info ({} when unknown)'), ...unauthorized, ...noBackend } },
  },
  '/embeddings': { get: { tags: ['comfyui'], summary: 'Embedding names', security: CLIENT, responses: { 200: passedOn('/embeddings'), ...unauthorized, ...noBackend } } },
  '/models': { get: { tags: ['comfyui'], summary: 'Model folders', security: CLIENT, responses: { 200: passedOn('/models'), ...unauthorized, ...noBackend } } },
  '/models/{folder}': {
    get: { tags: ['comfyui'], summary: 'Models in a folder', security: CLIENT, requestParams: { path: z.object({ folder: z.string() }) }, responses: { 200: passedOn('/models/{folder}'), 404: reason('No such model folder.'), ...unauthorized, ...noBackend } },
  },
  '/features': { get: { tags: ['comfyui'], summary: 'Server features', security: CLIENT, responses: { 200: passedOn('/features, with supports_preview_metadata and max_upload_size of the bridge'), ...unauthorized, ...noBackend } } },
  '/system_stats': {
    get: { tags: ['comfyui'], summary: 'System and the devices of every healthy backend', security: CLIENT, responses: { 200: jsonResponse('The first backend\'s system, every backend\'s devices.', z.object({ system: z.unknown(), devices: z.array(z.unknown()) })), ...unauthorized, ...noBackend } },
  },
};
