// Capabilities: half the backends lack a node class (KSampler). A mixed stream of sampler jobs
// (which need it) and image jobs (which run anywhere) is submitted at once; a job sent to a
// backend lacking what it needs is misrouted (the backend refuses it at POST /prompt, and the job
// fails). Target: 0 misrouted, 0 failed. Baselines measured in the same run: the same stream with
// capability routing turned off at run time (jobs go to any healthy backend, as before the bridge
// learned capabilities), and the same stream on a pool where every backend has every node
// (what restricting sampler jobs to half the pool costs in makespan).
import { ComfySimulator } from '../src/sim/index.js';
import type { SimOptions } from '../src/sim/index.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import type { Benchmark, BenchOptions, BenchResult, Row } from './lib.js';
import { fmt, ratioText } from './lib.js';
import { enginePool, runAll, samplerPrompt } from './engine-pool.js';

const BACKENDS = 4;
const STEPS = 10;
const STEP_MS = 10;

function imagePrompt(seed: number): ComfyPrompt {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 64, batch_size: 1, color: seed % 16_777_215 } },
    '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 3, sigma: 1 } },
    '3': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
  };
}

interface Outcome {
  seconds: number;
  failed: number;
  /** Prompts that reached a backend lacking a class they name. */
  misrouted: number;
}

type Variant = 'capabilities' | 'routing-off' | 'homogeneous';

async function runVariant(variant: Variant, prompts: ComfyPrompt[]): Promise<Outcome> {
  const sim: SimOptions = { stepMs: STEP_MS, nodeMs: 5, previews: false, cache: false };
  const sims = await Promise.all(
    Array.from({ length: BACKENDS }, (_, i) => ComfySimulator.start({ name: `c${i}`, ...sim, ...(variant !== 'homogeneous' && i % 2 === 1 && { missingNodes: ['KSampler'] }) })),
  );
  const { engine, stop } = await enginePool(sims);
  try {
    if (variant === 'routing-off') engine.routing.enabled = false;
    const { seconds, failed } = await runAll(engine, prompts, (i) => `bench-caps-${i % 20}`);
    // Sent to a backend lacking KSampler: every prompt naming it that reached one of those.
    const lacking = sims.filter((_, i) => variant !== 'homogeneous' && i % 2 === 1);
    const misrouted = lacking.reduce((n, s) => n + s.receivedPrompts().filter((p) => Object.values(p.prompt as Record<string, { class_type: string }>).some((node) => node.class_type === 'KSampler')).length, 0);
    return { seconds, failed, misrouted };
  } finally {
    await stop();
  }
}

export const capabilities: Benchmark = {
  name: 'capabilities',
  title: 'Capabilities: half the backends lack a node class',
  async run(opts: BenchOptions): Promise<BenchResult> {
    const JOBS = opts.quick ? 80 : 240;
    // A fixed interleaving: about half sampler jobs, half image jobs.
    let x = 4242;
    const rand = () => ((x = (x * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const prompts = Array.from({ length: JOBS }, (_, i) => (rand() < 0.5 ? samplerPrompt('sd15.safetensors', STEPS, i) : imagePrompt(i)));
    const samplers = prompts.filter((p) => '3' in p && p['3'].class_type === 'KSampler').length;
    const results = new Map<Variant, Outcome>();
    for (const variant of ['capabilities', 'routing-off', 'homogeneous'] as Variant[]) {
      const r = await runVariant(variant, prompts);
      results.set(variant, r);
      opts.log(`  ${variant}: ${fmt(r.seconds, 2)} s, ${r.misrouted} misrouted, ${r.failed} failed`);
    }
    const c = results.get('capabilities')!;
    const off = results.get('routing-off')!;
    const homo = results.get('homogeneous')!;
    const rows: Row[] = [
      { metric: `misrouted jobs (sent to a backend lacking KSampler), ${JOBS} jobs, ${samplers} need it`, target: '0', measured: `${c.misrouted}`, baseline: `${off.misrouted} with capability routing off`, ratio: '', met: c.misrouted === 0 },
      { metric: 'failed jobs', target: '0', measured: `${c.failed}`, baseline: `${off.failed} with capability routing off`, ratio: '', met: c.failed === 0 },
      { metric: 'makespan', target: '(information)', measured: `${fmt(c.seconds, 2)} s`, baseline: `${fmt(homo.seconds, 2)} s with every backend able to run everything`, ratio: ratioText(c.seconds, homo.seconds) },
    ];
    const note =
      `${JOBS} jobs submitted at once through the engine, in a fixed pseudo-random mix: ${samplers} sampler jobs (KSampler, ${STEPS} steps × ${STEP_MS} ms) and ` +
      `${JOBS - samplers} image jobs (EmptyImage → ImageBlur → PreviewImage), on ${BACKENDS} simulators of which every second lacks KSampler (its /object_info does not ` +
      'list it and it refuses prompts naming it, as a ComfyUI without that node would). Misrouted = prompts a backend refused for a class it lacks. Baselines, each a fresh ' +
      'in-process bridge in the same run: capability routing turned off at run time (any healthy backend takes any job), and the same stream on four backends that all have ' +
      'KSampler (the makespan cost of running sampler jobs on half the pool: they are nearly all the work, so about 2× is what half the pool for them means).';
    return { rows, note };
  },
};
