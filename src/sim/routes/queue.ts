// Queue control: GET/POST /queue, POST /interrupt and POST /free.
import type { BackendContext } from '../context.js';
import type { Router } from '../http/router.js';
import { InvalidJson } from '../http/request.js';
import { empty, json } from '../http/response.js';
import { isPlainObject, pyTruthy, PyError } from '../../comfy/python.js';

/** Python iterates a list by item and a string by character; anything else raises. */
function iterate(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  if (typeof value === 'string') return [...value];
  if (isPlainObject(value)) return Object.keys(value);
  throw new PyError('TypeError', 'object is not iterable');
}

/** The body of POST /queue, /history and /free must be a JSON object; anything else is a 500. */
export async function objectBody(req: { json(): Promise<unknown> }): Promise<Record<string, unknown>> {
  const body = await req.json();
  if (!isPlainObject(body)) throw new PyError('AttributeError', 'body is not an object');
  return body;
}

export function queueRoutes(router: Router, ctx: BackendContext): void {
  router.get('/queue', () => json({ queue_running: ctx.queue.runningItems(), queue_pending: ctx.queue.pending() }));

  router.post('/queue', async (req) => {
    const body = await objectBody(req);
    const ids = 'delete' in body ? iterate(body.delete) : [];
    if ('clear' in body || 'delete' in body) ctx.stats.queueDeletes++;
    if ('clear' in body && pyTruthy(body.clear)) ctx.queue.clear();
    // Only pending items can be deleted; unknown and running ids are silently ignored.
    for (const id of ids) ctx.queue.delete(id as string);
    return empty();
  });

  router.post('/interrupt', async (req) => {
    let body: unknown;
    try {
      body = await req.json();
    } catch (ex) {
      if (!(ex instanceof InvalidJson)) throw ex;
      body = {};
    }
    if (!isPlainObject(body)) throw new PyError('AttributeError', 'body is not an object');
    ctx.stats.interrupts++;
    const target = body.prompt_id;
    if (pyTruthy(target)) {
      // Targeted: only if that prompt is the one running.
      const running = ctx.queue.runningItems().some((item) => item[1] === target);
      if (running) ctx.interrupt.requested = true;
      ctx.emit('interrupt', typeof target === 'string' ? target : String(target));
    } else {
      ctx.interrupt.requested = true;
      ctx.emit('interrupt', null);
    }
    return empty();
  });

  router.post('/free', async (req) => {
    const body = await objectBody(req);
    ctx.stats.frees++;
    if (pyTruthy(body.unload_models)) ctx.freeFlags.unloadModels = true;
    if (pyTruthy(body.free_memory)) ctx.freeFlags.freeMemory = true;
    ctx.emit('free', body);
    ctx.worker.wake();
    return empty();
  });
}
