// Which engine events become webhooks, and what they say. The payload follows the Standard
// Webhooks shape, {type, timestamp, data}, with data {id, status, outputs, error} of the job as the
// v2 job view shows them (for a job of any door: every job is seen there by its id). Made when the
// event happens, so nothing here may wait: an output's size is not asked of its backend (null).
import type { JobEvent } from '../engine/events.js';
import type { Job } from '../jobs/job.js';
import { errorView, expiresAt, outputView } from '../v2/job-view.js';
import { jobOutputs } from '../v2/outputs.js';

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
 * The JSON body of the webhook for this event of this job. Output URLs are paths on the bridge's
 * main port (a webhook answers no request, so there is no host to name).
 */
export function payloadOf(event: JobEvent, job: Job, now = Date.now()): string {
  const { type, status } = TYPES[event.kind]!;
  const expires = expiresAt(job, now);
  const outputs = jobOutputs(job).map((o) => outputView(o, undefined, '', expires));
  return JSON.stringify({ type, timestamp: new Date(event.at).toISOString(), data: { id: job.id, status, outputs, error: errorView(job) } });
}
