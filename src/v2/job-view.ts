// The spec's Job object, made from an engine job and a few facts about it. Pure: the door gathers
// the facts (queue place, a cancel asked, nodes done, output sizes) and this says what they mean.
//
// Status: queued (waiting in the bridge, or handed to a backend that has not started it) →
// running → succeeded | failed | canceled; a cancel asked through this API shows as canceling
// until the job is final. A final job past its retention (the engine sweeps it then) is expired.
import type { Job } from '../jobs/job.js';
import { isFinal, isOnBackend } from '../jobs/job.js';
import type { JobEvent } from '../engine/index.js';
import { COLLECTED_RETENTION_MS, FINISHED_RETENTION_MS } from '../engine/index.js';
import { failureDetails } from '../engine/comfy-events.js';
import { viewContentType } from '../comfy/mime.js';
import { jobOutputs } from './outputs.js';
import type { JobOutput, OutputKind } from './outputs.js';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'canceling' | 'canceled' | 'failed' | 'expired';

export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'canceled', 'failed', 'expired']);

export interface ProgressView {
  value: number;
  nodes_done: number;
  nodes_total: number;
  current_node: string | null;
  current_node_class: string | null;
  step: number | null;
  steps: number | null;
  message: string | null;
}

export interface OutputView {
  node_id: string;
  name: string;
  type: OutputKind;
  content_type: string;
  /** null when the backend that holds the file could not be asked. */
  size_bytes: number | null;
  id: string;
  hash: string | null;
  url: string;
  url_expires_at: string;
}

export interface JobErrorView {
  code: string;
  message: string;
  node_id: string | null;
  class_type: string | null;
  traceback: string | null;
}

export interface JobUrls {
  self: string;
  events: string;
  cancel: string;
}

export interface JobView {
  id: string;
  status: JobStatus;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  expires_at: string;
  queue_position: number | null;
  progress: ProgressView | null;
  outputs: OutputView[];
  error: JobErrorView | null;
  metrics: { queue_ms: number | null; execution_ms: number | null };
  urls: JobUrls;
}

/** What the door knows about a job besides the job itself. */
export interface JobFacts {
  job: Job;
  now: number;
  /** 1-based place among the jobs waiting in the bridge (engine.position), when it waits there. */
  position: number | undefined;
  /** A cancel was asked through this API. */
  cancelAsked: boolean;
  /** Its backend said it started (heard before the job's record may say so). */
  started: boolean;
  /** Nodes done, as followed from the job's events. */
  nodesDone: number;
  /** An output's size in bytes, by asset id, when known. */
  sizeOf(assetId: string): number | undefined;
  /** Where links point: the origin the client reached (http://host:port), or '' for relative links. */
  base: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** When the engine's sweep drops the job: 24 h after it finished, 10 min after its results were collected. */
export function expiresAt(job: Job, now: number): number {
  // Not finished: kept at least this long from now.
  if (!isFinal(job)) return now + FINISHED_RETENTION_MS;
  const finished = (job.finishedAt ?? now) + FINISHED_RETENTION_MS;
  return job.collectedAt === undefined ? finished : Math.min(finished, job.collectedAt + COLLECTED_RETENTION_MS);
}

export function statusOf(job: Job, cancelAsked: boolean, now: number, started = false): JobStatus {
  if (isFinal(job) && now >= expiresAt(job, now)) return 'expired';
  switch (job.state) {
    case 'completed':
      return 'succeeded';
    case 'failed':
      return 'failed';
    case 'cancelled':
      return 'canceled';
    case 'running':
      return cancelAsked ? 'canceling' : 'running';
    default:
      if (cancelAsked) return 'canceling';
      return started && isOnBackend(job) ? 'running' : 'queued';
  }
}

/** A job event that ends the job, and the status it ends in. */
export function isFinalEvent(event: JobEvent): event is JobEvent & { kind: 'succeeded' | 'failed' | 'cancelled' } {
  return event.kind === 'succeeded' || event.kind === 'failed' || event.kind === 'cancelled';
}

export function finalStatusOf(event: JobEvent & { kind: 'succeeded' | 'failed' | 'cancelled' }): JobStatus {
  return event.kind === 'succeeded' ? 'succeeded' : event.kind === 'failed' ? 'failed' : 'canceled';
}

/** 1-based in the bridge's queue, 0 once a backend has it but has not started it, null otherwise. */
export function queuePosition(job: Job, status: JobStatus, position: number | undefined): number | null {
  if (status !== 'queued') return null;
  return job.state === 'queued' ? (position ?? null) : 0;
}

export function progressView(job: Job, status: JobStatus, nodesDone: number): ProgressView | null {
  if (status === 'expired' || (job.progress === undefined && status !== 'succeeded')) return null;
  const total = Object.keys(job.prompt).length;
  if (status === 'succeeded') {
    return { value: 1, nodes_done: total, nodes_total: total, current_node: null, current_node_class: null, step: null, steps: null, message: null };
  }
  const p = job.progress!;
  const live = status === 'running' || status === 'canceling';
  const node = live ? (p.node ?? null) : null;
  const nodeClass = node !== null ? (job.prompt[node]?.class_type ?? null) : null;
  const step = node !== null && p.step !== undefined ? p.step : null;
  const steps = node !== null && p.steps !== undefined ? p.steps : null;
  let message: string | null = null;
  if (node !== null) message = `${nodeClass ?? `node ${node}`}${step !== null && steps !== null ? ` ${step}/${steps}` : ''}`;
  return {
    value: Math.min(1, Math.max(0, p.value)),
    nodes_done: Math.min(total, nodesDone),
    nodes_total: total,
    current_node: node,
    current_node_class: nodeClass,
    step,
    steps,
    message,
  };
}

export function outputView(output: JobOutput, size: number | undefined, base: string, expires: number): OutputView {
  return {
    node_id: output.node,
    name: output.file.filename,
    type: output.kind,
    content_type: viewContentType(output.file.filename),
    size_bytes: size ?? null,
    id: output.id,
    hash: null,
    url: `${base}/api/v2/assets/${output.id}/content`,
    url_expires_at: iso(expires),
  };
}

/** The failure of a failed job: a node's exception as the backend recorded it, else why the bridge gave up. */
export function errorView(job: Job): JobErrorView | null {
  if (job.state !== 'failed') return null;
  const d = failureDetails(job.record, undefined);
  if (d.exception_message !== undefined || d.node_id !== undefined) {
    const exception = d.exception_message?.trim();
    const message = d.exception_type && exception ? `${d.exception_type}: ${exception}` : (exception || job.error || 'the node failed');
    return {
      code: 'node_execution_error',
      message,
      node_id: d.node_id ?? null,
      class_type: d.node_type ?? null,
      traceback: d.traceback && d.traceback.length ? d.traceback.join('') : null,
    };
  }
  return { code: 'execution_failed', message: job.error ?? 'the job failed', node_id: null, class_type: null, traceback: null };
}

export function metricsOf(job: Job, now: number): JobView['metrics'] {
  const end = job.finishedAt ?? now;
  return {
    queue_ms: Math.max(0, (job.startedAt ?? end) - job.createdAt),
    execution_ms: job.startedAt !== undefined ? Math.max(0, end - job.startedAt) : null,
  };
}

export function urlsOf(base: string, id: string): JobUrls {
  const self = `${base}/api/v2/jobs/${encodeURIComponent(id)}`;
  return { self, events: `${self}/events`, cancel: `${self}/cancel` };
}

export function jobView(facts: JobFacts): JobView {
  const { job, now, base } = facts;
  const status = statusOf(job, facts.cancelAsked, now, facts.started);
  const expires = expiresAt(job, now);
  const outputs = status === 'expired' ? [] : jobOutputs(job).map((o) => outputView(o, facts.sizeOf(o.id), base, expires));
  return {
    id: job.id,
    status,
    created_at: iso(job.createdAt),
    started_at: job.startedAt !== undefined ? iso(job.startedAt) : null,
    completed_at: isFinal(job) && job.finishedAt !== undefined ? iso(job.finishedAt) : null,
    expires_at: iso(expires),
    queue_position: queuePosition(job, status, facts.position),
    progress: progressView(job, status, facts.nodesDone),
    outputs,
    error: errorView(job),
    metrics: metricsOf(job, now),
    urls: urlsOf(base, job.id),
  };
}
