// The Job: one run of one workflow for one client, and its lifecycle.
//
//   queued ──▶ dispatching ──▶ submitted ──▶ running ──▶ completed
//     ▲             │               │            │    └─▶ failed
//     └─────────────┴───────────────┴────────────┘        cancelled (from any non-final state)
//        (backend lost: back to the queue, next attempt)
//
// queued: waiting in the bridge. dispatching: inputs going to the chosen backend.
// submitted: accepted by the backend, waiting in its queue. running: executing there.
import type { ComfyPrompt, FileRef } from '../comfy/protocol.js';
import type { BackendRecord, ProgressSnapshot } from '../engine/events.js';
import type { Tier } from '../scheduler/fair-queue.js';

export type JobState = 'queued' | 'dispatching' | 'submitted' | 'running' | 'completed' | 'failed' | 'cancelled';

/** An output file and the backend that holds it (file names are only unique per backend). */
export interface OutputFile extends FileRef {
  backend: string;
}

export interface Job {
  /** uuid (v7 for new jobs); also the prompt_id on the backend, so events route without a lookup table. */
  id: string;
  /** The owner: who may see, cancel and collect it. */
  clientId: string;
  /** The tenant (API key name) that owns it; "" in an open bridge. A clientId is a name inside it. */
  tenant?: string;
  /** Opaque name of the door that submitted it, for that door's own views; the engine never reads it. */
  door?: string;
  /** The extra_data of the backend submission (extra_pnginfo, …): part of what runs, sent with the prompt. */
  extraData?: Record<string, unknown>;
  /** Workflow alias, for logs and the learned duration per workflow. */
  workflow: string;
  /** The patched graph to run. */
  prompt: ComfyPrompt;
  /** Names (in the upload folder) of files the prompt refers to; sent to the backend before it runs. */
  uploads: string[];
  state: JobState;
  /** Its priority tier (scheduler/fair-queue.ts); absent in jobs stored before tiers: normal. */
  tier?: Tier;
  /** Order among its own client's jobs of a tier: lower runs first, equal ones in arrival order (ComfyUI's number/front). */
  priority: number;
  createdAt: number;
  attempts: number;
  /** Backend URL of the current or last attempt. */
  backend?: string;
  /** When it was last handed to a backend: its client's turn in the fair share (scheduler/fair-queue.ts). */
  dispatchedAt?: number;
  startedAt?: number;
  finishedAt?: number;
  outputs: OutputFile[];
  error?: string;
  /** When the client took the results; the job is dropped a while later. */
  collectedAt?: number;
  /** Its number in the generation count (kept with the job, so the count survives a crash). */
  generation?: number;
  /** How far it is; the value never goes backwards, also across attempts. */
  progress?: ProgressSnapshot;
  /** Sequence number of its last engine event. */
  seq?: number;
  /** What the backend recorded about the finished prompt (its /history entry, without the prompt). */
  record?: BackendRecord;
  /** Each output node's result as it was reported while the job ran (one per node, the latest), with its event number. */
  nodeOutputs?: NodeOutput[];
}

/** One output node's result (ComfyUI's `executed` ui dict), as reported while the job ran. */
export interface NodeOutput {
  node: string;
  displayNode?: string;
  output: unknown;
  /** The number of the `output` event that reported it. */
  seq: number;
}

/** The job's node outputs with this one in place of any earlier one of the same node. */
export function withNodeOutput(job: Pick<Job, 'nodeOutputs'>, out: NodeOutput): NodeOutput[] {
  return [...(job.nodeOutputs ?? []).filter((o) => o.node !== out.node), out];
}

export const FINAL_STATES: ReadonlySet<JobState> = new Set(['completed', 'failed', 'cancelled']);
export const ON_BACKEND_STATES: ReadonlySet<JobState> = new Set(['dispatching', 'submitted', 'running']);

export function isFinal(job: Pick<Job, 'state'>): boolean {
  return FINAL_STATES.has(job.state);
}

export function isOnBackend(job: Pick<Job, 'state'>): boolean {
  return ON_BACKEND_STATES.has(job.state);
}

const NEXT: Record<JobState, readonly JobState[]> = {
  queued: ['dispatching', 'cancelled', 'failed'],
  dispatching: ['submitted', 'running', 'completed', 'queued', 'failed', 'cancelled'],
  submitted: ['running', 'completed', 'queued', 'failed', 'cancelled'],
  running: ['completed', 'queued', 'failed', 'cancelled'],
  completed: [],
  failed: [],
  cancelled: [],
};

export function canMove(from: JobState, to: JobState): boolean {
  return NEXT[from].includes(to);
}

export function newJob(
  fields: Pick<Job, 'id' | 'clientId' | 'workflow' | 'prompt' | 'uploads'> & Partial<Pick<Job, 'tier' | 'priority' | 'createdAt' | 'door' | 'extraData'>>,
): Job {
  return {
    ...fields,
    state: 'queued',
    priority: fields.priority ?? 0,
    createdAt: fields.createdAt ?? Date.now(),
    attempts: 0,
    outputs: [],
  };
}
