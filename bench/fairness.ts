// fairness: one client floods 500 short jobs, then ten other clients submit one job each; how long
// do the ten wait before their job starts? With fair share (the bridge as shipped) against first
// come, first served (FAIR_SHARE=0, the same bridge), measured in the same run.
//
// Target: each of the ten starts within two job-durations of arriving (p95 of the ten ≤ 2).
// In-process bridges over four simulators; jobs are submitted through the engine (the door is not
// what is measured here), starts read from its event stream.
import { ComfySimulator } from '../src/sim/index.js';
import type { Engine, JobEvent } from '../src/engine/index.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import type { Benchmark, BenchOptions, BenchResult } from './lib.js';
import { fmt, median, percentile, ratioText, sleep } from './lib.js';
import { enginePool } from './engine-pool.js';

const BACKENDS = 4;
const FLOOD = 500;
const SINGLES = 10;
/** Seconds each job sleeps on its backend: the job-duration. */
const JOB_S = 0.2;
/** Flood jobs started before the ten arrive: the pool is busy and the queue long. */
const WARM_STARTS = 12;

function sleepPrompt(tag: string): ComfyPrompt {
  return {
    '1': { class_type: 'TestSleep', inputs: { value: tag, seconds: JOB_S } },
    '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
  };
}

interface Run {
  /** Seconds from each single job's submission to its start. */
  waits: number[];
  /**
   * Measured job-duration, seconds: how long a job holds a backend, from the pool's pace while the
   * ten arrived (backends × the time between two of the flood's successes).
   */
  jobSeconds: number;
  /** Median start → success of the flood's jobs (as the bridge hears them), seconds. */
  runSeconds: number;
}

/** Resolve when `count` matching events have been heard. */
function events(engine: Engine, match: (e: JobEvent) => boolean): { seen: JobEvent[]; until(count: number): Promise<void>; stop(): void } {
  const seen: JobEvent[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const stop = engine.events.subscribe((e) => {
    if (!('jobId' in e) || !match(e as JobEvent)) return;
    seen.push(e as JobEvent);
    for (const w of waiters.filter((w) => seen.length >= w.count)) w.resolve();
  });
  return {
    seen,
    until: (count) => (seen.length >= count ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ count, resolve }))),
    stop,
  };
}

/**
 * One run: the flood, then the ten (all at once, or one every `spacingS` seconds). Resolves once
 * every one of the ten has started (the flood is left to the bridge's stop).
 */
async function measure(fair: boolean, spacingS: number): Promise<Run> {
  const sims = await Promise.all(Array.from({ length: BACKENDS }, (_, i) => ComfySimulator.start({ name: `fair${i}`, stepMs: 1, nodeMs: 0, previews: false })));
  const { engine, stop } = await enginePool(sims, { FAIR_SHARE: fair ? '1' : '0' });
  try {
    const starts = events(engine, (e) => e.kind === 'started');
    const ends = events(engine, (e) => e.kind === 'succeeded' && e.clientId === 'flood');
    await Promise.all(Array.from({ length: FLOOD }, (_, i) => engine.submit({ clientId: 'flood', prompt: sleepPrompt(`flood-${i}`) })));
    await starts.until(WARM_STARTS);
    const submitted = new Map<string, number>();
    // A job starts only after its backend took it: well after its submission has answered.
    const singles = events(engine, (e) => e.kind === 'started' && submitted.has(e.jobId));
    for (let i = 0; i < SINGLES; i++) {
      if (i > 0 && spacingS > 0) await sleep(spacingS * 1000);
      const at = Date.now();
      const { job } = await engine.submit({ clientId: `single-${i}`, prompt: sleepPrompt(`single-${i}`) });
      submitted.set(job.id, at);
    }
    await singles.until(SINGLES);
    starts.stop();
    ends.stop();
    singles.stop();
    const started = new Map(starts.seen.filter((e) => e.clientId === 'flood').map((e) => [e.jobId, e.at]));
    const durations = ends.seen.flatMap((e) => (started.has(e.jobId) ? [(e.at - started.get(e.jobId)!) / 1000] : []));
    const waits = singles.seen.map((e) => (e.at - submitted.get(e.jobId)!) / 1000);
    // The pace from the ten's first submission to the last one's start.
    const from = Math.min(...submitted.values());
    const to = Math.max(...singles.seen.map((e) => e.at));
    const paced = ends.seen.filter((e) => e.at >= from && e.at <= to).map((e) => e.at);
    const jobSeconds = paced.length > 2 ? (BACKENDS * (paced[paced.length - 1] - paced[0])) / (paced.length - 1) / 1000 : durations.length ? median(durations) : JOB_S;
    return { waits, jobSeconds, runSeconds: durations.length ? median(durations) : NaN };
  } finally {
    await stop();
  }
}

export const fairness: Benchmark = {
  name: 'fairness',
  title: 'Fair share: single jobs of ten clients behind one client flooding 500',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const spacing = JOB_S / 2;
    const fair = await measure(true, spacing);
    opts.log(`fair share, one every ${spacing} s: waits ${fair.waits.map((w) => fmt(w, 2)).join(', ')} s; job-duration ${fmt(fair.jobSeconds, 3)} s (start → success ${fmt(fair.runSeconds, 3)} s)`);
    const fifo = await measure(false, spacing);
    opts.log(`first come first served, one every ${spacing} s: waits ${fifo.waits.map((w) => fmt(w, 2)).join(', ')} s`);
    const burst = await measure(true, 0);
    opts.log(`fair share, ten at once: waits ${burst.waits.map((w) => fmt(w, 2)).join(', ')} s`);
    const d = fair.jobSeconds;
    const p95 = (r: Run) => percentile(r.waits, 95);
    const durations = (s: number) => `${fmt(s / d, 2)} job-durations (${fmt(s, 2)} s)`;
    const worst = Math.max(...fair.waits);
    return {
      rows: [
        { metric: 'p95 wait of the ten, fair share (as shipped)', target: '≤ 2 job-durations', measured: durations(p95(fair)), baseline: `${durations(p95(fifo))} first come, first served`, ratio: ratioText(p95(fair), p95(fifo), 3), met: p95(fair) <= 2 * d },
        { metric: 'longest wait of the ten, fair share', target: '≤ 2 job-durations', measured: durations(worst), baseline: `${durations(Math.max(...fifo.waits))} first come, first served`, ratio: ratioText(worst, Math.max(...fifo.waits), 3), met: worst <= 2 * d },
        { metric: 'p95 wait, the ten arriving at once, fair share', target: '(comparison)', measured: durations(p95(burst)), baseline: `${fmt(SINGLES / BACKENDS + 1, 1)} job-durations: ten jobs over ${BACKENDS} backends, one ahead on each`, ratio: '' },
      ],
      note:
        `${BACKENDS} simulators; each job sleeps ${JOB_S} s on its backend. Job-duration = how long a job holds a backend, measured as the pool's pace ` +
        `while the ten arrived (${BACKENDS} × the time between two successes of the flood): ${fmt(d, 3)} s (median start → success as the bridge hears it: ${fmt(fair.runSeconds, 3)} s; ` +
        `the rest is the hand-over: the bridge confirms the end from /history before the slot frees; against the ${JOB_S} s sleep alone the p95 is ` +
        `${fmt(p95(fair) / JOB_S, 2)} sleeps). ` +
        `One client submits ${FLOOD} jobs at once; once ${WARM_STARTS} of them have started, ten other clients (one API key's clients, the open bridge) ` +
        `submit one job each, one every ${spacing} s (half a job-duration: the pool finishes two jobs in that time); a wait is submission → the job's \`started\` event. ` +
        `Both runs use fresh in-process bridges with the defaults (BACKEND_PREFETCH 1: each backend holds its running job and one more, so a job dispatched at once ` +
        `still starts after the one ahead of it there, about one job-duration), MAX_JOBS_PER_CLIENT 0; the baseline is the same bridge with FAIR_SHARE=0 ` +
        `(first come, first served: the ten wait behind the flood). Waits: fair ${fair.waits.map((w) => fmt(w, 2)).join(', ')} s; ` +
        `first come, first served ${fifo.waits.map((w) => fmt(w, 1)).join(', ')} s; ten at once (fair) ${burst.waits.map((w) => fmt(w, 2)).join(', ')} s. ` +
        `Arriving together, ten jobs cannot all start within two job-durations on ${BACKENDS} backends (they need 2.5 job-durations of the whole pool), hence the spacing in the target's scenario.`,
    };
  },
};
