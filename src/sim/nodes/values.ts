// Stand-ins for the tensors and model objects that flow between nodes. They
// carry just enough (size, batch, a colour or seed) to produce plausible outputs.
import { createHash } from 'node:crypto';
import { isPlainObject, pyJson, pyRepr } from '../../comfy/python.js';
import type { Rgb } from '../png.js';

export interface ImageValue {
  kind: 'IMAGE';
  width: number;
  height: number;
  batch: number;
  rgb: Rgb;
}

export interface MaskValue {
  kind: 'MASK';
  width: number;
  height: number;
  batch: number;
  alpha: number;
}

export interface LatentValue {
  kind: 'LATENT';
  width: number;
  height: number;
  batch: number;
  /** Everything that shaped the latent so far, folded into one number. */
  seed: number;
}

export interface ModelValue {
  kind: 'MODEL' | 'CLIP' | 'VAE';
  ckpt: string;
}

export interface ConditioningValue {
  kind: 'CONDITIONING';
  text: string;
  ckpt: string;
}

export type FakeValue = ImageValue | MaskValue | LatentValue | ModelValue | ConditioningValue;

export function isFake(value: unknown): value is FakeValue {
  return isPlainObject(value) && typeof value.kind === 'string' && ['IMAGE', 'MASK', 'LATENT', 'MODEL', 'CLIP', 'VAE', 'CONDITIONING'].includes(value.kind);
}

export function asImage(value: unknown): ImageValue | null {
  return isFake(value) && value.kind === 'IMAGE' ? value : null;
}

export function asLatent(value: unknown): LatentValue | null {
  return isFake(value) && value.kind === 'LATENT' ? value : null;
}

export function asConditioning(value: unknown): ConditioningValue | null {
  return isFake(value) && value.kind === 'CONDITIONING' ? value : null;
}

export function asModel(value: unknown): ModelValue | null {
  return isFake(value) && (value.kind === 'MODEL' || value.kind === 'CLIP' || value.kind === 'VAE') ? value : null;
}

function digest(parts: unknown[]): Buffer {
  return createHash('sha1').update(pyJson(parts)).digest();
}

/** A stable colour for a set of inputs, so identical work yields identical pixels. */
export function colourOf(...parts: unknown[]): Rgb {
  const d = digest(parts);
  return [d[0]!, d[1]!, d[2]!];
}

export function seedOf(...parts: unknown[]): number {
  return digest(parts).readUInt32BE(0);
}

export function rgbFromInt(color: number): Rgb {
  return [(color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff];
}

function tensor(shape: number[]): string {
  return `tensor(<${shape.join('x')} float32 simulated>)`;
}

/** str() of a value, as ComfyUI's format_value and PreviewAny would print it. */
export function describe(value: unknown): string {
  if (!isFake(value)) return pyRepr(value);
  switch (value.kind) {
    case 'IMAGE':
      return tensor([value.batch, value.height, value.width, 3]);
    case 'MASK':
      return tensor([value.batch, value.height, value.width]);
    case 'LATENT':
      return `{'samples': ${tensor([value.batch, 4, Math.floor(value.height / 8), Math.floor(value.width / 8)])}}`;
    case 'MODEL':
      return '<comfy.model_patcher.ModelPatcher object at 0x7f0000000000>';
    case 'CLIP':
      return '<comfy.sd.CLIP object at 0x7f0000000000>';
    case 'VAE':
      return '<comfy.sd.VAE object at 0x7f0000000000>';
    case 'CONDITIONING':
      return `[[${tensor([1, 77, 768])}, {'pooled_output': ${tensor([1, 768])}}]]`;
  }
}
