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
  /** Holds nothing: none of our jobs, nothing in its queue. An idle backend never waits while work it can run waits. */
  idle?: boolean;
  /** Seconds until the work already on it is done. */
  busySeconds: number;
  /** Seconds per work unit. */
  rate: number;
  /** Models it probably holds now, and how many it keeps (model affinity; none known when absent). */
  held?: readonly string[];
  keeps?: number;
  /** Expected seconds to load a model there. */
  loadSeconds?: (model: string) => number;
}

export interface PlanJob {
  units: number;
  /** Model files it loads (their load costs count where they are not held). */
  models?: readonly string[];
  /** Seconds it has waited: past its switch cost, it goes to an idle backend even if that must load its model. */
  waitedSeconds?: number;
  /** Can it run there (capabilities, pins)? Everywhere when absent. */
  runsOn?: (backend: string) => boolean;
}

/** Why a job went where it went: one line of an explanation per backend considered. */
export interface PlanChoice {
  job: number;
  backend: string;
  /** `idle`: an idle backend took it (work conservation); `earliest-finish`: it finishes first there. */
  rule: 'idle' | 'earliest-finish';
  /** Expected seconds from now until it is done there, and the part that is loading models. */
  finishSeconds: number;
  switchSeconds: number;
}

/** Seconds to load what a job needs on a backend holding `held`. */
function switchCost(job: PlanJob, b: TimedBackend, held: readonly string[]): number {
  if (!job.models?.length || !b.loadSeconds) return 0;
  let s = 0;
  for (const m of job.models) if (!held.includes(m)) s += b.loadSeconds(m);
  return s;
}

/** What a backend holds after running the job (most recent first, as many as it keeps). */
function afterRunning(job: PlanJob, held: readonly string[], keeps: number): readonly string[] {
  if (!job.models?.length) return held;
  return [...job.models, ...held.filter((m) => !job.models!.includes(m))].slice(0, Math.max(1, keeps));
}

/**
 * The next dispatch, or undefined to wait.
 *
 * Work conservation first: while a backend is idle and a waiting job can run there, one does.
 * The idle backend takes the first job in the window whose models it already holds, unless the
 * head of the queue has waited longer than loading its models would take and no busy backend
 * holding them would finish it sooner (so a rarely used model is never starved); otherwise the
 * first job it can run. Estimates decide where, never whether.
 *
 * Then earliest-finish list scheduling over the head of the queue: walk the waiting jobs in order,
 * giving each (virtually) to the backend where it would finish first, counting the work already
 * there, what earlier jobs were given, and the models it would have to load there. The first job
 * that lands on a backend with a free slot is dispatched there. A slow backend thus takes work
 * only when that does not delay it, and jobs for one model flow to the backends that hold it.
 */
export function planEarliestFinish(jobs: readonly PlanJob[], backends: readonly TimedBackend[]): PlanChoice | undefined {
  if (!backends.some((b) => b.free) || jobs.length === 0) return undefined;
  const runs = (j: PlanJob, b: TimedBackend) => !j.runsOn || j.runsOn(b.id);
  const held = backends.map((b) => b.held ?? []);
  const finishOn = (j: PlanJob, i: number, available: number) => {
    const sw = switchCost(j, backends[i], held[i]);
    return { finish: available + j.units * backends[i].rate + sw, sw };
  };

  const idle = backends.map((b, i) => (b.idle && b.free ? i : -1)).filter((i) => i >= 0);
  if (idle.length) {
    const head = jobs.findIndex((j) => idle.some((i) => runs(j, backends[i])));
    if (head >= 0) {
      const headJob = jobs[head];
      // The head may be overtaken by jobs an idle backend needs no load for: while a busy backend
      // that holds its models would still finish it before an idle one could load them and run
      // it (the plan below gives it to that one when it has a slot), or else until it has waited
      // as long as its own load would take (so a rarely used model is never starved).
      const idleFinish = Math.min(...idle.filter((i) => runs(headJob, backends[i])).map((i) => finishOn(headJob, i, backends[i].busySeconds).finish));
      const cheapestLoad = Math.min(...idle.filter((i) => runs(headJob, backends[i])).map((i) => switchCost(headJob, backends[i], held[i])));
      const holderSooner = backends.some((b, i) => runs(headJob, b) && switchCost(headJob, b, held[i]) === 0 && finishOn(headJob, i, b.busySeconds).finish <= idleFinish);
      if (cheapestLoad > 0 && (holderSooner || (headJob.waitedSeconds ?? 0) < cheapestLoad)) {
        for (let j = head; j < jobs.length; j++) {
          for (const i of idle) {
            if (!runs(jobs[j], backends[i]) || switchCost(jobs[j], backends[i], held[i]) > 0) continue;
            const { finish } = finishOn(jobs[j], i, backends[i].busySeconds);
            return { job: j, backend: backends[i].id, rule: 'idle', finishSeconds: finish, switchSeconds: 0 };
          }
        }
      }
      let best = -1;
      let bestFinish = Infinity;
      let bestSwitch = 0;
      for (const i of idle) {
        if (!runs(headJob, backends[i])) continue;
        const { finish, sw } = finishOn(headJob, i, backends[i].busySeconds);
        if (finish < bestFinish - 1e-9) [best, bestFinish, bestSwitch] = [i, finish, sw];
      }
      return { job: head, backend: backends[best].id, rule: 'idle', finishSeconds: bestFinish, switchSeconds: bestSwitch };
    }
  }

  const available = backends.map((b) => b.busySeconds);
  for (let j = 0; j < jobs.length; j++) {
    let best = -1;
    let bestFinish = Infinity;
    let bestSwitch = 0;
    for (let i = 0; i < backends.length; i++) {
      if (!runs(jobs[j], backends[i])) continue;
      const { finish, sw } = finishOn(jobs[j], i, available[i]);
      if (finish < bestFinish - 1e-9) [best, bestFinish, bestSwitch] = [i, finish, sw];
    }
    if (best < 0) continue; // no backend here can run it: it waits for one that can
    if (backends[best].free) return { job: j, backend: backends[best].id, rule: 'earliest-finish', finishSeconds: bestFinish, switchSeconds: bestSwitch };
    available[best] = bestFinish;
    held[best] = afterRunning(jobs[j], held[best], backends[best].keeps ?? 1);
  }
  return undefined;
}
