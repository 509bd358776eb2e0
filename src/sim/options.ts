// Simulator options and their defaults.
import type { SimCredentials } from './auth.js';

export interface SimOptions {
  host?: string;
  port?: number;
  /** Label for logs and system_stats. */
  name?: string;
  /** Duration of one sampler step (KSampler). */
  stepMs?: number;
  /** Duration of every other executed node. */
  nodeMs?: number;
  /** Work runs `speed` times faster (durations are divided by it). */
  speed?: number;
  /** Pad every output PNG to at least this many bytes. */
  outputBytes?: number;
  /** Send binary latent preview frames on sampler steps. */
  previews?: boolean;
  /** Model files this backend has in models/checkpoints (CheckpointLoaderSimple's choices). */
  checkpoints?: string[];
  /** Files of its other model folders (GET /models/{folder}), e.g. {"loras": ["detail.safetensors"]}. */
  models?: Record<string, string[]>;
  /** Node classes this server lacks (as a ComfyUI without some custom node pack). */
  missingNodes?: string[];
  /** Milliseconds to load a checkpoint not held (one figure, or per file with `default`); 0 by default. */
  modelLoadMs?: number | Record<string, number>;
  /** Checkpoints kept loaded at once (least recently used dropped). */
  modelsKept?: number;
  /** ComfyUI-like execution cache (identical node + inputs reused from the previous prompt). */
  cache?: boolean;
  /** comfyui_version reported. */
  version?: string;
  /** Request body limit; larger bodies get 413. */
  maxUploadBytes?: number;
  /** Credentials every request and websocket upgrade must carry, as a proxy in front of ComfyUI asks (401 otherwise). */
  credentials?: SimCredentials;
}

export interface ResolvedOptions {
  host: string;
  port: number;
  name: string;
  stepMs: number;
  nodeMs: number;
  speed: number;
  outputBytes: number;
  previews: boolean;
  checkpoints: string[];
  models: Record<string, string[]>;
  missingNodes: string[];
  modelLoadMs: number | Record<string, number>;
  modelsKept: number;
  cache: boolean;
  version: string;
  maxUploadBytes: number;
  credentials: SimCredentials | undefined;
}

function nonNegative(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : fallback;
}

export function resolveOptions(opts: SimOptions = {}): ResolvedOptions {
  return {
    host: opts.host ?? '127.0.0.1',
    port: nonNegative(opts.port, 0),
    name: opts.name ?? 'comfy-sim',
    stepMs: nonNegative(opts.stepMs, 5),
    nodeMs: nonNegative(opts.nodeMs, 1),
    speed: typeof opts.speed === 'number' && opts.speed > 0 ? opts.speed : 1,
    outputBytes: nonNegative(opts.outputBytes, 0),
    previews: opts.previews ?? true,
    checkpoints: [...(opts.checkpoints ?? ['sd15.safetensors', 'sdxl.safetensors'])],
    models: Object.fromEntries(Object.entries(opts.models ?? {}).map(([k, v]) => [k, [...v]])),
    missingNodes: [...(opts.missingNodes ?? [])],
    modelLoadMs: typeof opts.modelLoadMs === 'object' ? { ...opts.modelLoadMs } : nonNegative(opts.modelLoadMs, 0),
    modelsKept: Math.max(1, Math.floor(nonNegative(opts.modelsKept, 2))),
    cache: opts.cache ?? true,
    version: opts.version ?? '0.3.64',
    maxUploadBytes: nonNegative(opts.maxUploadBytes, 100 * 1024 * 1024),
    credentials: opts.credentials && { ...opts.credentials },
  };
}
