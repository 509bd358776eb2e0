// What a client is told about its work: one {status, detail} summarising all of its jobs.
// Pure; the websocket hub and GET /execution-info both use it.
import type { Job } from './job.js';
import { isFinal } from './job.js';
import { formatPercent } from './progress.js';

export type ClientStatusName = 'queued' | 'progress' | 'closed' | 'error';

export interface ClientStatus {
  status: ClientStatusName;
  detail: string;
  /** Fraction of the client's work done, when status is progress. */
  fraction?: number;
}

export const DONE_DETAIL = 'Execution is done';

export interface JobView {
  /** 1-based queue position when waiting in the bridge. */
  position(job: Job): number | undefined;
  /** Fraction done of a job on a backend. */
  fraction(job: Job): number;
}

/**
 * The client's status over its uncollected jobs (undefined when it has none).
 * While anything is unfinished: `queued` if nothing has reached a backend yet, else `progress`
 * (finished jobs count as whole). When all are final: `error` with the cause if any failed or was
 * cancelled, else `closed`.
 */
export function summarize(jobs: Job[], view: JobView): ClientStatus | undefined {
  if (jobs.length === 0) return undefined;
  const open = jobs.filter((j) => !isFinal(j));
  if (open.length > 0) {
    if (open.every((j) => j.state === 'queued') && jobs.every((j) => !isFinal(j))) {
      const positions = open.map((j) => view.position(j)).filter((p): p is number => p !== undefined);
      const first = positions.length ? Math.min(...positions) : undefined;
      return { status: 'queued', detail: first === undefined ? 'queued' : `queued / ${first}` };
    }
    const counted = jobs.filter((j) => j.state !== 'cancelled');
    const total = counted.reduce((sum, j) => sum + (isFinal(j) ? 1 : j.state === 'queued' ? 0 : view.fraction(j)), 0);
    const fraction = counted.length ? total / counted.length : 0;
    return { status: 'progress', detail: formatPercent(fraction), fraction };
  }
  const bad = [...jobs].reverse().find((j) => j.state === 'failed' || j.state === 'cancelled');
  if (bad) return { status: 'error', detail: bad.error ?? (bad.state === 'cancelled' ? 'cancelled' : 'failed') };
  return { status: 'closed', detail: DONE_DETAIL };
}
