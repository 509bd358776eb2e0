// Label values of the bridge's metrics: each from a small, fixed set (or the operator's own
// configuration), never a client id, key, tenant or job id, so a series count stays bounded and a
// scrape tells nothing about who did what.
import { DEFAULT_TIER, TIERS } from '../scheduler/fair-queue.js';
import type { Tier } from '../scheduler/fair-queue.js';

/** Why a job went back to the queue, as one of a few kinds. */
export type RequeueKind = 'backend_down' | 'backend_restarted' | 'backend_removed' | 'send_failed' | 'stalled' | 'start_timeout' | 'other';

export const REQUEUE_KINDS: readonly RequeueKind[] = ['backend_down', 'backend_restarted', 'backend_removed', 'send_failed', 'stalled', 'start_timeout', 'other'];

/**
 * The kind of a `requeued` event's reason. The reasons are the scheduler's own sentences
 * (scheduler.ts, execution-state.ts); one it does not know yet is `other`, never its text.
 */
export function requeueKind(reason: string): RequeueKind {
  if (/ went down \(/.test(reason)) return 'backend_down';
  if (/no longer knows the prompt/.test(reason)) return 'backend_restarted';
  if (/no longer configured|removed from the pool/.test(reason)) return 'backend_removed';
  if (/did not start it within/.test(reason)) return 'start_timeout';
  if (/^no progress from /.test(reason)) return 'stalled';
  if (/^sending .* failed|has no event socket|could not record the dispatch/.test(reason)) return 'send_failed';
  return 'other';
}

/** A job's priority class: its tier (scheduler/fair-queue.ts); a job stored before tiers is normal. */
export type PriorityClass = Tier;

export const PRIORITY_CLASSES: readonly PriorityClass[] = TIERS;

export function priorityClass(tier: Tier | undefined): PriorityClass {
  return tier ?? DEFAULT_TIER;
}

/** A job's workflow: a catalog alias as it is, anything else (a raw prompt) as "prompt". */
export function workflowLabel(workflow: string | undefined, isCatalogWorkflow: (alias: string) => boolean): string {
  return workflow !== undefined && workflow !== '' && isCatalogWorkflow(workflow) ? workflow : 'prompt';
}

/** A backend URL without credentials, query or fragment: scheme, host, port and path. */
export function backendLabel(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'invalid';
  }
  const path = parsed.pathname === '/' ? '' : parsed.pathname.replace(/\/+$/, '');
  return `${parsed.protocol}//${parsed.host}${path}`;
}
