// ComfyUI's queue items and history entries, built from the bridge's jobs.
import type { ComfyMessage } from '../comfy/protocol.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import { backendTag, tagOutputs } from './file-names.js';

/** A websocket JSON message, as ComfyUI sends it. */
export type ComfyEvent = ComfyMessage;

/** [number, prompt_id, prompt, extra_data, outputs_to_execute] */
export type QueueItem = [number, string, Record<string, unknown>, Record<string, unknown>, string[]];

export interface HistoryEntryView {
  prompt: QueueItem;
  outputs: Record<string, unknown>;
  status: { status_str: 'success' | 'error'; completed: boolean; messages: [string, Record<string, unknown>][] };
  meta: Record<string, unknown>;
}

/** Credentials for paid API nodes: they go to the backend, never to anyone reading the queue. */
const SECRET_KEYS = ['auth_token_comfy_org', 'api_key_comfy_org'];

export function publicExtraData(extra: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(extra ?? {}) };
  for (const key of SECRET_KEYS) delete out[key];
  return out;
}

export function queueItem(job: Job, outputs: string[]): QueueItem {
  return [job.number ?? 0, job.id, job.prompt as Record<string, unknown>, publicExtraData(job.extraData), outputs];
}

const CLOSING = new Set(['execution_success', 'execution_error', 'execution_interrupted']);

/** True for the message that ends a prompt (a blocked branch's execution_error does not). */
export function isClosing(type: string, data: Record<string, unknown> | undefined): boolean {
  return CLOSING.has(type) && !(type === 'execution_error' && data?.exception_type === 'ExecutionBlocked');
}

/**
 * The message that ended a final job: the backend's own (from its history entry) when there is
 * one, otherwise made here from the job, e.g. for a job that failed before any backend ran it.
 */
export function closingMessage(job: Job, node: string | null = null): ComfyEvent {
  const recorded = [...(job.history?.status?.messages ?? [])].reverse().find(([type, data]) => isClosing(type, data));
  if (recorded) return { type: recorded[0], data: recorded[1] };
  const base = { prompt_id: job.id };
  const timestamp = job.finishedAt ?? Date.now();
  switch (job.state) {
    case 'completed':
      return { type: 'execution_success', data: { ...base, timestamp } };
    case 'cancelled':
      return { type: 'execution_interrupted', data: { ...base, node_id: node, node_type: null, executed: [], timestamp } };
    default:
      return {
        type: 'execution_error',
        data: {
          ...base,
          node_id: node,
          node_type: null,
          executed: [],
          exception_message: job.error ?? 'the prompt failed',
          exception_type: 'BridgeError',
          traceback: [],
          current_inputs: {},
          current_outputs: [],
          timestamp,
        },
      };
  }
}

/**
 * Whether ComfyUI would list the job in /history: everything that ran or failed; a prompt deleted
 * from the queue before it started never appears there.
 */
export function inHistory(job: Job): boolean {
  return isFinal(job) && (job.state !== 'cancelled' || job.history !== undefined || job.startedAt !== undefined);
}

export function historyEntry(job: Job, outputs: string[]): HistoryEntryView {
  const recorded = job.history;
  const closing = closingMessage(job);
  const status: HistoryEntryView['status'] = recorded?.status
    ? { status_str: recorded.status.status_str === 'success' ? 'success' : 'error', completed: recorded.status.completed, messages: recorded.status.messages }
    : { status_str: job.state === 'completed' ? 'success' : 'error', completed: job.state === 'completed', messages: [[closing.type, closing.data]] };
  return {
    prompt: queueItem(job, outputs),
    outputs: recorded && job.backend ? tagOutputs(recorded.outputs ?? {}, backendTag(job.backend)) : {},
    status,
    meta: (recorded?.meta as Record<string, unknown> | undefined) ?? {},
  };
}

/** get_history's window: max_items alone means the newest N; offset counts from the oldest. */
export function historyWindow<T>(entries: readonly T[], maxItems: number | undefined, offset: number | undefined): T[] {
  let start = offset ?? -1;
  if (start < 0 && maxItems !== undefined) start = entries.length - maxItems;
  start = Math.max(0, start);
  return maxItems === undefined ? entries.slice(start) : entries.slice(start, start + Math.max(0, maxItems));
}
