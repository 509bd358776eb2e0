// The dashboard's one reading of the pool: what the engine says of each backend. Kept in one
// place so that the rest of the dashboard does not depend on how the engine answers it.
import { createHash } from 'node:crypto';
import type { Engine } from '../engine/index.js';
import { isOnBackend } from '../jobs/job.js';
import { withoutCredentials } from './view.js';

export type BackendState = 'up' | 'down' | 'draining';

export interface BackendInfo {
  id: string;
  /** Without credentials. */
  url: string;
  state: BackendState;
  healthy: boolean;
  draining: boolean;
  labels: string[];
  /** Our jobs on it, running first. */
  jobs: { jobId: string; state: string; progress?: number }[];
  /** Its whole queue (ours and others'). */
  queueRemaining: number;
  secondsPerUnit?: number;
  meanJobSeconds?: number;
  version?: string;
  models?: string[];
}

interface WithBackendsInfo {
  backendsInfo(): BackendInfo[];
}

function hasBackendsInfo(engine: Engine): engine is Engine & WithBackendsInfo {
  return typeof (engine as Partial<WithBackendsInfo>).backendsInfo === 'function';
}

/** Each backend as the engine sees it, in the pool's order. */
export function backendsOf(engine: Engine): BackendInfo[] {
  if (hasBackendsInfo(engine)) return engine.backendsInfo();
  // An engine without the operator API: what its lookups tell (no speeds, never draining).
  const healthy = new Set(engine.healthyBackends());
  const held = new Map<string, BackendInfo['jobs']>();
  for (const job of engine.jobs()) {
    if (!isOnBackend(job) || job.backend === undefined) continue;
    const list = held.get(job.backend) ?? [];
    list.push({ jobId: job.id, state: job.state, ...(job.progress && { progress: job.progress.value }) });
    held.set(job.backend, list);
  }
  return engine.backendUrls().map((url) => {
    const jobs = (held.get(url) ?? []).sort((a, b) => Number(b.state === 'running') - Number(a.state === 'running'));
    const up = healthy.has(url);
    return {
      id: createHash('sha256').update(withoutCredentials(url)).digest('hex').slice(0, 8),
      url: withoutCredentials(url),
      state: up ? 'up' : 'down',
      healthy: up,
      draining: false,
      labels: [],
      jobs,
      queueRemaining: jobs.length,
    };
  });
}
