// Read-only information, answered by the pool: /object_info, /embeddings, /models, /features from
// one healthy backend (cached), /system_stats with the devices of every healthy backend.
import Router from '@koa/router';
import type { Context } from 'koa';
import { CompatError, errorBody, plain } from '../errors.js';
import { NoBackend } from '../../engine/index.js';
import type { InfoAnswer } from '../../engine/index.js';
import { isPlainObject } from '../../workflows/graph.js';
import type { DoorContext } from './context.js';

function unavailable(reason: string): CompatError {
  return new CompatError(503, errorBody('no_backend', 'No ComfyUI backend is available; retry shortly', reason), { 'Retry-After': '2' });
}

/** Device names prefixed with their backend, so a pool's devices can be told apart. */
export function poolDevices(perBackend: { url: string; stats: unknown }[]): unknown[] {
  const devices: unknown[] = [];
  for (const { url, stats } of perBackend) {
    const list = isPlainObject(stats) && Array.isArray(stats.devices) ? stats.devices : [];
    for (const device of list) devices.push(isPlainObject(device) ? { ...device, name: `${url} ${String(device.name ?? '')}`.trim() } : device);
  }
  return devices;
}

export function infoRoutes({ info, maxBodyBytes }: DoorContext): Router {
  const router = new Router();

  async function answer(path: string): Promise<InfoAnswer> {
    try {
      return await info.get(path);
    } catch (err) {
      if (err instanceof NoBackend) throw unavailable(err.message);
      throw err;
    }
  }

  function reply(ctx: Context, { status, body }: InfoAnswer): void {
    ctx.status = status;
    ctx.body = status === 200 ? body : Buffer.alloc(0);
  }

  router.get('/object_info', async (ctx) => reply(ctx, await answer('/object_info')));
  router.get('/object_info/:node_class', async (ctx) => {
    const all = await answer('/object_info');
    const name = ctx.params.node_class!;
    const body = all.status === 200 && isPlainObject(all.body) && Object.hasOwn(all.body, name) ? { [name]: all.body[name] } : {};
    reply(ctx, { status: 200, body });
  });
  router.get('/embeddings', async (ctx) => reply(ctx, await answer('/embeddings')));
  router.get('/models', async (ctx) => reply(ctx, await answer('/models')));
  router.get('/models/:folder', async (ctx) => {
    // Only folders the pool lists are asked for: the path segment is the client's, and "..",
    // "%2e%2e" or endless made-up names must not reach (or churn the cache of) a backend.
    const folder = ctx.params.folder!;
    const folders = await answer('/models');
    const known = folders.status === 200 && Array.isArray(folders.body) && folders.body.includes(folder);
    if (!known) throw plain(404, 'no such model folder');
    reply(ctx, await answer(`/models/${encodeURIComponent(folder)}`));
  });
  router.get('/features', async (ctx) => {
    const features = await answer('/features');
    // Previews are converted for clients that cannot read metadata, and uploads end here.
    const body = { ...(isPlainObject(features.body) ? features.body : {}), supports_preview_metadata: true, max_upload_size: maxBodyBytes };
    reply(ctx, { status: 200, body });
  });

  router.get('/system_stats', async (ctx) => {
    const answered = await info.systemStats();
    if (answered.length === 0) throw unavailable(info.healthyCount ? 'no backend answered /system_stats' : 'no ComfyUI backend is healthy right now');
    const first = answered[0].stats;
    ctx.body = { system: isPlainObject(first) ? first.system : {}, devices: poolDevices(answered) };
  });

  return router;
}
