// One lifetime of a simulated ComfyUI process: its HTTP and websocket server,
// queue, history, worker and caches. A crash or restart throws all of it away.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { ByteSegments } from './bytes.js';
import { Clock } from './clock.js';
import type { BackendContext, SimShared } from './context.js';
import { ExecutionCache } from './exec/cache.js';
import { PromptExecutor } from './exec/executor.js';
import { PromptWorker } from './exec/worker.js';
import { History } from './history.js';
import { originRejected } from '../comfy/origin.js';
import { PayloadTooLarge, SimRequest, InvalidJson } from './http/request.js';
import type { SimResponse } from './http/response.js';
import { empty, notFound, serverError, text } from './http/response.js';
import { Router } from './http/router.js';
import { PromptQueue } from './prompt-queue.js';
import { fileRoutes } from './routes/files.js';
import { historyRoutes } from './routes/history.js';
import { infoRoutes, serverFeatures } from './routes/info.js';
import { promptRoutes, queueInfo } from './routes/prompt.js';
import { queueRoutes } from './routes/queue.js';
import { WsHub } from './ws-hub.js';
import { authorized, challenge } from './auth.js';

/** How long close() lets websocket clients answer the close handshake before cutting them off. */
const CLOSE_GRACE_MS = 250;

/** Every route is also served under /api. */
function stripApi(path: string): string {
  if (path === '/api') return '/';
  return path.startsWith('/api/') ? path.slice(4) : path;
}

/** The request target as a URL; the path is kept literally (no scheme-relative surprises). */
function parseTarget(target: string | undefined): URL | null {
  const raw = target ?? '/';
  try {
    return new URL(`http://sim.invalid${raw.startsWith('/') ? '' : '/'}${raw}`);
  } catch {
    return null;
  }
}

/** Waits until a response can take more data or has gone away. */
function drainOrClose(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

export class Backend {
  readonly ctx: BackendContext;
  private readonly server = createServer({ keepAliveTimeout: 5000 });
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly router = new Router();
  private readonly clock: Clock;
  private readonly sockets = new Set<Socket>();
  private held: Array<() => void> = [];
  private hung = false;
  private stopped = false;
  private closedPromise: Promise<void> | null = null;

  constructor(shared: SimShared, host: string) {
    this.clock = new Clock(() => shared.options.speed);
    const queue = new PromptQueue(() => hub.send('status', { status: queueInfo(this.ctx) }, null));
    const history = new History();
    const cache = new ExecutionCache(shared.options.cache);
    const interrupt = { requested: false };
    const freeFlags = { unloadModels: false, freeMemory: false };
    const hub: WsHub = new WsHub({
      greeting: (sid) => {
        const frames: Array<{ type: string; data: Record<string, unknown> }> = [
          { type: 'status', data: { status: queueInfo(this.ctx), sid } },
        ];
        // A reconnecting client of the running prompt learns the current node (no prompt_id).
        if (executor.clientId === sid && executor.lastNodeId !== null) frames.push({ type: 'executing', data: { node: executor.lastNodeId } });
        return frames;
      },
      serverFeatures: () => serverFeatures(this.ctx),
      connected: (sid) => shared.emit('ws-connect', sid),
      closed: (sid) => shared.emit('ws-close', sid),
    });
    const executor = new PromptExecutor({
      registry: shared.registry,
      env: shared.env,
      hub,
      clock: this.clock,
      cache,
      interrupt,
      settings: () => shared.options,
    });
    const worker = new PromptWorker({
      queue,
      history,
      executor,
      hub,
      clock: this.clock,
      cache,
      models: shared.env.models,
      flags: freeFlags,
      started: (id) => shared.emit('started', id),
      finished: (id, status) => {
        shared.stats.executed++;
        shared.emit('finished', { promptId: id, status });
      },
    });
    this.ctx = {
      ...shared,
      emit: shared.emit,
      queue,
      history,
      hub,
      worker,
      executor,
      cache,
      interrupt,
      freeFlags,
      address: { host, port: 0 },
      counter: 0,
    };

    promptRoutes(this.router, this.ctx);
    queueRoutes(this.router, this.ctx);
    historyRoutes(this.router, this.ctx);
    fileRoutes(this.router, this.ctx);
    infoRoutes(this.router, this.ctx);

    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    this.server.on('request', (req, res) => this.onRequest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('clientError', (_err, socket: Socket) => socket.destroy());
    this.server.on('error', () => undefined);
  }

  async listen(port: number): Promise<number> {
    const { host } = this.ctx.address;
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const address = this.server.address();
    const actual = typeof address === 'object' && address ? address.port : port;
    this.ctx.address.port = actual;
    this.ctx.worker.start();
    return actual;
  }

  stallEvents(on: boolean): void {
    this.ctx.hub.stall(on);
  }

  /** While hung, requests (and websocket handshakes) wait unanswered and the worker is frozen. */
  hang(on: boolean): void {
    if (this.stopped || on === this.hung) return;
    this.hung = on;
    if (on) {
      this.clock.pause();
      return;
    }
    this.clock.resume();
    const held = this.held;
    this.held = [];
    for (const replay of held) replay();
  }

  /** Crash: every connection is destroyed at once and nothing more is sent. */
  kill(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.halt();
    this.ctx.hub.terminateAll();
    for (const socket of this.sockets) socket.destroy();
    this.closedPromise = this.closeServer();
    return this.closedPromise;
  }

  /** Graceful stop: websocket close handshakes, then the port is released. */
  close(): Promise<void> {
    if (this.closedPromise) return this.closedPromise;
    this.halt();
    this.closedPromise = (async () => {
      const server = this.closeServer();
      this.server.closeIdleConnections();
      if (this.ctx.hub.openSockets > 0) {
        let timer: NodeJS.Timeout | undefined;
        const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)));
        await Promise.race([this.ctx.hub.closeAll(), grace]);
        clearTimeout(timer);
        this.ctx.hub.terminateAll();
      }
      this.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
      await server;
    })();
    return this.closedPromise;
  }

  private halt(): void {
    this.stopped = true;
    this.ctx.worker.stop();
    this.clock.stop();
    this.ctx.queue.reset();
    this.held = [];
  }

  private closeServer(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (this.stopped) {
      res.destroy();
      return;
    }
    this.ctx.emit('request', { method: req.method, path: req.url, held: this.hung });
    if (this.hung) {
      this.held.push(() => this.handleLater(req, res));
      return;
    }
    this.handleLater(req, res);
  }

  private handleLater(req: IncomingMessage, res: ServerResponse): void {
    if (this.stopped) {
      res.destroy();
      return;
    }
    void this.handle(req, res).catch(() => res.destroy());
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (res.destroyed) return;
    const url = parseTarget(req.url);
    if (!url) return this.write(req, res, text('400: Bad Request', 400));
    const { credentials } = this.ctx.options;
    if (credentials && !authorized(req.headers.authorization, credentials)) {
      this.ctx.stats.unauthorized++;
      const refused = text('401: Unauthorized', 401);
      refused.headers!['WWW-Authenticate'] = challenge(credentials);
      return this.write(req, res, refused);
    }
    if (originRejected(req.headers.host, req.headers.origin)) return this.write(req, res, empty(403));
    if (req.method === 'OPTIONS') return this.write(req, res, empty(200));

    const request = new SimRequest(req, url, stripApi(url.pathname), this.ctx.options.maxUploadBytes);
    const match = this.router.match(request.method, request.path);
    let response: SimResponse;
    if (match === null) {
      response = notFound();
    } else if ('allowed' in match) {
      response = text('405: Method Not Allowed', 405);
      response.headers!.Allow = match.allowed.join(',');
    } else {
      request.params = match.params;
      try {
        response = await match.handler(request);
      } catch (ex) {
        response = ex instanceof PayloadTooLarge ? text(ex.message, 413) : serverError();
        if (!(ex instanceof PayloadTooLarge) && !(ex instanceof InvalidJson) && process.env.COMFY_SIM_DEBUG) {
          process.stderr.write(`[${this.ctx.options.name}] ${req.method} ${req.url}: ${String(ex)}\n`);
        }
      }
    }
    if (this.stopped) {
      res.destroy();
      return;
    }
    await this.write(req, res, response);
  }

  private async write(req: IncomingMessage, res: ServerResponse, response: SimResponse): Promise<void> {
    if (res.destroyed || res.headersSent) return;
    const body = response.body ?? '';
    const bytes = typeof body === 'string' ? ByteSegments.of(Buffer.from(body)) : Buffer.isBuffer(body) ? ByteSegments.of(body) : body;
    res.statusCode = response.status;
    for (const [name, value] of Object.entries(response.headers ?? {})) res.setHeader(name, value);
    res.setHeader('Content-Length', String(bytes.size));
    res.setHeader('Server', 'Python/3.11 aiohttp/3.8.4');
    if (req.method === 'HEAD' || bytes.size === 0) {
      res.end();
      return;
    }
    for (const chunk of bytes.read()) {
      if (res.destroyed) return;
      if (!res.write(chunk)) {
        await drainOrClose(res);
      }
    }
    if (!res.destroyed) res.end();
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    if (this.stopped) {
      socket.destroy();
      return;
    }
    if (this.hung) {
      this.held.push(() => this.onUpgrade(req, socket, head));
      return;
    }
    if (socket.destroyed) return;
    const url = parseTarget(req.url);
    if (!url) {
      socket.destroy();
      return;
    }
    const refuse = (status: string, headers = '') => {
      socket.end(`HTTP/1.1 ${status}\r\n${headers}Content-Length: 0\r\nConnection: close\r\n\r\n`);
    };
    const { credentials } = this.ctx.options;
    if (credentials && !authorized(req.headers.authorization, credentials)) {
      this.ctx.stats.unauthorized++;
      return refuse('401 Unauthorized', `WWW-Authenticate: ${challenge(credentials)}\r\n`);
    }
    if (originRejected(req.headers.host, req.headers.origin)) return refuse('403 Forbidden');
    if (stripApi(url.pathname) !== '/ws') return refuse('404 Not Found');
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.stopped) {
        ws.terminate();
        return;
      }
      this.ctx.stats.wsConnections++;
      this.ctx.hub.accept(ws, url.searchParams.get('clientId') ?? '');
    });
  }
}
