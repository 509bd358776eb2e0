// Errors the engine answers a door with; each door turns them into its own protocol's answer.
import type { Missing } from '../scheduler/capabilities.js';

export type { Missing } from '../scheduler/capabilities.js';

/**
 * Every code the engine names a refusal with, for doors whose protocols have codes of their own:
 * queue_full (MAX_QUEUE), client_limit (MAX_JOBS_PER_CLIENT), key_limit (KEY_LIMITS max_jobs),
 * invalid_priority (a tier unknown, or above the key's), store_unavailable (the job store takes no
 * writes), unknown_workflow, invalid_inputs (with `problems`), unrunnable (no backend has what
 * the graph names: `problems` and `missing`).
 */
export const REFUSAL_CODES = ['queue_full', 'client_limit', 'key_limit', 'invalid_priority', 'store_unavailable', 'unknown_workflow', 'invalid_inputs', 'unrunnable'] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** What a refusal is, for a door whose protocol names it with a code of its own. */
export interface Refused {
  /** One of REFUSAL_CODES from the engine; modules above it may name their own (invalid_webhook_url). */
  code?: RefusalCode | (string & {});
  /** Each problem on its own, when the detail lists several. */
  problems?: readonly string[];
  /** unrunnable: the node classes and model files missing (with the nodes that name them), and pins. */
  missing?: Missing;
}

/** A client mistake: becomes a 4xx with this detail. */
export class ClientError extends Error {
  readonly code?: string;
  readonly problems?: readonly string[];
  readonly missing?: Missing;

  constructor(readonly status: number, readonly detail: string, readonly headers: Record<string, string> = {}, refused: Refused = {}) {
    super(detail);
    if (refused.code !== undefined) this.code = refused.code;
    if (refused.problems !== undefined) this.problems = refused.problems;
    if (refused.missing !== undefined) this.missing = refused.missing;
  }
}

/** A job with this id exists already (two submissions chose the same id). */
export class DuplicateJobError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} exists already`);
  }
}
