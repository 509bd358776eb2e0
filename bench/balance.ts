// balance: 200 txt2img jobs of mixed lengths over 4 simulators of speeds 1, 1, 2 and 4; makespan
// against the lower bound (total work / total speed).
//
// Measured: the bridge as shipped (learned speeds), and the same bridge with learning switched
// off at run time (its count-based policy: the head job to the backend with the fewest of our
// jobs, among those with a free slot). Offline, on the same job list and the simulators'
// calibrated speeds: round-robin, the count-based policy, and earliest-finish with perfect speeds.
import { randomUUID } from 'node:crypto';
import { ComfySimulator } from '../src/sim/index.js';
import { planEarliestFinish } from '../src/scheduler/policy.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import type { Benchmark, BenchOptions, BenchResult, Http } from './lib.js';
import { benchDir, fmt, httpClient, inProcessBridge, JsonSocket, median, now, pool, sum, workflowGraph } from './lib.js';

const SPEEDS = [1, 1, 2, 4];
const STEP_MS = 20;
const JOBS = 200;
/** txt2img has 6 nodes besides the sampler; with the cache off each runs for one step's time. */
const NODES = 6;
const SLOTS = 2; // one running plus BACKEND_PREFETCH 1

/** Deterministic mix: 70% short (2–8 steps), 30% long (12–24 steps). */
function jobSteps(): number[] {
  let x = 0x2545f491;
  const rand = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
  return Array.from({ length: JOBS }, () => (rand() < 0.7 ? 2 + Math.floor(rand() * 7) : 12 + Math.floor(rand() * 13)));
}

/** Milliseconds per work unit of each simulator, measured with two job sizes run directly. */
async function calibrate(sims: ComfySimulator[], http: Http): Promise<number[]> {
  const graph = (await workflowGraph('txt2img')) as ComfyPrompt;
  return Promise.all(
    sims.map(async (sim) => {
      const clientId = randomUUID().replace(/-/g, '');
      const socket = await JsonSocket.open(`${sim.url.replace(/^http/, 'ws')}/ws?clientId=${clientId}`, (m) => m.type === 'status');
      const run = async (steps: number) => {
        const prompt = structuredClone(graph);
        prompt['3'].inputs.steps = steps;
        const id = randomUUID();
        const done = socket.next((m) => m.type === 'executing' && m.data?.node === null && m.data?.prompt_id === id);
        const t = now();
        await http.postJson(`${sim.url}/prompt`, { prompt, client_id: clientId, prompt_id: id });
        await done;
        return now() - t;
      };
      await run(4);
      const small = await run(4);
      const large = await run(44);
      socket.close();
      return (large - small) / 40;
    }),
  );
}

interface OfflineBackend {
  rate: number;
  queue: number[];
  runningEnd: number;
  runningJob: number | undefined;
}

/**
 * Late-binding simulation with the bridge's slot model: `choose` picks (job index in the waiting
 * list, backend) or undefined; called whenever something changed.
 */
function simulate(units: number[], rates: number[], choose: (waiting: number[], backends: OfflineBackend[], t: number) => { job: number; backend: number } | undefined): number {
  const backends: OfflineBackend[] = rates.map((rate) => ({ rate, queue: [], runningEnd: 0, runningJob: undefined }));
  const waiting = units.map((_, i) => i);
  let t = 0;
  let done = 0;
  const startNext = (b: OfflineBackend) => {
    if (b.runningJob !== undefined || b.queue.length === 0) return;
    b.runningJob = b.queue.shift()!;
    b.runningEnd = t + units[b.runningJob] * b.rate;
  };
  while (done < units.length) {
    for (;;) {
      const pick = waiting.length ? choose(waiting, backends, t) : undefined;
      if (!pick) break;
      const [job] = waiting.splice(pick.job, 1);
      backends[pick.backend].queue.push(job);
      startNext(backends[pick.backend]);
    }
    const next = backends.filter((b) => b.runningJob !== undefined).sort((a, b) => a.runningEnd - b.runningEnd)[0];
    if (!next) throw new Error('offline simulation stalled: jobs wait and no backend runs one');
    t = next.runningEnd;
    next.runningJob = undefined;
    done++;
    startNext(next);
  }
  return t;
}

const ours = (b: OfflineBackend) => b.queue.length + (b.runningJob === undefined ? 0 : 1);

function fewestQueued(): (waiting: number[], backends: OfflineBackend[]) => { job: number; backend: number } | undefined {
  let rotation = 0;
  return (_waiting, backends) => {
    const start = rotation++ % backends.length;
    let best = -1;
    for (let k = 0; k < backends.length; k++) {
      const i = (start + k) % backends.length;
      if (ours(backends[i]) >= SLOTS) continue;
      if (best < 0 || ours(backends[i]) < ours(backends[best])) best = i;
    }
    return best < 0 ? undefined : { job: 0, backend: best };
  };
}

function earliestFinish(units: number[]) {
  return (waiting: number[], backends: OfflineBackend[], t: number) => {
    const timed = backends.map((b, i) => ({
      id: String(i),
      free: ours(b) < SLOTS,
      busySeconds: (b.runningJob === undefined ? 0 : b.runningEnd - t) + sum(b.queue.map((j) => units[j] * b.rate)),
      rate: b.rate,
    }));
    const plan = planEarliestFinish(waiting.slice(0, 64).map((j) => ({ units: units[j] })), timed);
    return plan ? { job: plan.job, backend: Number(plan.backend) } : undefined;
  };
}

function roundRobin(units: number[], rates: number[]): number {
  const load = rates.map(() => 0);
  units.forEach((u, j) => (load[j % rates.length] += u * rates[j % rates.length]));
  return Math.max(...load);
}

/** Submit every job at once, each from its own client; milliseconds until the last "closed". */
async function makespan(sims: ComfySimulator[], steps: number[], learn: boolean, http: Http): Promise<number> {
  const dir = await benchDir(
    sims.map((s) => s.url),
    { BACKEND_PREFETCH: '1' },
  );
  const bridge = await inProcessBridge(dir.env);
  const engine = bridge.running!.engine;
  // Measuring the untimed policy: the scheduler's learning is switched off from outside the engine API.
  if (!learn) (engine as unknown as { scheduler: { estimates: { record: () => void } } }).scheduler.estimates.record = () => undefined;
  const sockets: JsonSocket[] = [];
  try {
    for (let waited = 0; engine.healthyBackends().length < engine.backendUrls().length; waited += 10) {
      if (waited > 30_000) throw new Error('the backends did not become healthy within 30 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    const ids = steps.map(() => `bench-balance-${randomUUID()}`);
    for (const id of ids) sockets.push(await JsonSocket.open(`${bridge.wsUrl}/ws?clientId=${id}`, (m) => m.status === 'connected'));
    const closed = sockets.map((s) => s.next((m) => m.status === 'closed' || m.status === 'error'));
    const t0 = now();
    await pool(steps.length, 1, async (i) => {
      const res = await http.postJson(`${bridge.url}/generate-based-workflow?clientId=${ids[i]}`, { workflow: 'txt2img', '3/steps': steps[i], '3/seed': i });
      if (res.status !== 200) throw new Error(`accept answered ${res.status}: ${JSON.stringify(res.body)}`);
    });
    const ends = await Promise.all(closed.map((p) => p.then((m) => (m.status === 'closed' ? now() : Promise.reject(new Error(m.detail))))));
    return Math.max(...ends) - t0;
  } finally {
    for (const s of sockets) s.close();
    await bridge.stop();
    await dir.dispose();
  }
}

export const balance: Benchmark = {
  name: 'balance',
  title: 'Makespan of mixed jobs over backends of different speeds',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const rounds = opts.quick ? 1 : 3;
    const steps = jobSteps();
    const units = steps.map((s) => s + NODES);
    const totalUnits = sum(units);
    const nominalRates = SPEEDS.map((s) => STEP_MS / s);
    const lowerBound = (totalUnits * STEP_MS) / sum(SPEEDS);
    const sims = await Promise.all(SPEEDS.map((speed, i) => ComfySimulator.start({ name: `balance${i}`, stepMs: STEP_MS, nodeMs: STEP_MS, speed, cache: false, previews: false })));
    const http = httpClient(16);
    try {
      const rates = await calibrate(sims, http);
      const effectiveBound = totalUnits / sum(rates.map((r) => 1 / r));
      opts.log(`lower bound ${fmt(lowerBound / 1000, 2)} s (calibrated speeds: ${fmt(effectiveBound / 1000, 2)} s); ms/unit ${rates.map((r) => fmt(r, 2)).join(', ')}`);
      const learned: number[] = [];
      const counted: number[] = [];
      for (let r = 0; r < rounds; r++) {
        // Alternate which variant runs first.
        for (const learn of r % 2 === 0 ? [true, false] : [false, true]) {
          const ms = await makespan(sims, steps, learn, http);
          (learn ? learned : counted).push(ms);
          opts.log(`round ${r + 1}, ${learn ? 'learned speeds' : 'count-based'}: ${fmt(ms / 1000, 2)} s = ${fmt(ms / lowerBound, 3)} × bound`);
        }
      }
      const offline = {
        roundRobin: roundRobin(units, rates),
        fewest: simulate(units, rates, fewestQueued()),
        earliest: simulate(units, rates, earliestFinish(units)),
      };
      const m = median(learned);
      const c = median(counted);
      const x = (v: number) => `${fmt(v / lowerBound, 2)}×`;
      const s = (v: number) => `${fmt(v / 1000, 2)} s`;
      const bound = `${s(lowerBound)} lower bound`;
      return {
        rows: [
          { metric: 'makespan, learned speeds (the bridge as shipped)', target: '≤ 1.15 × lower bound', measured: s(m), baseline: bound, ratio: x(m), met: m <= 1.15 * lowerBound },
          { metric: 'makespan, count-based (learning off, measured)', target: '(comparison)', measured: s(c), baseline: bound, ratio: x(c) },
          { metric: 'makespan, round-robin (offline)', target: '(comparison)', measured: s(offline.roundRobin), baseline: bound, ratio: x(offline.roundRobin) },
          { metric: 'makespan, fewest-queued (offline)', target: '(comparison)', measured: s(offline.fewest), baseline: bound, ratio: x(offline.fewest) },
        ],
        note:
          `${JOBS} txt2img jobs, "3/steps" from a fixed pseudo-random mix (70% 2–8 steps, 30% 12–24; ${fmt(totalUnits, 0)} work units in all, ` +
          `a unit being a sampler step or a node, the bridge's own measure), submitted at once in the same order each time, each by its own client on /ws; ` +
          `makespan = first POST → last "closed". Simulators: stepMs ${STEP_MS}, nodeMs ${STEP_MS} and their cache off, so a job's work is exactly its units; ` +
          `speeds ${SPEEDS.join(', ')}. Lower bound = units × ${STEP_MS} ms ÷ ${sum(SPEEDS)} = ${s(lowerBound)}; with the simulators' calibrated speeds ` +
          `(${rates.map((r, i) => `${fmt(r, 2)} ms/unit vs ${fmt(nominalRates[i], 2)} nominal`).join('; ')}: their timers overshoot a little) it is ${s(effectiveBound)}, ` +
          `and the learned-speed makespan is ${x(m * (lowerBound / effectiveBound))} of that. ` +
          `A fresh in-process bridge (BACKEND_PREFETCH 1) per run, ${rounds} rounds alternating the measured variants, medians. ` +
          `"Count-based" is the same bridge with Scheduler.estimates.record replaced by a no-op at run time, so it never leaves its fewest-queued policy. ` +
          `Offline (same job list, calibrated speeds, no network or bridge costs): round-robin assigns job k to backend k mod 4 up front ` +
          `(fewest-queued at submission time assigns the same way, since nothing finishes while 200 jobs are submitted); ` +
          `fewest-queued with the bridge's late binding (2 slots per backend) gives ${s(offline.fewest)}; ` +
          `earliest-finish with perfectly known speeds (the bridge's planEarliestFinish) gives ${s(offline.earliest)} = ${x(offline.earliest)}. ` +
          `Runs: learned ${learned.map((v) => s(v)).join(', ')}; count-based ${counted.map((v) => s(v)).join(', ')}.`,
      };
    } finally {
      await http.close();
      await Promise.all(sims.map((s) => s.close()));
    }
  },
};
