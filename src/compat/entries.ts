// ComfyUI's queue items and history entries, built from the engine's jobs and this door's own
// record of each prompt.
import type { ComfyMessage } from '../comfy/protocol.js';
import type { Job } from '../jobs/job.js';
import { isFinal } from '../jobs/job.js';
import type { BackendRecord, FailureDetails } from '../engine/index.js';
import { backendTag, tagOutputs } from './file-names.js';

/** What this door keeps about each of its prompts (a side table of the engine). */
export interface PromptRecord {
  /** ComfyUI's queue number. */
  number: number;
  /** The websocket (client_id) that hears the prompt's events, if the client named one. */
  clientId?: string;
  /** extra_data as the client sent it, client_id included: shown in /queue and /history. */
  extraData: Record<string, unknown>;
  /** outputs_to_execute, when known at submission. */
  outputs?: string[];
  /** What the backend recorded once the prompt finished. */
  backend?: BackendRecord;
}

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

export function queueItem(job: Job, record: PromptRecord | undefined, outputs: string[]): QueueItem {
  return [record?.number ?? 0, job.id, job.prompt as Record<string, unknown>, publicExtraData(record?.extraData), outputs];
}

const CLOSING = new Set(['execution_success', 'execution_error', 'execution_interrupted']);

/** True for the message that ends a prompt (a blocked branch's execution_error does not). */
export function isClosing(type: string, data: Record<string, unknown> | undefined): boolean {
  return CLOSING.has(type) && !(type === 'execution_error' && data?.exception_type === 'ExecutionBlocked');
}

/**
 * The message that ended a final job: the backend's own (from its history entry) when there is
 * one, else from the failure it reported, else made here from the job, e.g. for a job that
 * failed before any backend ran it.
 */
export function closingMessage(job: Job, record: PromptRecord | undefined, node: string | null = null, failure: FailureDetails = {}): ComfyEvent {
  const recorded = [...(record?.backend?.status?.messages ?? [])].reverse().find(([type, data]) => isClosing(type, data));
  if (recorded) return { type: recorded[0], data: recorded[1] };
  const base = { prompt_id: job.id };
  const timestamp = job.finishedAt ?? Date.now();
  switch (job.state) {
    case 'completed':
      return { type: 'execution_success', data: { ...base, timestamp } };
    case 'cancelled':
      return { type: 'execution_interrupted', data: { ...base, node_id: node, node_type: null, executed: [], timestamp } };
    default:
      if (failure.exception_type !== undefined) {
        return {
          type: 'execution_error',
          data: {
            ...base,
            node_id: failure.node_id ?? node,
            node_type: failure.node_type ?? null,
            executed: [],
            exception_message: failure.exception_message ?? job.error ?? 'the prompt failed',
            exception_type: failure.exception_type,
            traceback: failure.traceback ?? [],
            current_inputs: {},
            current_outputs: [],
            ...failure.extra,
            timestamp,
          },
        };
      }
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
export function inHistory(job: Job, record: PromptRecord | undefined): boolean {
  return isFinal(job) && (job.state !== 'cancelled' || record?.backend !== undefined || job.startedAt !== undefined);
}

export function historyEntry(job: Job, record: PromptRecord | undefined, outputs: string[]): HistoryEntryView {
  const recorded = record?.backend;
  const closing = closingMessage(job, record);
  const status: HistoryEntryView['status'] = recorded?.status
    ? { status_str: recorded.status.status_str === 'success' ? 'success' : 'error', completed: recorded.status.completed, messages: recorded.status.messages }
    : { status_str: job.state === 'completed' ? 'success' : 'error', completed: job.state === 'completed', messages: [[closing.type, closing.data]] };
  return {
    prompt: queueItem(job, record, outputs),
    outputs: recorded && job.backend ? tagOutputs(recorded.outputs ?? {}, backendTag(job.backend)) : {},
    status,
    meta: recorded?.meta ?? {},
  };
}

/** get_history's window: max_items alone means the newest N; offset counts from the oldest. */
export function historyWindow<T>(entries: readonly T[], maxItems: number | undefined, offset: number | undefined): T[] {
  let start = offset ?? -1;
  if (start < 0 && maxItems !== undefined) start = entries.length - maxItems;
  start = Math.max(0, start);
  return maxItems === undefined ? entries.slice(start) : entries.slice(start, start + Math.max(0, maxItems));
}
