// Reading a POST /prompt body the way ComfyUI's server.py does: the counter, `number` and `front`,
// client_id copied into extra_data, and the prompt_id rules of newer servers (canonical UUID).
import type { ErrorBody } from './errors.js';
import { errorBody } from './errors.js';
import { isPlainObject } from '../workflows/graph.js';
import { pyTruthy } from '../comfy/python.js';

export interface PromptRequest {
  prompt: Record<string, unknown>;
  /** The client's prompt_id, when it chose one. */
  promptId: string | undefined;
  /** extra_data with client_id written into it, as ComfyUI stores it. */
  extraData: Record<string, unknown>;
  /** The socket id that hears this prompt's events; undefined when the prompt has none. */
  clientId: string | undefined;
  /** ComfyUI's queue number (shown in /queue and /history). */
  number: number;
  /** The order among the client's own prompts that keeps ComfyUI's (number, front). */
  priority: number;
  /** `front` was asked: the prompt goes to the highest priority tier the key may use. */
  front: boolean;
  /** The bridge's own `priority` field (a tier name), when sent; the engine checks it. */
  tier: unknown;
  /** partial_execution_targets as sent (null when absent). */
  targets: unknown;
}

export type PromptRequestResult = { ok: true; request: PromptRequest } | { ok: false; body: ErrorBody };

/** ComfyUI's prompt counter: it advances on every POST without `number`, accepted or not. */
export interface PromptCounter {
  /** The value the next counted prompt gets. */
  peek(): number;
  /** Take that value and advance. */
  take(): number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isCanonicalUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID.test(value);
}

export type Placement = { kind: 'counted'; counter: number } | { kind: 'front'; counter: number } | { kind: 'explicit'; number: number; counter: number };

/**
 * The order among a client's own prompts (the bridge's queue takes clients in turns, see
 * scheduler/fair-queue.ts). Counted prompts get 0: their numbers grow with arrival, so arrival
 * order is ComfyUI's order. Front prompts go ahead of the client's others, the newest first
 * (ComfyUI gives them -counter), and into the highest tier the key may use, so in an open bridge
 * ahead of everything as in ComfyUI. An explicit number is placed relative to the counter when it
 * arrives: below it goes ahead of counted prompts, above it behind them.
 */
export function queuePriority(placement: Placement): number {
  switch (placement.kind) {
    case 'counted':
      return 0;
    case 'front':
      return -(placement.counter + 1);
    case 'explicit':
      return placement.number - placement.counter;
  }
}

/** float(x) for the values JSON can carry. */
function toFloat(value: unknown): number | undefined {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value.trim());
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

const NO_PROMPT = errorBody('no_prompt', 'No prompt provided', 'No prompt provided');

export function readPromptRequest(body: unknown, counter: PromptCounter): PromptRequestResult {
  if (!isPlainObject(body)) {
    counter.take();
    return { ok: false, body: NO_PROMPT };
  }
  let number: number;
  let priority: number;
  let front = false;
  if ('number' in body) {
    const n = toFloat(body.number);
    if (n === undefined) {
      return { ok: false, body: errorBody('invalid_prompt', 'Invalid number', `"number" must be a number, got ${JSON.stringify(body.number)?.slice(0, 100)}`) };
    }
    number = n;
    priority = queuePriority({ kind: 'explicit', number: n, counter: counter.peek() });
  } else {
    const c = counter.take();
    front = 'front' in body && pyTruthy(body.front);
    number = front ? -c : c;
    priority = queuePriority(front ? { kind: 'front', counter: c } : { kind: 'counted', counter: c });
  }

  if (!('prompt' in body)) return { ok: false, body: NO_PROMPT };
  if (!isPlainObject(body.prompt)) {
    return { ok: false, body: errorBody('invalid_prompt', 'Invalid prompt', '"prompt" must be an object of node id → {"class_type", "inputs"}') };
  }
  if ('extra_data' in body && !isPlainObject(body.extra_data)) {
    return { ok: false, body: errorBody('invalid_prompt', 'Invalid extra_data', '"extra_data" must be an object') };
  }
  const extraData: Record<string, unknown> = isPlainObject(body.extra_data) ? structuredClone(body.extra_data) : {};
  if ('client_id' in body) extraData.client_id = body.client_id;
  const clientId = typeof extraData.client_id === 'string' && extraData.client_id !== '' ? extraData.client_id : undefined;

  let promptId: string | undefined;
  if ('prompt_id' in body && body.prompt_id !== null) {
    if (!isCanonicalUuid(body.prompt_id)) {
      return {
        ok: false,
        body: errorBody(
          'invalid_prompt_id',
          'Invalid prompt_id format',
          `prompt_id must be a lowercase hyphenated UUID such as "3f2b8c1e-5d4a-4e8b-9c7d-2a1b0c9d8e7f", got ${JSON.stringify(body.prompt_id)?.slice(0, 100)}`,
        ),
      };
    }
    promptId = body.prompt_id;
  }

  return {
    ok: true,
    request: {
      prompt: structuredClone(body.prompt),
      promptId,
      extraData,
      clientId,
      number,
      priority,
      front,
      tier: 'priority' in body ? body.priority : undefined,
      targets: 'partial_execution_targets' in body ? body.partial_execution_targets : null,
    },
  };
}
