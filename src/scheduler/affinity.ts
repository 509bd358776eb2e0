// Model affinity: which model files each backend has loaded most recently, and what loading one
// costs there. A backend's ComfyUI keeps the models of its last prompts in memory; sending a job
// whose checkpoint it holds saves the seconds a switch costs. The bridge knows what it sent where
// (the loader inputs of the prompts that ran there), and learns each model's load time per
// backend from the loader nodes' own time (the first job after a switch is slower).
//
// Pure bookkeeping: the scheduler tells it what ran and how long the loaders took; the plan asks
// what a job would cost to start on a backend.
import type { ComfyPrompt } from '../comfy/protocol.js';

/** File endings of model weights (what a loader input names). */
const MODEL_FILE = /\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx)$/i;
/** Loader inputs that name the model a prompt loads: ckpt_name, unet_name, lora_name, vae_name, … */
const MODEL_INPUT = /_name$/;
/** Recently used models remembered per backend. */
const REMEMBERED = 16;
const ALPHA = 0.3;

/** The model files a prompt loads, and the nodes that load them. */
export function modelsOf(prompt: ComfyPrompt): { models: string[]; loaders: string[] } {
  const models = new Set<string>();
  const loaders: string[] = [];
  for (const [id, node] of Object.entries(prompt)) {
    let loads = false;
    for (const [input, value] of Object.entries(node?.inputs ?? {})) {
      if (typeof value === 'string' && MODEL_INPUT.test(input) && MODEL_FILE.test(value)) {
        models.add(value);
        loads = true;
      }
    }
    if (loads) loaders.push(id);
  }
  return { models: [...models], loaders };
}

export class ModelAffinity {
  /** Per backend: models it ran, least recently used first. */
  private readonly recent = new Map<string, string[]>();
  /** Per backend, per model: learned seconds to load it. */
  private readonly loadSeconds = new Map<string, Map<string, number>>();
  /** Per backend: how many models it keeps loaded, as far as the bridge can tell. */
  private readonly kept = new Map<string, { atLeast: number; below: number }>();

  /** Does the backend (probably) hold this model now? */
  holds(backend: string, model: string): boolean {
    const list = this.recent.get(backend) ?? [];
    const i = list.lastIndexOf(model);
    if (i < 0) return false;
    // Position from the most recent: 0 is the model of its last prompt.
    return list.length - 1 - i < this.keptBy(backend);
  }

  /** The models it probably holds, most recent first. */
  held(backend: string): string[] {
    const list = [...(this.recent.get(backend) ?? [])].reverse();
    return list.slice(0, this.keptBy(backend));
  }

  /** How many models a backend keeps loaded: learned from which switches cost time (1 until known). */
  keptBy(backend: string): number {
    const k = this.kept.get(backend);
    if (!k) return 1;
    return Math.max(1, Math.min(k.atLeast, k.below - 1));
  }

  /** Expected seconds to load these models on the backend before the job can run. */
  switchSeconds(backend: string, models: readonly string[]): number {
    let total = 0;
    for (const m of models) if (!this.holds(backend, m)) total += this.costOf(backend, m);
    return total;
  }

  /** Learned (or, until learned there, the mean over what is known) seconds to load a model. */
  costOf(backend: string, model: string): number {
    const own = this.loadSeconds.get(backend)?.get(model);
    if (own !== undefined) return own;
    let sum = 0;
    let n = 0;
    for (const per of this.loadSeconds.values()) {
      const v = per.get(model);
      if (v !== undefined) {
        sum += v;
        n++;
      }
    }
    if (n) return sum / n;
    for (const per of this.loadSeconds.values()) for (const v of per.values()) (sum += v), n++;
    return n ? sum / n : 0;
  }

  /**
   * A job that loads `models` ran on `backend`; its loader nodes took `loaderSeconds` (0 when they
   * were cached). Learn whether that was a switch and what it cost.
   */
  ran(backend: string, models: readonly string[], loaderSeconds: number): void {
    if (models.length === 0) return;
    const list = this.recent.get(backend) ?? [];
    // How far back each model was used: a load that cost time says the backend no longer held it.
    const depth = Math.max(...models.map((m) => (list.lastIndexOf(m) < 0 ? Infinity : list.length - 1 - list.lastIndexOf(m))));
    const switched = loaderSeconds > LOAD_SECONDS_FLOOR;
    if (Number.isFinite(depth)) {
      const k = this.kept.get(backend) ?? { atLeast: 1, below: Infinity };
      // Used `depth` models ago: loaded again means it keeps at most `depth`, not loaded means more.
      if (switched) k.below = Math.min(k.below, depth + 1);
      else k.atLeast = Math.max(k.atLeast, depth + 1);
      if (k.atLeast >= k.below) k.below = k.atLeast + 1; // the backend changed (restart, other users): trust the newest
      this.kept.set(backend, k);
    }
    if (switched) {
      const per = this.loadSeconds.get(backend) ?? new Map<string, number>();
      const share = loaderSeconds / models.length;
      for (const m of models) {
        const old = per.get(m);
        per.set(m, old === undefined ? share : old + ALPHA * (share - old));
      }
      this.loadSeconds.set(backend, per);
    }
    const next = list.filter((m) => !models.includes(m));
    next.push(...models);
    this.recent.set(backend, next.slice(-REMEMBERED));
  }

  /** A backend restarted or unloaded its models (POST /free): it holds nothing now. */
  forget(backend: string): void {
    this.recent.delete(backend);
  }
}

/** Loader time below which a model counts as already loaded (reading a cached node costs nothing). */
const LOAD_SECONDS_FLOOR = 0.25;

/**
 * How long a job's loader nodes ran, from the backend's `executing` messages (a node runs from its
 * `executing` until the next one). A loader the backend served from its cache took no time.
 */
export class LoaderClock {
  private current: string | undefined;
  private since = 0;
  private total = 0;
  /** Saw the run from its start (a job picked up midway says nothing). */
  private complete = false;

  constructor(private readonly loaders: readonly string[]) {}

  observe(type: string, data: Record<string, unknown> | undefined, now: number): void {
    if (type === 'execution_start') this.complete = true;
    if (type !== 'executing') return;
    if (this.current !== undefined && this.loaders.includes(this.current)) this.total += (now - this.since) / 1000;
    const node = data?.node;
    this.current = node === null || node === undefined ? undefined : String(node);
    this.since = now;
  }

  /** Seconds the loaders took, or undefined when the run was not seen whole. */
  get seconds(): number | undefined {
    return this.complete ? this.total : undefined;
  }
}
