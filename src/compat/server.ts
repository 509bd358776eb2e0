// The ComfyUI-compatible door: ComfyUI's own HTTP and websocket API on a port of its own, in
// front of the whole pool. An existing ComfyUI client changes host:port and nothing else.
// Every route is served at /X and at /api/X, as ComfyUI does.
import Koa from 'koa';
import type Router from '@koa/router';
import { referenceRoutes } from '../openapi/routes.js';
import { compatDocument } from '../openapi/document.js';
import { logStreamError } from '../http/errors.js';
import { listen, refuseUpgrade } from '../http/listen.js';
import type { Listening } from '../http/listen.js';
import type { Context, Next } from 'koa';
import { WebSocketServer } from 'ws';
import type { Engine } from '../engine/index.js';
import { Doors } from '../server/auth.js';
import { originRejected } from '../comfy/origin.js';
import { COMFY_DOOR, ComfyDoor } from './door.js';
import { newId } from '../ids.js';
import { compatErrors } from './errors.js';
import { ComfyInputs } from './input-store.js';
import { QueueLength } from './queue-length.js';
import { PromptRelay } from './relay.js';
import type { ComfyEvent } from './entries.js';
import { ClientSockets } from './sockets.js';
import { StatusBroadcast } from './status-broadcast.js';
import type { DoorContext } from './routes/context.js';
import { promptRoutes } from './routes/prompt.js';
import { queueRoutes } from './routes/queue.js';
import { historyRoutes } from './routes/history.js';
import { jobsRoutes } from './routes/jobs.js';
import { fileRoutes } from './routes/files.js';
import { infoRoutes } from './routes/info.js';
import { logger } from '../log.js';
import { JSON_BODY_LIMIT } from '../http/body.js';
import { requestLog } from '../http/request-log.js';
import { MAX_CLIENT_ID_CHARS } from '../comfy/graph-limits.js';
import type { IncomingMessage } from 'node:http';
import type { BridgeMetrics } from '../metrics/metrics.js';
import type { Duplex } from 'node:stream';

const log = logger('compat');

export interface CompatServer {
  url: string;
  /** Every router of this door: what its GET /openapi.json describes. */
  routers: Router[];
  close(): Promise<void>;
}

/** Requests stop being waited for this long after close() begins. */
const CLOSE_GRACE_MS = 5000;

/** /api/X is X. */
export function withoutApiPrefix(path: string): string {
  if (path === '/api') return '/';
  return path.startsWith('/api/') ? path.slice(4) : path;
}

/**
 * ComfyUI's guard against web pages driving a server on loopback: a loopback Host with an Origin
 * of another host is refused, unless CORS_ORIGINS allows that origin.
 */
export function crossOriginRefused(host: string | undefined, origin: string | undefined, allowed: readonly string[]): boolean {
  if (origin !== undefined && (allowed.includes('*') || allowed.includes(origin))) return false;
  return originRejected(host, origin);
}

export async function startCompatServer(engine: Engine, host: string, port: number, metrics?: BridgeMetrics): Promise<CompatServer> {
  const { config } = engine;
  const doors = new Doors(config);
  const inputs = await ComfyInputs.open(config.uploadDir);
  engine.inputs.add(inputs);
  // Listening in this order: the door records a finished prompt, and the queue length is current,
  // before the relay announces it.
  const door = new ComfyDoor(engine, inputs);
  const queueLength = new QueueLength(engine);
  const sockets: ClientSockets = new ClientSockets({
    queueRemaining: () => queueLength.value,
    maxUploadSize: config.uploadMaxBytes,
    greeting: (client): ComfyEvent[] => {
      const node: string | undefined = relay.currentNode(client);
      return node === undefined ? [] : [{ type: 'executing', data: { node } }];
    },
    gone: (client) => relay.clientGone(client),
  });
  const status = new StatusBroadcast(sockets, queueLength);
  const relay: PromptRelay = new PromptRelay(door, sockets, status);

  const shared: DoorContext = {
    engine,
    door,
    info: engine.pool,
    inputs,
    doors,
    queueLength,
    maxBodyBytes: config.uploadMaxBytes,
    promptLimit: { bytes: config.maxPromptBytes, setting: 'MAX_PROMPT_BYTES' },
    jsonLimit: JSON_BODY_LIMIT,
  };
  const app = new Koa();
  app.on('error', logStreamError);
  app.use(requestLog(log));
  app.use(compatErrors);
  if (metrics) app.use(metrics.meter(COMFY_DOOR));
  app.use(async (ctx: Context, next: Next) => {
    if (crossOriginRefused(ctx.get('host') || undefined, ctx.get('origin') || undefined, config.corsOrigins)) {
      ctx.status = 403;
      ctx.body = 'cross-origin request refused';
      return;
    }
    await next();
  });
  app.use(doors.cors());
  app.use(async (ctx: Context, next: Next) => {
    if (ctx.method === 'OPTIONS') {
      ctx.status = 200;
      ctx.body = Buffer.alloc(0);
      return;
    }
    await next();
  });
  // This door's API reference holds no data: open to all, at /openapi.json and /docs only (not
  // under /api, where ComfyUI has no such paths).
  const reference = referenceRoutes(compatDocument);
  app.use(reference.routes());
  app.use(doors.requireClient());
  app.use(async (ctx: Context, next: Next) => {
    ctx.path = withoutApiPrefix(ctx.path);
    await next();
  });
  const routers = [promptRoutes(shared), queueRoutes(shared), historyRoutes(shared), jobsRoutes(shared), fileRoutes(shared), infoRoutes(shared)];
  for (const router of routers) {
    app.use(router.routes()).use(router.allowedMethods());
  }

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://door');
    if (withoutApiPrefix(url.pathname) !== '/ws') return refuseUpgrade(socket, 404, '404: Not Found');
    if (crossOriginRefused(req.headers.host, req.headers.origin, config.corsOrigins)) return refuseUpgrade(socket, 403, 'cross-origin request refused');
    const principal = doors.upgradePrincipal(req, url);
    if (!principal) return refuseUpgrade(socket, 401, 'an API key is required: ?token=<key> or Authorization: Bearer <key>');
    const clientId = url.searchParams.get('clientId');
    // ComfyUI has no limit; memory does (POST /prompt has the same one).
    if (clientId !== null && clientId.length > MAX_CLIENT_ID_CHARS) return refuseUpgrade(socket, 400, `clientId is longer than ${MAX_CLIENT_ID_CHARS} characters`);
    // Every open socket counts, the replaced ones included: each holds memory here.
    // A socket without a clientId gets a fresh sid: a client of its own.
    const place = engine.sockets.acquire(COMFY_DOOR, { tenant: principal.tenant, clientId: clientId || `anonymous ${newId()}` });
    if (!place.ok) return refuseUpgrade(socket, 429, place.reason);
    socket.once('close', place.release);
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.once('close', place.release);
      sockets.accept(ws, clientId, principal.tenant);
    });
  };

  let listening: Listening;
  try {
    listening = await listen(app.callback(), host, port, { onUpgrade, timeouts: { requestMs: config.requestTimeoutMs } });
  } catch (err) {
    relay.close();
    status.close();
    queueLength.close();
    door.close();
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') {
      throw new Error(`COMFY_COMPAT_PORT=${port}: ${host}:${port} is already in use (a ComfyUI server?); set COMFY_COMPAT_PORT to a free port, or to 0 to turn the ComfyUI-compatible door off`);
    }
    throw new Error(`COMFY_COMPAT_PORT=${port}: cannot listen on ${host}:${port}: ${e.message}`);
  }
  const url = listening.url;
  log.info({ door: COMFY_DOOR, url }, 'ComfyUI-compatible door listening (also under /api)');

  let closing: Promise<void> | undefined;
  return {
    url,
    routers: [reference, ...routers],
    close() {
      closing ??= (async () => {
        relay.close();
        status.close();
        queueLength.close();
        door.close();
        sockets.close();
        // Sockets another one took the clientId of are not registered, but still open.
        for (const ws of wss.clients) ws.close(1001, 'server shutting down');
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await listening.close(CLOSE_GRACE_MS);
      })();
      return closing;
    },
  };
}
