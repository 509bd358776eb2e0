// Which backend gets the next job. Pure, so it can be tested and benchmarked on its own.

export interface BackendLoad {
  id: string;
  /** Our jobs on it (dispatching, waiting there, running). */
  ours: number;
  /** Jobs we may hold on it at once: one running plus the prefetch. */
  slots: number;
  /** Prompts in its queue that are not ours (other users of the same ComfyUI). */
  foreign: number;
  /** Seconds of work already on it, when known (learned durations); undefined falls back to counts. */
  expectedSeconds?: number;
  /** Expected seconds the job at hand takes on it, when known. */
  jobSeconds?: number;
}

/** Backends with a free slot. */
export function withFreeSlot(loads: BackendLoad[]): BackendLoad[] {
  return loads.filter((b) => b.ours < b.slots);
}

/**
 * The least-loaded backend with a free slot, or undefined when all are full.
 * Load is the time until the job would finish there when durations are known on every candidate,
 * otherwise the number of prompts in its queue (ours plus foreign). Ties go to the earlier backend
 * in the list, which callers rotate so equal backends share work.
 */
export function chooseBackend(loads: BackendLoad[]): string | undefined {
  const free = withFreeSlot(loads);
  if (free.length === 0) return undefined;
  const timed = free.every((b) => b.expectedSeconds !== undefined && b.jobSeconds !== undefined);
  let best: BackendLoad | undefined;
  let bestScore = Infinity;
  for (const b of free) {
    const score = timed ? b.expectedSeconds! + b.jobSeconds! : b.ours + b.foreign;
    if (score < bestScore) {
      best = b;
      bestScore = score;
    }
  }
  return best?.id;
}

export interface TimedBackend {
  id: string;
  /** Has a free slot now. */
  free: boolean;
  /** Seconds until the work already on it is done. */
  busySeconds: number;
  /** Seconds per work unit. */
  rate: number;
}

/**
 * Earliest-finish list scheduling over the head of the queue: walk the waiting jobs in order,
 * giving each (virtually) to the backend where it would finish first, counting the work already
 * there and what earlier jobs were given. The first job that lands on a backend with a free slot
 * is dispatched there. A slow backend thus takes work only when that does not delay it, so the
 * last jobs do not end up on the slowest backend, and a fast backend is not starved while slower
 * ones take jobs in arrival order.
 */
export function planEarliestFinish(jobs: readonly { units: number }[], backends: readonly TimedBackend[]): { job: number; backend: string } | undefined {
  if (!backends.some((b) => b.free) || jobs.length === 0) return undefined;
  const available = backends.map((b) => b.busySeconds);
  for (let j = 0; j < jobs.length; j++) {
    let best = -1;
    let bestFinish = Infinity;
    for (let i = 0; i < backends.length; i++) {
      const finish = available[i] + jobs[j].units * backends[i].rate;
      if (finish < bestFinish - 1e-9) {
        best = i;
        bestFinish = finish;
      }
    }
    if (backends[best].free) return { job: j, backend: backends[best].id };
    available[best] = bestFinish;
  }
  return undefined;
}
