// The HTTP + websocket server of the curated door.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { koaBody } from 'koa-body';
import type { Engine } from '../engine/index.js';
import { CuratedSessions } from './sessions.js';
import { errorHandler, logStreamError } from './errors.js';
import { Doors } from './auth.js';
import { ClientHub } from './hub.js';
import { workflowRoutes } from './routes/workflows.js';
import { jobRoutes } from './routes/jobs.js';
import { uploadRoutes } from './routes/uploads.js';
import { operatorRoutes } from './routes/operator.js';
import { requestLog } from '../http/request-log.js';

export interface RunningServer {
  server: http.Server;
  hub: ClientHub;
  url: string;
  /** Stop accepting, let running requests finish for up to graceMs, then cut them. */
  close(graceMs?: number): Promise<void>;
}

export function createApp(sessions: CuratedSessions, doors: Doors): Koa {
  const { engine } = sessions;
  const app = new Koa();
  app.on('error', logStreamError);
  app.use(requestLog());
  app.use(errorHandler);
  app.use(doors.cors());
  app.use(doors.requireClient());
  app.use(
    koaBody({
      json: true,
      text: true,
      urlencoded: false,
      multipart: false, // /upload streams its files itself
      jsonLimit: '2mb',
      textLimit: '2mb',
      jsonStrict: true,
    }),
  );
  for (const router of [workflowRoutes(engine), jobRoutes(sessions), uploadRoutes(engine), operatorRoutes(engine, doors)]) {
    app.use(router.routes()).use(router.allowedMethods());
  }
  return app;
}

export async function startServer(engine: Engine, host: string, port: number): Promise<RunningServer> {
  const doors = new Doors(engine.config);
  const sessions = new CuratedSessions(engine);
  const app = createApp(sessions, doors);
  const server = http.createServer(app.callback());
  const hub = new ClientHub(sessions, doors, { heartbeatMs: engine.config.heartbeatMs, disconnectGraceMs: engine.config.disconnectGraceMs });
  server.on('upgrade', (req, socket, head) => {
    const path = (req.url ?? '').split('?')[0];
    if (path === '/ws') hub.handleUpgrade(req, socket, head);
    else socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  server.keepAliveTimeout = 30_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
  } catch (err) {
    await hub.close();
    sessions.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    hub,
    url: `http://${shownHost}:${address.port}`,
    async close(graceMs = 5000) {
      await hub.close();
      sessions.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // Requests still running after the grace (a stalled download, say) are cut.
        setTimeout(() => server.closeAllConnections(), graceMs).unref();
      });
    },
  };
}
