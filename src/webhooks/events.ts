// Which engine events become webhooks, and what they say. The payload follows the Standard
// Webhooks shape: {type, timestamp, data}, with data {id, status, outputs, error} of the job.
import type { JobEvent } from '../engine/events.js';
import type { Job, NodeOutput, OutputFile } from '../jobs/job.js';
import { viewContentType } from '../comfy/mime.js';
import { outputAssetId } from '../v2/asset-ids.js';

export type WebhookEventType = 'job.started' | 'job.succeeded' | 'job.failed' | 'job.canceled';

const TYPES: Partial<Record<JobEvent['kind'], { type: WebhookEventType; status: string }>> = {
  started: { type: 'job.started', status: 'running' },
  succeeded: { type: 'job.succeeded', status: 'succeeded' },
  failed: { type: 'job.failed', status: 'failed' },
  cancelled: { type: 'job.canceled', status: 'canceled' },
};

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = Object.values(TYPES).map((t) => t.type);

/** The webhook event an engine event makes, if any. */
export function webhookTypeOf(kind: string): WebhookEventType | undefined {
  return TYPES[kind as JobEvent['kind']]?.type;
}

/**
 * A door's view of a job, for the webhook's `data`: its outputs and error as that door's clients
 * see them in its job view. Called when the event happens; it must not wait for anything.
 */
export type JobView = (job: Job, event: JobEvent) => { outputs: unknown[]; error: unknown };

/** The JSON body of the webhook for this event of this job. */
export function payloadOf(event: JobEvent, job: Job, view: JobView = defaultView): string {
  const { type, status } = TYPES[event.kind]!;
  const { outputs, error } = view(job, event);
  return JSON.stringify({ type, timestamp: new Date(event.at).toISOString(), data: { id: job.id, status, outputs, error } });
}

/** Without a door's own view: outputs as asset references (v2 Output fields known without asking a backend), and the error. */
export function defaultView(job: Job, event: JobEvent): { outputs: unknown[]; error: unknown } {
  return { outputs: event.kind === 'succeeded' ? job.outputs.map((f) => outputOf(job, f)) : [], error: errorOf(job, event) };
}

function outputOf(job: Job, file: OutputFile) {
  const contentType = viewContentType(file.filename);
  return {
    node_id: nodeOf(job, file) ?? null,
    name: file.filename,
    type: kindOf(contentType),
    content_type: contentType,
    id: outputAssetId(job.id, file),
  };
}

function kindOf(contentType: string): string {
  const top = contentType.split('/')[0];
  if (top === 'image' || top === 'video' || top === 'audio') return top;
  if (top === 'text' || contentType === 'application/json') return 'text';
  return 'file';
}

/** The output node that reported this file, from what the job recorded. */
function nodeOf(job: Job, file: OutputFile): string | undefined {
  const reported: Pick<NodeOutput, 'node' | 'output'>[] = [...(job.nodeOutputs ?? []), ...Object.entries(job.record?.outputs ?? {}).map(([node, output]) => ({ node, output }))];
  for (const { node, output } of reported) {
    if (!output || typeof output !== 'object') continue;
    for (const list of Object.values(output as Record<string, unknown>)) {
      if (!Array.isArray(list)) continue;
      if (list.some((f) => f && typeof f === 'object' && f.filename === file.filename && (f.subfolder ?? '') === file.subfolder && (f.type ?? 'output') === file.type)) return node;
    }
  }
  return undefined;
}

function errorOf(job: Job, event: JobEvent): unknown {
  if (event.kind === 'failed') {
    const { message, node_id, node_type, exception_type, traceback } = event.error;
    return {
      code: node_id ? 'node_execution_error' : 'execution_failed',
      message,
      node_id: node_id ?? null,
      class_type: node_type ?? null,
      ...(exception_type !== undefined && { exception_type }),
      traceback: traceback?.length ? traceback.join('') : null,
    };
  }
  if (event.kind === 'cancelled') return { code: 'canceled', message: event.reason || job.error || 'canceled' };
  return null;
}
