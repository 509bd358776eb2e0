// What the door's routes share.
import type { Context } from 'koa';
import type { Engine, PoolInfo } from '../../engine/index.js';
import type { Doors } from '../../server/auth.js';
import type { ComfyDoor } from '../door.js';
import type { ComfyInputs } from '../input-store.js';
import type { QueueLength } from '../queue-length.js';
import { plain } from '../errors.js';
import type { BodyLimit } from '../../http/body.js';

export interface DoorContext {
  engine: Engine;
  door: ComfyDoor;
  info: PoolInfo;
  inputs: ComfyInputs;
  doors: Doors;
  queueLength: QueueLength;
  /** An upload is limited to this (ComfyUI's max_upload_size, UPLOAD_MAX_SIZE). */
  maxBodyBytes: number;
  /** POST /prompt's body (MAX_PROMPT_BYTES). */
  promptLimit: BodyLimit;
  /** Other JSON bodies (queue and history actions). */
  jsonLimit: BodyLimit;
}

/** ComfyUI's answer to an action: 200 with an empty body. */
export function done(ctx: Context): void {
  ctx.status = 200;
  ctx.body = Buffer.alloc(0);
}

/** One query parameter as a string; a repeated one is refused rather than guessed at. */
export function queryString(ctx: Context, name: string): string | undefined {
  const value = ctx.query[name];
  if (Array.isArray(value)) throw plain(400, `"${name}" is given more than once`);
  return value;
}
