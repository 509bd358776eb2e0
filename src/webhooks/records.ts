// The outbox's records: one delivery per (job, webhook event), in the engine collection
// `webhook-deliveries`, so it is written with the job's own change (the same store commit) and
// survives restarts and fail-overs. The record holds the exact body that is signed and sent, so
// every attempt and every redelivery sends the same bytes under the same webhook-id.
import type { WebhookEventType } from './events.js';

export const DELIVERIES = 'webhook-deliveries';

export type DeliveryStatus = 'pending' | 'delivered' | 'dead';
export const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['pending', 'delivered', 'dead'];

/** One attempt, as the operator sees it. */
export interface Attempt {
  /** When it started (ms since the epoch). */
  at: number;
  /** How long it took. */
  ms: number;
  /** The receiver's status code, when it answered. */
  status?: number;
  /** Why there was no answer, or what the answer meant. */
  error?: string;
}

/** Attempts kept per record (the latest); `attempts` counts them all. */
export const ATTEMPTS_KEPT = 20;

export interface Delivery {
  /** The webhook-id: the same for every attempt and redelivery, so receivers can drop repeats. */
  id: string;
  type: WebhookEventType;
  jobId: string;
  /** The engine event's number in its job (`seq`): a job's deliveries are sent in this order. */
  seq: number;
  /** The job's owner, whose secret signs the delivery. */
  tenant: string;
  url: string;
  /** The JSON body, exactly as signed and sent. */
  body: string;
  status: DeliveryStatus;
  createdAt: number;
  /** Start of the current retry window: the event, or the operator's redelivery. */
  since: number;
  /** While pending: when the next attempt is due. */
  nextAt: number;
  /** Attempts made so far (over redeliveries too). */
  attempts: number;
  /** Failed attempts in the current window: the back-off grows with them. */
  failures: number;
  /** The latest attempts, oldest first. */
  log: Attempt[];
  /** When it was delivered or given up. */
  finishedAt?: number;
  /** Why it was given up. */
  reason?: string;
}

const SHORT: Record<WebhookEventType, string> = {
  'job.started': 'started',
  'job.succeeded': 'succeeded',
  'job.failed': 'failed',
  'job.canceled': 'canceled',
};

/** The one id of a job's event: the same event never makes a second delivery. */
export function deliveryId(jobId: string, type: WebhookEventType): string {
  return `msg_${jobId}_${SHORT[type]}`;
}

/** The record after an attempt, with the attempt logged (bounded). */
export function withAttempt(d: Delivery, attempt: Attempt, next: Partial<Delivery>): Delivery {
  const log = [...d.log, attempt].slice(-ATTEMPTS_KEPT);
  return { ...d, ...next, attempts: d.attempts + 1, log };
}

/** The record sent again from now: pending, with a fresh retry window and the same id. */
export function redelivered(d: Delivery, now: number): Delivery {
  const { finishedAt: _f, reason: _r, ...rest } = d;
  return { ...rest, status: 'pending', since: now, nextAt: now, failures: 0 };
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** What the operator's list shows of a delivery. */
export function summaryOf(d: Delivery) {
  const last = d.log.at(-1);
  return {
    id: d.id,
    type: d.type,
    job_id: d.jobId,
    tenant: d.tenant,
    url: d.url,
    status: d.status,
    created_at: iso(d.createdAt),
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? iso(d.nextAt) : null,
    finished_at: iso(d.finishedAt),
    reason: d.reason ?? null,
    last_attempt: last ? attemptView(last) : null,
  };
}

function attemptView(a: Attempt) {
  return { at: iso(a.at), duration_ms: a.ms, status_code: a.status ?? null, error: a.error ?? null };
}

/** One delivery in full: its attempts and the payload sent. */
export function detailOf(d: Delivery) {
  let payload: unknown;
  try {
    payload = JSON.parse(d.body);
  } catch {
    payload = d.body;
  }
  return { ...summaryOf(d), retry_window_started_at: iso(d.since), attempts_shown: d.log.map(attemptView), payload };
}
