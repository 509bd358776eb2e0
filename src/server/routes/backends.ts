// The pool at run time, for the operator (admin token): list, add, remove, drain, resume. Every
// answer is a BackendInfo (or a list of them) and never shows credentials.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { AddBackendOptions, Engine } from '../../engine/index.js';
import { ClientError } from '../../engine/index.js';
import type { Doors } from '../auth.js';

export function backendRoutes(engine: Engine, doors: Doors): Router {
  const router = new Router();
  const info = (id: string) => {
    const found = engine.backendInfo(id);
    if (!found) throw new ClientError(404, `no backend ${JSON.stringify(id.slice(0, 40))}; GET /admin/backends lists them`);
    return found;
  };

  router.get('/admin/backends', (ctx) => {
    doors.requireAdmin(ctx);
    ctx.body = engine.backendsInfo();
  });

  router.post('/admin/backends', async (ctx) => {
    doors.requireAdmin(ctx);
    const body = (ctx.request as { body?: unknown }).body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ClientError(400, 'send a JSON object (Content-Type: application/json) like {"url": "http://gpu1:8188", "labels": ["sdxl"]}, with "token" or "username" and "password" when the backend asks for credentials');
    }
    const { url, ...options } = body as Record<string, unknown>;
    ctx.status = 201;
    ctx.body = await engine.addBackend(url as string, options as AddBackendOptions);
  });

  router.get('/admin/backends/:id', (ctx) => {
    doors.requireAdmin(ctx);
    ctx.body = info(id(ctx));
  });

  router.delete('/admin/backends/:id', async (ctx) => {
    doors.requireAdmin(ctx);
    await engine.removeBackend(id(ctx));
    ctx.body = info(id(ctx));
  });

  router.post('/admin/backends/:id/drain', async (ctx) => {
    doors.requireAdmin(ctx);
    await engine.drainBackend(id(ctx));
    ctx.body = info(id(ctx));
  });

  router.post('/admin/backends/:id/resume', async (ctx) => {
    doors.requireAdmin(ctx);
    await engine.resumeBackend(id(ctx));
    ctx.body = info(id(ctx));
  });

  return router;
}

function id(ctx: Context): string {
  return String(ctx.params.id);
}
