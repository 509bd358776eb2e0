// Capabilities: half the backends lack a node class (KSampler). A mixed stream of sampler jobs
// (which need it) and image jobs (which run anywhere) is submitted at once; a job sent to a
// backend lacking what it needs is misrouted (the backend refuses it at POST /prompt, and the job
// fails). Target: 0 misrouted, 0 failed. Baselines measured in the same run: the same stream with
// capability routing turned off at run time (jobs go to any healthy backend, as before the bridge
// learned capabilities), and the same stream on a pool where every backend has every node
// (what restricting sampler jobs to half the pool costs in makespan).
import { ComfySimulator } from '../src/sim/index.js';
import type { SimOptions } from '../src/sim/index.js';
import type { Engine } from '../src/engine/index.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import type { Benchmark, BenchOptions, BenchResult, Row } from './lib.js';
import { benchDir, fmt, inProcessBridge, now, ratioText } from './lib.js';

const BACKENDS = 4;
const STEPS = 10;
const STEP_MS = 10;

function samplerPrompt(seed: number): ComfyPrompt {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: `job ${seed}`, clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: { seed, steps: STEPS, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'PreviewImage', inputs: { images: ['8', 0] } },
  };
}

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
  const dir = await benchDir(sims.map((s) => s.url), { HEALTH_INTERVAL: '0.05', MAX_JOBS_PER_CLIENT: '0' });
  const bridge = await inProcessBridge(dir.env);
  const engine: Engine = bridge.running!.engine;
  try {
    while (engine.healthyBackends().length < BACKENDS) await new Promise((r) => setTimeout(r, 10));
    if (variant === 'routing-off') engine.routing.enabled = false;
    const open = new Set<string>();
    let failed = 0;
    let lastDone = 0;
    const done = new Promise<void>((resolve) => {
      const stop = engine.events.subscribe((e) => {
        if (!('jobId' in e) || !open.has(e.jobId)) return;
        if (e.kind === 'succeeded' || e.kind === 'failed' || e.kind === 'cancelled') {
          if (e.kind !== 'succeeded') failed++;
          open.delete(e.jobId);
          lastDone = now();
          if (open.size === 0) {
            stop();
            resolve();
          }
        }
      });
    });
    const started = now();
    for (const [i, prompt] of prompts.entries()) open.add((await engine.submit({ clientId: `bench-caps-${i % 20}`, prompt, door: 'bench' })).job.id);
    await done;
    // Sent to a backend lacking KSampler: every prompt naming it that reached one of those.
    const lacking = sims.filter((_, i) => variant !== 'homogeneous' && i % 2 === 1);
    const misrouted = lacking.reduce((n, s) => n + s.receivedPrompts().filter((p) => Object.values(p.prompt as Record<string, { class_type: string }>).some((node) => node.class_type === 'KSampler')).length, 0);
    return { seconds: (lastDone - started) / 1000, failed, misrouted };
  } finally {
    await bridge.stop();
    await Promise.all(sims.map((s) => s.close()));
    await dir.dispose();
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
    const prompts = Array.from({ length: JOBS }, (_, i) => (rand() < 0.5 ? samplerPrompt(i) : imagePrompt(i)));
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
