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
