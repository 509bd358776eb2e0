// In-process bridges over simulators, driven through the engine API (the door is not what these
// benchmarks measure): start one, submit a batch and hear every job end, and the graphs they run.
import type { ComfySimulator } from '../src/sim/index.js';
import type { Engine } from '../src/engine/index.js';
import type { ComfyPrompt } from '../src/comfy/protocol.js';
import { benchDir, inProcessBridge, now, sleep } from './lib.js';

export interface EnginePool {
  engine: Engine;
  /** Stops the bridge, then the simulators, then removes its folder. */
  stop(): Promise<void>;
}

/** A bridge in this process over these simulators, once every one of them is up. */
export async function enginePool(sims: ComfySimulator[], env: Record<string, string> = {}): Promise<EnginePool> {
  const dir = await benchDir(
    sims.map((s) => s.url),
    { HEALTH_INTERVAL: '0.05', MAX_JOBS_PER_CLIENT: '0', ...env },
  );
  const bridge = await inProcessBridge(dir.env);
  const engine = bridge.running!.engine;
  const stop = async () => {
    await bridge.stop();
    await Promise.all(sims.map((s) => s.close()));
    await dir.dispose();
  };
  try {
    while (engine.healthyBackends().length < sims.length) await sleep(10);
  } catch (err) {
    await stop();
    throw err;
  }
  return { engine, stop };
}

/**
 * Submit these prompts at once (prompt i as client `clientOf(i)`); resolves once every job has
 * ended, with the time from the first submit to the last end and how many did not succeed.
 */
export async function runAll(engine: Engine, prompts: ComfyPrompt[], clientOf: (i: number) => string): Promise<{ seconds: number; failed: number }> {
  const open = new Set<string>();
  let failed = 0;
  let lastDone = 0;
  const done = new Promise<void>((resolve) => {
    const stop = engine.events.subscribe((e) => {
      if (!('jobId' in e) || !open.has(e.jobId)) return;
      if (e.kind !== 'succeeded' && e.kind !== 'failed' && e.kind !== 'cancelled') return;
      if (e.kind !== 'succeeded') failed++;
      open.delete(e.jobId);
      lastDone = now();
      if (open.size === 0) {
        stop();
        resolve();
      }
    });
  });
  const started = now();
  for (const [i, prompt] of prompts.entries()) open.add((await engine.submit({ clientId: clientOf(i), prompt, door: 'bench' })).job.id);
  await done;
  return { seconds: (lastDone - started) / 1000, failed };
}

/** txt2img's shape: a checkpoint, a sampler of `steps`, a decode and a preview. */
export function samplerPrompt(ckpt: string, steps: number, seed: number): ComfyPrompt {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: ckpt } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: `job ${seed}`, clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: { seed, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'PreviewImage', inputs: { images: ['8', 0] } },
  };
}
