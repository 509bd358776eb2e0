// @ts-check
// When each waiting job may start and finish, from what the bridge has learned of its backends.
// Pure, and shared: the dashboard page runs it in the browser, the unit tests in Node.
//
// The model follows the scheduler: a backend works through what it holds (our jobs, the rest of
// a running one, others' prompts), then takes waiting jobs in queue order, each going where it
// would finish earliest. A job's cost on a backend is its work units times the backend's learned
// seconds per unit, else the backend's mean job time; a backend not measured yet borrows the
// mean of those that are (as the scheduler's estimates do). Nothing measured: no estimate.

/**
 * @typedef {object} EtaHeld  A job a backend holds.
 * @property {number} [units]     its work units (sampler steps plus one per other node)
 * @property {boolean} running    executing now (else queued on the backend)
 * @property {number} [progress]  0–1, of a running job
 */

/**
 * @typedef {object} EtaBackend
 * @property {string} id
 * @property {boolean} usable           takes new work (up, not draining)
 * @property {number} [secondsPerUnit]  learned speed
 * @property {number} [meanJobSeconds]  learned mean job time
 * @property {EtaHeld[]} held           our jobs on it
 * @property {number} foreign           others' prompts in its queue
 */

/**
 * @typedef {object} Eta
 * @property {number} startsIn    seconds from now
 * @property {number} finishesIn  seconds from now
 * @property {string} backend     where it is expected to run
 */

/** @param {number[]} values */
function mean(values) {
  return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
}

/** @param {unknown} n @returns {n is number} */
function positive(n) {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}

/**
 * Seconds one job takes on each backend: a function of the backend and the job's units, or
 * undefined when nothing has been measured anywhere.
 * @param {EtaBackend[]} backends
 * @returns {((b: EtaBackend, units: number | undefined) => number) | undefined}
 */
export function costModel(backends) {
  const rates = backends.map((b) => b.secondsPerUnit).filter(positive);
  const means = backends.map((b) => b.meanJobSeconds).filter(positive);
  const poolRate = mean(rates);
  const poolMean = mean(means);
  if (poolRate === undefined && poolMean === undefined) return undefined;
  return (b, units) => {
    const rate = positive(b.secondsPerUnit) ? b.secondsPerUnit : poolRate;
    const jobMean = positive(b.meanJobSeconds) ? b.meanJobSeconds : poolMean;
    if (positive(units) && rate !== undefined) return units * rate;
    if (jobMean !== undefined) return jobMean;
    // Only a rate is known and the job's size is not: one unit is the least it can take.
    return rate ?? 0;
  };
}

/**
 * Seconds until a backend is through what it holds now.
 * @param {EtaBackend} b
 * @param {(b: EtaBackend, units: number | undefined) => number} cost
 */
export function busySeconds(b, cost) {
  let seconds = 0;
  for (const job of b.held) {
    const whole = cost(b, job.units);
    const done = job.running ? Math.min(1, Math.max(0, job.progress ?? 0)) : 0;
    seconds += whole * (1 - done);
  }
  return seconds + Math.max(0, b.foreign) * cost(b, undefined);
}

/**
 * Estimates for the first `limit` waiting jobs, in queue order. Each entry is undefined when
 * nothing is known yet (no backend measured) or no backend takes new work.
 * @param {EtaBackend[]} backends
 * @param {{ units?: number }[]} waiting  in queue order
 * @param {number} [limit]
 * @returns {(Eta | undefined)[]}
 */
export function queueEtas(backends, waiting, limit = waiting.length) {
  const n = Math.min(limit, waiting.length);
  const cost = costModel(backends);
  const usable = backends.filter((b) => b.usable);
  if (cost === undefined || usable.length === 0) return new Array(n).fill(undefined);
  const free = usable.map((b) => busySeconds(b, cost));
  /** @type {Eta[]} */
  const etas = [];
  for (let i = 0; i < n; i++) {
    const units = waiting[i].units;
    let best = 0;
    let bestFinish = Infinity;
    for (let k = 0; k < usable.length; k++) {
      const finish = free[k] + cost(usable[k], units);
      if (finish < bestFinish) {
        bestFinish = finish;
        best = k;
      }
    }
    etas.push({ startsIn: free[best], finishesIn: bestFinish, backend: usable[best].id });
    free[best] = bestFinish;
  }
  return etas;
}
