// The dashboard's routes on the main port.
//
// The page and its scripts (`GET /dashboard`, `/dashboard/<file>`) hold no data and are open to
// all, so a browser can load them before the operator has typed the admin token. Everything that
// shows or touches work — the live feed (`GET /dashboard/events`) and the actions — shows every
// tenant's jobs, so it needs the operator: the admin token as the bearer, or an open bridge (no
// API keys and no ADMIN_TOKEN). With API keys but no ADMIN_TOKEN nobody is the operator here.
import { readFile, readdir } from 'node:fs/promises';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Engine } from '../engine/index.js';
import { ClientError } from '../engine/index.js';
import { isFinal } from '../jobs/job.js';
import type { Doors } from '../server/auth.js';
import { backendById } from './backends.js';
import type { DashboardFeed } from './feed.js';

const PUBLIC = new URL('./public/', import.meta.url);
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
};
const FILE = /^[a-z0-9][a-z0-9-]*\.(html|js|css|svg)$/;

/** The page may load only its own files, and show images the feed carries. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-cache',
};

let files: Promise<Set<string>> | undefined;

/** The page's files: what the folder holds (read once). */
function publicFiles(): Promise<Set<string>> {
  files ??= readdir(PUBLIC).then((names) => new Set(names.filter((n) => FILE.test(n))));
  return files;
}

async function serve(ctx: Context, name: string): Promise<void> {
  if (!(await publicFiles()).has(name)) return;
  ctx.set(PAGE_HEADERS);
  ctx.type = TYPES[name.slice(name.lastIndexOf('.') + 1)];
  ctx.body = await readFile(new URL(name, PUBLIC));
}

/** The credential a request carries: the bearer, else X-Admin-Token. */
function credentialOf(ctx: Context): string | undefined {
  const bearer = ctx.get('authorization').match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? (ctx.get('x-admin-token') || undefined);
}

/** May this request see and act on every tenant's work: the admin token, or an open bridge? */
function isOperator(ctx: Context, doors: Doors): boolean {
  const credential = credentialOf(ctx);
  return doors.principal(credential)?.admin === true && doors.adminAllowed(credential);
}

/**
 * The page and its files: open (they hold no data). Mounted before the key check. The page asks
 * `/dashboard/access` whether its token makes it the operator before it opens the feed, so a
 * missing or wrong token is told in words rather than met with a refused request.
 */
export function dashboardPage(doors: Doors): Router {
  const router = new Router({ strict: true });
  router.get('/dashboard', (ctx) => serve(ctx, 'index.html'));
  router.get('/dashboard/access', (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const given = credentialOf(ctx) !== undefined;
    if (isOperator(ctx, doors)) ctx.body = { operator: true };
    else if (doors.adminAllowed(undefined)) ctx.body = { operator: false, detail: 'No ADMIN_TOKEN is set and API keys are: the dashboard shows every key\'s jobs, so it needs the operator. Set ADMIN_TOKEN and type it here.' };
    else ctx.body = { operator: false, detail: given ? 'That is not the admin token.' : 'The dashboard shows every key\'s jobs: type the admin token (ADMIN_TOKEN).' };
  });
  // Its files are named relative to /dashboard.
  router.get('/dashboard/', (ctx) => ctx.redirect('../dashboard'));
  router.get('/dashboard/:file', async (ctx, next) => {
    if (ctx.params.file === 'index.html') return next();
    await serve(ctx, ctx.params.file);
    if (ctx.body === undefined) await next();
  });
  return router;
}

/** Only the operator: the admin token, or an open bridge. */
function requireOperator(ctx: Context, doors: Doors): void {
  if (!isOperator(ctx, doors)) throw new ClientError(403, 'the dashboard shows every key\'s jobs, so only the operator may use it: set ADMIN_TOKEN and send it as the bearer');
}

/** The live feed and the operator's actions. Mounted after the key check. */
export function dashboardApi(engine: Engine, doors: Doors, feed: DashboardFeed): Router {
  const router = new Router();
  router.get('/dashboard/events', (ctx) => {
    requireOperator(ctx, doors);
    // No timeout: the stream stays open while the page is.
    ctx.req.socket.setTimeout(0);
    ctx.respond = false;
    feed.open(ctx.res);
  });

  router.post('/admin/jobs/:id/cancel', async (ctx) => {
    requireOperator(ctx, doors);
    const id = ctx.params.id;
    const job = engine.get(id);
    if (!job) throw new ClientError(404, `no job ${id}`);
    if (isFinal(job)) throw new ClientError(409, `job ${id} is already ${job.state}`);
    await engine.cancel(id, 'cancelled by the operator');
    ctx.body = { detail: `job ${id} cancelled`, state: engine.get(id)?.state ?? 'cancelled' };
  });

  router.post('/admin/backends/:id/free', async (ctx) => {
    requireOperator(ctx, doors);
    const backend = backendById(engine, ctx.params.id);
    if (!backend) throw new ClientError(404, `no backend ${ctx.params.id}`);
    const [result] = await engine.freeMemory({ unload_models: true, free_memory: true }, { backend: backend.url });
    if (!result || result.error !== undefined) throw new ClientError(502, `${backend.url} did not free its memory: ${result?.error ?? 'it is no longer in the pool'}`);
    ctx.body = { detail: `server memory free now / ${backend.url}` };
  });
  return router;
}
