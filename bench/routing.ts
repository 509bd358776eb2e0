// Routing: model affinity over mixed checkpoints, a burst after other work, and jobs whose time
// the unit count cannot see. In-process bridges over simulators; jobs submitted through the
// engine (the door is not what is measured here), finishes read from its event stream.
import { ComfySimulator } from '../src/sim/index.js';
import type { SimOptions } from '../src/sim/index.js';
import type { Engine } from '../src/engine/index.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import type { Benchmark, BenchOptions, BenchResult, Row } from './lib.js';
import { fmt, median, now, ratioText } from './lib.js';
import { enginePool, runAll as runBatch, samplerPrompt } from './engine-pool.js';
import type { EnginePool } from './engine-pool.js';

interface Pool extends EnginePool {
  sims: ComfySimulator[];
}

async function pool(n: number, sim: SimOptions): Promise<Pool> {
  const sims = await Promise.all(Array.from({ length: n }, (_, i) => ComfySimulator.start({ name: `r${i}`, ...sim })));
  return { sims, ...(await enginePool(sims)) };
}

/** Submit these prompts at once, from 50 clients named after `client`. */
const runAll = (engine: Engine, prompts: ComfyPrompt[], client = 'bench-routing') => runBatch(engine, prompts, (i) => `${client}-${i % 50}`);

const CHECKPOINTS = ['alpha.safetensors', 'beta.safetensors', 'gamma.safetensors'];

function sleepPrompt(seconds: number, tag: string): ComfyPrompt {
  return {
    '1': { class_type: 'TestSleep', inputs: { value: tag, seconds } },
    '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
  };
}

type Planner = 'affinity' | 'no-affinity' | 'fewest-queued';

/** Run the bridge as shipped, or with a part of its routing turned off (at run time, as balance.ts does). */
function usePlanner(engine: Engine, planner: Planner): void {
  const scheduler = (engine as unknown as { scheduler: { affinity: { costOf: unknown; switchSeconds: unknown }; estimates: { record: unknown } } }).scheduler;
  if (planner === 'no-affinity') {
    scheduler.affinity.costOf = () => 0;
    scheduler.affinity.switchSeconds = () => 0;
  }
  if (planner === 'fewest-queued') scheduler.estimates.record = () => undefined;
}

async function mixedModels(opts: BenchOptions): Promise<{ rows: Row[]; note: string }> {
  const JOBS = opts.quick ? 90 : 300;
  const STEPS = 10;
  const STEP_MS = 20;
  const LOAD_MS = 3000;
  // A fixed pseudo-random order of checkpoints, weighted 50/30/20 (one model rarely used).
  let x = 12345;
  const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const ckpts = Array.from({ length: JOBS }, () => {
    const r = rand();
    return r < 0.5 ? CHECKPOINTS[0] : r < 0.8 ? CHECKPOINTS[1] : CHECKPOINTS[2];
  });
  const results = new Map<Planner, { seconds: number; loads: number; failed: number }>();
  let perJob = 0;
  for (const planner of ['affinity', 'no-affinity', 'fewest-queued'] as Planner[]) {
    const p = await pool(4, { stepMs: STEP_MS, nodeMs: 5, checkpoints: CHECKPOINTS, modelLoadMs: LOAD_MS, modelsKept: 2, previews: false, cache: false });
    try {
      usePlanner(p.engine, planner);
      // Learn speeds first with two jobs per backend on one model (not counted).
      await runAll(p.engine, Array.from({ length: 8 }, (_, i) => samplerPrompt(CHECKPOINTS[0], STEPS, i)), 'warm');
      const loadsBefore = p.sims.reduce((s, sim) => s + sim.models.loads, 0);
      const t0 = now();
      const r = await runAll(p.engine, ckpts.map((c, i) => samplerPrompt(c, STEPS, 1000 + i)));
      const loads = p.sims.reduce((s, sim) => s + sim.models.loads, 0) - loadsBefore;
      results.set(planner, { seconds: r.seconds, loads, failed: r.failed });
      if (planner === 'affinity') perJob = (now() - t0) / 1000;
      opts.log(`  mixed models, ${planner}: ${fmt(r.seconds, 2)} s, ${loads} model loads, ${r.failed} failed`);
    } finally {
      await p.stop();
    }
  }
  void perJob;
  // Lower bound: the work itself spread over 4 backends, plus one load per backend at the start
  // (three models on four backends that each keep two: after the first loads nothing must move).
  const jobSeconds = (STEPS * STEP_MS + 6 * 5) / 1000;
  const bound = (JOBS * jobSeconds) / 4 + LOAD_MS / 1000;
  const a = results.get('affinity')!;
  const n = results.get('no-affinity')!;
  const f = results.get('fewest-queued')!;
  const rows: Row[] = [
    { metric: `mixed models: makespan, ${JOBS} jobs, 3 checkpoints, 4 backends keeping 2 (load 3 s)`, target: '≤ 1.15 × lower bound', measured: `${fmt(a.seconds, 2)} s`, baseline: `${fmt(bound, 2)} s lower bound`, ratio: ratioText(a.seconds, bound), met: a.seconds <= 1.15 * bound },
    { metric: 'mixed models: model loads', target: '≤ half of fewest-queued', measured: `${a.loads}`, baseline: `${f.loads} with fewest-queued`, ratio: ratioText(a.loads, Math.max(1, f.loads)), met: a.loads * 2 <= f.loads },
    { metric: 'mixed models: makespan without affinity (the earlier planner)', target: '(comparison)', measured: `${fmt(n.seconds, 2)} s, ${n.loads} loads`, baseline: `${fmt(bound, 2)} s lower bound`, ratio: ratioText(n.seconds, bound) },
    { metric: 'mixed models: makespan, fewest-queued', target: '(comparison)', measured: `${fmt(f.seconds, 2)} s, ${f.loads} loads`, baseline: `${fmt(bound, 2)} s lower bound`, ratio: ratioText(f.seconds, bound) },
    { metric: 'mixed models: failed jobs', target: '0', measured: `${a.failed + n.failed + f.failed}`, baseline: '', ratio: '', met: a.failed + n.failed + f.failed === 0 },
  ];
  const note =
    `Mixed models: ${JOBS} sampler jobs (${STEPS} steps × ${STEP_MS} ms, nodes 5 ms, ≈ ${fmt(jobSeconds * 1000, 0)} ms of work each) over checkpoints drawn 50/30/20 ` +
    `in a fixed order, submitted at once, on 4 simulators that load a checkpoint in ${LOAD_MS / 1000} s and keep 2 loaded (least recently used dropped). ` +
    `Lower bound = work ÷ 4 + one load = ${fmt(bound, 2)} s. Each variant is a fresh in-process bridge warmed with 8 jobs; "without affinity" zeroes the learned load costs at run time, ` +
    `"fewest-queued" turns speed learning off so the bridge never leaves its count-based choice.`;
  return { rows, note };
}

async function burst(opts: BenchOptions): Promise<{ rows: Row[]; note: string }> {
  const BURST = 16;
  const SECONDS = 0.4;
  const ratios: number[] = [];
  const splits: string[] = [];
  for (let round = 0; round < (opts.quick ? 1 : 3); round++) {
    // Direct: 16 on one simulator, no bridge.
    const direct = await ComfySimulator.start({ name: 'direct', nodeMs: 1 });
    let directSeconds: number;
    try {
      let finished = 0;
      const allDone = new Promise<void>((resolve) => direct.on('finished', () => ++finished === BURST && resolve()));
      const t0 = now();
      for (let i = 0; i < BURST; i++) {
        await fetch(`${direct.url}/prompt`, { method: 'POST', body: JSON.stringify({ prompt: sleepPrompt(SECONDS, `d${round}-${i}`) }) });
      }
      await allDone;
      directSeconds = (now() - t0) / 1000;
    } finally {
      await direct.close();
    }
    const p = await pool(2, { nodeMs: 1 });
    try {
      // A few tiny jobs first: their learned speed is what misled the planner before.
      await runAll(p.engine, Array.from({ length: 6 }, (_, i) => sleepPrompt(0.02, `tiny${round}-${i}`)), 'tiny');
      const before = p.sims.map((s) => s.stats.executed);
      const r = await runAll(p.engine, Array.from({ length: BURST }, (_, i) => sleepPrompt(SECONDS, `burst${round}-${i}`)));
      const split = p.sims.map((s, i) => s.stats.executed - before[i]);
      splits.push(split.join('/'));
      ratios.push(directSeconds / r.seconds);
      opts.log(`  burst round ${round + 1}: direct ${fmt(directSeconds, 2)} s, bridge ${fmt(r.seconds, 2)} s (${fmt(directSeconds / r.seconds, 2)}×), split ${split.join('/')}`);
    } finally {
      await p.stop();
    }
  }
  const m = median(ratios);
  return {
    rows: [
      { metric: `burst after other work: 16 × ${SECONDS} s over 2 backends vs one backend direct`, target: '≥ 1.95×', measured: `${fmt(m, 2)}× (splits ${splits.join(', ')})`, baseline: '1 backend, no bridge', ratio: `${fmt(m, 2)}×`, met: m >= 1.95 },
    ],
    note: `Burst: 6 tiny jobs (a 20 ms TestSleep, 3 work units like the burst's) then 16 TestSleep jobs of ${SECONDS} s submitted at once over 2 simulators, against the same 16 posted straight to one simulator; median of ${ratios.length} rounds, each on fresh simulators and a fresh bridge.`,
  };
}

async function unknownDurations(opts: BenchOptions): Promise<{ rows: Row[]; note: string }> {
  const p = await pool(2, { stepMs: 20, nodeMs: 5, previews: false, cache: false });
  try {
    // Learn speeds on sampler jobs, then mix in sleeps the unit count cannot see.
    await runAll(p.engine, Array.from({ length: 4 }, (_, i) => samplerPrompt('sd15.safetensors', 10, i)), 'warm');
    const sleeps = [0.6, 0.1, 0.9, 0.3, 0.5, 0.2, 0.8, 0.4, 0.7, 0.15];
    const prompts: ComfyPrompt[] = [];
    for (let i = 0; i < 10; i++) {
      prompts.push(sleepPrompt(sleeps[i], `u${i}`));
      prompts.push(samplerPrompt('sd15.safetensors', 10, 100 + i));
    }
    // Idle time of each simulator while the bridge had work waiting, sampled every 5 ms: a
    // simulator holds a prompt from its `queued` to its `finished`.
    const holding = p.sims.map(() => 0);
    p.sims.forEach((sim, i) => {
      sim.on('queued', () => holding[i]++);
      sim.on('finished', () => holding[i]--);
    });
    let idleWhileWaiting = 0;
    let samples = 0;
    const timer = setInterval(() => {
      if (p.engine.counts().waiting === 0) return;
      samples++;
      for (const h of holding) if (h <= 0) idleWhileWaiting += 5;
    }, 5);
    const r = await runAll(p.engine, prompts);
    clearInterval(timer);
    const work = sleeps.reduce((a, b) => a + b, 0) + 10 * (10 * 0.02 + 6 * 0.005);
    const bound = Math.max(work / 2, Math.max(...sleeps));
    opts.log(`  unknown durations: ${fmt(r.seconds, 2)} s vs ${fmt(bound, 2)} s bound; idle while work waited ${idleWhileWaiting} ms over ${samples} samples`);
    return {
      rows: [
        { metric: 'unknown durations: makespan, 10 sleeps (0.1–0.9 s) + 10 sampler jobs on 2 backends', target: '(information)', measured: `${fmt(r.seconds, 2)} s`, baseline: `${fmt(bound, 2)} s lower bound`, ratio: ratioText(r.seconds, bound) },
        { metric: 'unknown durations: backend idle while work waited (sampled every 5 ms)', target: '≈ 0 (hand-over only)', measured: `${idleWhileWaiting} ms`, baseline: `${fmt(r.seconds * 1000, 0)} ms run`, ratio: '', met: idleWhileWaiting <= 10 * 20 },
      ],
      note: 'Unknown durations: speeds learned on 4 sampler jobs, then 10 TestSleep jobs (3 units each, whatever they sleep) alternating with 10 sampler jobs, submitted at once on 2 simulators; idle = a simulator with an empty queue while the bridge held waiting jobs, sampled every 5 ms (a hand-over shows up as a sample or two).',
    };
  } finally {
    await p.stop();
  }
}

export const routing: Benchmark = {
  name: 'routing',
  title: 'Routing: model affinity, a burst after other work, unknown durations',
  // Three planners over 300 jobs each, the slower two near a minute apiece.
  limitS: 600,
  async run(opts: BenchOptions): Promise<BenchResult> {
    // BENCH_ROUTING_PARTS=burst,unknown,mixed (all by default): a part alone, for investigating.
    const only = (process.env.BENCH_ROUTING_PARTS ?? 'burst,unknown,mixed').split(',');
    const parts = [];
    if (only.includes('burst')) parts.push(await burst(opts));
    if (only.includes('unknown')) parts.push(await unknownDurations(opts));
    if (only.includes('mixed')) parts.push(await mixedModels(opts));
    return { rows: parts.flatMap((p) => p.rows), note: parts.map((p) => p.note).join(' ') };
  },
};

