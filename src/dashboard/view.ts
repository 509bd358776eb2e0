// What the dashboard page is sent: plain JSON, one snapshot and then deltas (see feed.ts). Every
// tenant's jobs are in it, which is why only the operator may read it.
import type { Job } from '../jobs/job.js';
import { workUnits } from '../jobs/progress.js';
import type { QueueCounts } from '../engine/index.js';
import type { BackendInfo } from './backends.js';
import type { QueueChange } from './queue-diff.js';

/** A job on a backend, as its row shows it. */
export interface HeldJobView {
  id: string;
  state: string;
  /** 0–1. */
  progress?: number;
  node?: string;
  step?: number;
  steps?: number;
  clientId: string;
  tenant: string;
  workflow: string;
  /** Work units, for the estimates. */
  units: number;
  startedAt?: number;
  attempts: number;
}

export interface BackendView extends Omit<BackendInfo, 'jobs'> {
  jobs: HeldJobView[];
}

/** A waiting job; its place is its index in the queue. */
export interface QueueRow {
  id: string;
  clientId: string;
  tenant: string;
  workflow: string;
  door?: string;
  createdAt: number;
  /** Its priority tier (high, normal, low). */
  tier: string;
  priority: number;
  /** Attempts so far: above 0 for a job put back after a lost backend. */
  attempts: number;
  units: number;
}

/** Something that went wrong: a failed job, a job moved off a lost backend, a backend gone. */
export interface ProblemView {
  kind: 'failed' | 'requeued' | 'backend-down';
  at: number;
  message: string;
  jobId?: string;
  /** Backend URL (without credentials). */
  backend?: string;
  clientId?: string;
  tenant?: string;
  workflow?: string;
  /** The node that failed: its class, and ComfyUI's exception type. */
  nodeType?: string;
  exceptionType?: string;
}

/** Jobs finished and waits, per bucket of time, oldest first; the last bucket is the current one. */
export interface StatsView {
  bucketMs: number;
  /** End of the last bucket (ms since the epoch). */
  end: number;
  finished: number[];
  failed: number[];
  /** Mean and longest wait (seconds from queued to running) of the jobs that started in the bucket. */
  waitMean: (number | null)[];
  waitMax: (number | null)[];
}

/** A running job's latest preview image. */
export interface PreviewView {
  jobId: string;
  /** Backend id. */
  backend?: string;
  mime: string;
  /** base64. */
  data: string;
}

export interface BridgeView {
  counts: QueueCounts;
  ready: boolean;
  role?: 'dispatcher' | 'follower';
}

export interface Snapshot {
  /** Version: each delta moves it by one. */
  v: number;
  /** Server time (ms since the epoch), so the page can age and estimate against it. */
  at: number;
  bridge: BridgeView;
  backends: BackendView[];
  queue: QueueRow[];
  /** Newest last. */
  problems: ProblemView[];
  stats: StatsView;
  previews: PreviewView[];
}

export interface Delta {
  v: number;
  at: number;
  bridge?: BridgeView;
  backends?: { set: BackendView[]; removed: string[]; order?: string[] };
  queue?: QueueChange<QueueRow>;
  /** New ones, newest last. */
  problems?: ProblemView[];
  stats?: StatsView;
  previews?: PreviewView[];
  /** Jobs whose previews are of no more use (they finished). */
  previewsGone?: string[];
}

const units = new WeakMap<Job, number>();

/** A job's work units, counted once. */
export function unitsOf(job: Job): number {
  let u = units.get(job);
  if (u === undefined) units.set(job, (u = workUnits(job.prompt)));
  return u;
}

const rows = new WeakMap<Job, QueueRow>();

/** A waiting job's row; the same object while the job waits (a requeued job gets a new one). */
export function queueRow(job: Job): QueueRow {
  const known = rows.get(job);
  if (known && known.attempts === job.attempts) return known;
  const row: QueueRow = {
    id: job.id,
    clientId: job.clientId,
    tenant: job.tenant ?? '',
    workflow: job.workflow,
    ...(job.door !== undefined && { door: job.door }),
    createdAt: job.createdAt,
    tier: job.tier ?? 'normal',
    priority: job.priority,
    attempts: job.attempts,
    units: unitsOf(job),
  };
  rows.set(job, row);
  return row;
}

export function heldJob(entry: BackendInfo['jobs'][number], job: Job | undefined): HeldJobView {
  const progress = entry.progress ?? job?.progress?.value;
  const p = job?.progress;
  return {
    id: entry.jobId,
    state: entry.state,
    ...(progress !== undefined && { progress }),
    ...(p?.node !== undefined && { node: p.node }),
    ...(p?.step !== undefined && { step: p.step }),
    ...(p?.steps !== undefined && { steps: p.steps }),
    clientId: job?.clientId ?? '',
    tenant: job?.tenant ?? '',
    workflow: job?.workflow ?? '',
    units: job ? unitsOf(job) : 1,
    ...(job?.startedAt !== undefined && { startedAt: job.startedAt }),
    attempts: job?.attempts ?? 0,
  };
}
