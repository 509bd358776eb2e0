// Request bodies the way ComfyUI reads them: JSON whatever the Content-Type says (its own example
// client posts JSON as form-urlencoded), with one size limit for every body.
import type { Context } from 'koa';
import { plain } from './errors.js';

export type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

/** The whole body, refused with 413 beyond `limit` bytes. */
export async function readBody(ctx: Context, limit: number): Promise<Buffer> {
  const declared = Number(ctx.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) throw plain(413, `request body larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) {
      ctx.req.resume();
      throw plain(413, `request body larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function parseJson(body: Buffer): Parsed {
  const text = body.toString('utf8');
  if (text.trim() === '') return { ok: false, reason: 'the request body is empty' };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `the request body is not valid JSON: ${(err as Error).message}` };
  }
}

export async function readJson(ctx: Context, limit: number): Promise<Parsed> {
  return parseJson(await readBody(ctx, limit));
}

export { isPlainObject as isObject } from '../workflows/graph.js';
