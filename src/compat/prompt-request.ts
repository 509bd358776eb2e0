// Reading a POST /prompt body the way ComfyUI's server.py does: the counter, `number` and `front`,
// client_id copied into extra_data, and the prompt_id rules of newer servers (canonical UUID). The
// envelope is checked with the schema of the door's OpenAPI document (compat/openapi.ts).
import type { ErrorBody } from './errors.js';
import { errorBody } from './errors.js';
import { isPlainObject } from '../workflows/graph.js';
import { pyTruthy } from '../comfy/python.js';
import type { z } from 'zod';
import { NO_PROMPT_MESSAGE, PROMPT_FIELD_ERRORS, PromptRequest as PromptEnvelope, toFloat } from './openapi.js';

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

export function isCanonicalUuid(value: unknown): value is string {
  return typeof value === 'string' && PromptEnvelope.shape.prompt_id.safeParse(value).success;
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

const NO_PROMPT = errorBody('no_prompt', NO_PROMPT_MESSAGE, NO_PROMPT_MESSAGE);

/**
 * The envelope's problems in ComfyUI's shape: the first one's type and message, and every problem
 * in the details. A missing prompt alone is ComfyUI's no_prompt.
 */
function refusal(issues: readonly z.core.$ZodIssue[]): ErrorBody {
  const problems = [...new Set(issues.map((i) => i.message))];
  const first = issues[0];
  const field = String(first.path[0]);
  if (problems.length === 1 && problems[0] === NO_PROMPT_MESSAGE) return NO_PROMPT;
  const { type, message } = PROMPT_FIELD_ERRORS[field] ?? { type: 'invalid_prompt', message: 'Invalid prompt' };
  return errorBody(type, message, problems.join('; '));
}

export function readPromptRequest(body: unknown, counter: PromptCounter): PromptRequestResult {
  if (!isPlainObject(body)) {
    counter.take();
    return { ok: false, body: NO_PROMPT };
  }
  // ComfyUI counts every prompt without `number`, accepted or not.
  const counted = 'number' in body ? undefined : counter.take();
  const checked = PromptEnvelope.safeParse(body);
  if (!checked.success) return { ok: false, body: refusal(checked.error.issues) };
  const request = checked.data;
  let number: number;
  let priority: number;
  let front = false;
  if (counted === undefined) {
    number = toFloat(request.number)!;
    priority = queuePriority({ kind: 'explicit', number, counter: counter.peek() });
  } else {
    front = 'front' in body && pyTruthy(body.front);
    number = front ? -counted : counted;
    priority = queuePriority(front ? { kind: 'front', counter: counted } : { kind: 'counted', counter: counted });
  }
  const extraData: Record<string, unknown> = request.extra_data ? structuredClone(request.extra_data) : {};
  if ('client_id' in body) extraData.client_id = body.client_id;
  const clientId = typeof extraData.client_id === 'string' && extraData.client_id !== '' ? extraData.client_id : undefined;

  return {
    ok: true,
    request: {
      prompt: structuredClone(request.prompt),
      promptId: request.prompt_id ?? undefined,
      extraData,
      clientId,
      number,
      priority,
      front,
      tier: request.priority ?? undefined,
      targets: request.partial_execution_targets ?? null,
    },
  };
}
