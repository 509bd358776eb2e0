// Request bodies read with a byte limit enforced while the bytes arrive, an idle timeout, and JSON
// checked for nesting depth before anything walks it.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import getRawBody from 'raw-body';
import { isHttpError } from 'http-errors';
import { refuse } from './errors.js';

/** A body limit and the setting (or rule) that sets it, named in the 413. */
export interface BodyLimit {
  bytes: number;
  setting: string;
}

/** Either door's JSON bodies (a workflow's inputs, queue and history actions) are small. */
export const JSON_BODY_LIMIT: BodyLimit = { bytes: 2 * 1024 * 1024, setting: 'the JSON body limit of this API' };

export interface ReadOptions {
  /** No byte for this long ends the request with 408. */
  idleMs?: number;
}

/** JSON nested deeper than this is refused (a graph is a few levels deep). */
export const MAX_JSON_DEPTH = 100;
export const BODY_IDLE_MS = 30_000;

/** 4194304 → "4 MB", 5452595 → "5.2 MB". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KB', 'MB', 'GB'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number(v.toFixed(1))} ${units[i]}`;
}

export function tooLarge(limit: BodyLimit, declared?: number, what = 'the body'): Error {
  let size = formatBytes(declared ?? 0);
  let allowed = formatBytes(limit.bytes);
  // Just over the limit, rounding would show the same number twice.
  if (size === allowed) [size, allowed] = [`${declared} bytes`, `${limit.bytes} bytes`];
  const measured = declared !== undefined && declared > limit.bytes ? `${what} is ${size}` : `${what} is over ${allowed}`;
  return refuse(413, `request body too large: ${measured}; ${limit.setting} allows ${allowed}`);
}

/** After a refusal mid-body, this much more is read (and dropped) before the connection is cut. */
const DRAIN_BUDGET_BYTES = 1024 * 1024;
const DRAIN_GRACE_MS = 2000;

/**
 * After a refusal mid-body the rest is not read in full: a client sending 10 MB against a 1 MB
 * limit is cut off. A little more is drained first, so the client (still sending) reads the
 * answer before the connection is reset.
 */
export function closeAfterAnswer(ctx: Context): void {
  const { req } = ctx;
  ctx.res.once('finish', () => {
    if (req.complete) return;
    const socket = req.socket;
    const start = socket.bytesRead;
    const cut = () => socket.destroy();
    const timer = setTimeout(cut, DRAIN_GRACE_MS);
    const onData = () => {
      if (socket.bytesRead - start > DRAIN_BUDGET_BYTES) cut();
    };
    socket.on('data', onData);
    const done = () => {
      clearTimeout(timer);
      socket.off('data', onData);
    };
    req.once('end', done);
    socket.once('close', done);
    req.resume();
  });
}

/** Calls onIdle when the stream delivers no byte for `ms`; returns the stop function. */
export function idleWatch(stream: IncomingMessage, ms: number, onIdle: () => void): () => void {
  let timer = setTimeout(onIdle, ms);
  const onData = () => {
    clearTimeout(timer);
    timer = setTimeout(onIdle, ms);
  };
  stream.on('data', onData);
  return () => {
    clearTimeout(timer);
    stream.off('data', onData);
  };
}

function declaredLength(req: IncomingMessage): number | undefined {
  const raw = req.headers['content-length'];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** The whole body as bytes; 413 beyond the limit (declared or counted), 408 when it stalls. */
export async function readBody(ctx: Context, limit: BodyLimit, options: ReadOptions = {}): Promise<Buffer> {
  const req = ctx.req;
  const declared = declaredLength(req);
  let stalled = false;
  const stop = idleWatch(req, options.idleMs ?? BODY_IDLE_MS, () => {
    stalled = true;
    req.emit('error', Object.assign(new Error('body stalled'), { code: 'EBODYSTALLED' }));
  });
  try {
    return await getRawBody(req, { limit: limit.bytes, length: declared });
  } catch (err) {
    if (stalled) {
      closeAfterAnswer(ctx);
      throw refuse(408, `no byte of the body arrived for ${Math.round((options.idleMs ?? BODY_IDLE_MS) / 1000)} s; send the body without pauses`);
    }
    if (isHttpError(err) && err.status === 413) {
      closeAfterAnswer(ctx);
      throw tooLarge(limit, declared);
    }
    if (isHttpError(err) && err.status === 400 && (err as { type?: string }).type === 'request.size.invalid') {
      throw refuse(400, 'the body is shorter or longer than its Content-Length says');
    }
    if (isHttpError(err) && err.expose) throw refuse(err.status, `the body could not be read: ${err.message}`);
    throw err;
  } finally {
    stop();
  }
}

export type Parsed = { ok: true; value: unknown } | { ok: false; reason: string };

/** The deepest nesting of arrays and objects in `text`, counted without recursion; strings skipped. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

/** Where a JSON.parse message points: "at line 3 column 7" from its position. */
function where(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m || /line \d+/.test(message)) return '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${column})`;
}

/** Parse a JSON text: empty, malformed and too deep are refusals with a reason. */
export function parseJson(text: string, maxDepth = MAX_JSON_DEPTH): Parsed {
  if (text.trim() === '') return { ok: false, reason: 'the body is empty; send a JSON value' };
  // Checked before parsing: JSON.parse itself is iterative, but whatever walks the value next may not be.
  const depth = jsonDepth(text);
  if (depth > maxDepth) return { ok: false, reason: `the JSON is nested ${depth} levels deep; at most ${maxDepth} are allowed` };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    const message = (err as Error).message;
    return { ok: false, reason: `malformed JSON body: ${message}${where(text, message)}` };
  }
}

/** Read and parse a JSON body; a body that is not usable JSON is a result, not a throw. */
export async function readJsonResult(ctx: Context, limit: BodyLimit, options: ReadOptions & { maxDepth?: number } = {}): Promise<Parsed> {
  const bytes = await readBody(ctx, limit, options);
  return parseJson(bytes.toString('utf8'), options.maxDepth);
}

/** Read and parse a JSON body; 400 with the reason when it is empty, malformed or too deep. */
export async function readJson(ctx: Context, limit: BodyLimit, options: ReadOptions & { maxDepth?: number } = {}): Promise<unknown> {
  const parsed = await readJsonResult(ctx, limit, options);
  if (!parsed.ok) throw refuse(400, parsed.reason);
  return parsed.value;
}
