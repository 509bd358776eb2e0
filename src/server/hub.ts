// Client websockets of the curated door: WS /ws?clientId=ID.
//
// A client hears {"status", "details"}-style messages about its own work only: `connected` on
// open, `listening` heartbeats, `progress` percentages that never go backwards, `error` with the
// cause when a job fails, and `closed` "Execution is done" when all its work is finished (then
// the socket closes). A client that goes away while its work waits or runs has it cancelled,
// after a short grace period for reconnects.
//
// A socket opened with `?previews=1` also hears `preview` messages: the backends' preview images
// of the client's own jobs, as JSON with the image in base64 (the door's clients read every
// message as JSON text; a binary frame would be the one message they cannot), at most one every
// PREVIEW_INTERVAL_MS per socket, the latest winning.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket } from 'ws';
import type { ClientRef, EngineEvent } from '../engine/index.js';
import { clientKey } from '../engine/index.js';
import { isFinal } from '../jobs/job.js';
import type { CuratedSessions } from './sessions.js';
import { CURATED_DOOR } from './sessions.js';
import { DONE_DETAIL } from '../jobs/client-status.js';
import { isClientId } from './params.js';
import type { Doors } from './auth.js';
import { logger } from '../log.js';
import { refuseUpgrade } from '../http/listen.js';
import { LatestThrottle } from './latest-throttle.js';

const log = logger('hub');

/** Skip progress messages to a client whose socket has this much unsent (it is not reading). */
const SLOW_CLIENT_BYTES = 256 * 1024;
/** A client this far behind is disconnected. */
const STUCK_CLIENT_BYTES = 4 * 1024 * 1024;
/** At most four previews a second to one socket: enough to watch an image form. */
export const PREVIEW_INTERVAL_MS = 250;

/** One preview image of one of the client's jobs. */
export interface PreviewDetail {
  jobId: string;
  /** The node that made it, when known. */
  node?: string;
  mime: string;
  /** The image, base64. */
  data: string;
}

type ClientMessage =
  | { status: 'connected' | 'listening' | 'progress' | 'closed' | 'error'; detail: string }
  | { status: 'preview'; detail: PreviewDetail };

interface Connection {
  ws: WebSocket;
  alive: boolean;
  /** We are closing it because the work is done: not a reason to cancel anything. */
  closing: boolean;
  /** Set when the socket asked for previews (?previews=1). */
  previews?: LatestThrottle<PreviewDetail>;
}

export class ClientHub {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 });
  private readonly clients = new Map<string, Set<Connection>>();
  /** The progress detail each client was sent last: the same one is not sent twice. */
  private readonly lastSent = new Map<string, string>();
  private readonly graceTimers = new Map<string, NodeJS.Timeout>();
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly sessions: CuratedSessions,
    private readonly doors: Doors,
    private readonly options: { heartbeatMs: number; disconnectGraceMs: number },
  ) {
    this.unsubscribe = sessions.engine.events.subscribe((event) => this.onEvent(event));
    this.heartbeat = setInterval(() => this.beat(), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Take over an HTTP upgrade for /ws. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://bridge');
    const principal = this.doors.upgradePrincipal(req, url);
    if (!principal) {
      reject(socket, 401, 'an API key is required: ?token=<key> or Authorization: Bearer <key>');
      return;
    }
    const clientId = url.searchParams.get('clientId');
    if (url.searchParams.getAll('clientId').length > 1) {
      reject(socket, 400, '"clientId" is given more than once');
      return;
    }
    if (!isClientId(clientId)) {
      const given = url.searchParams.get('clientId');
      reject(socket, 400, given ? `clientId ${JSON.stringify(given.slice(0, 140))} is not valid` : 'clientId is required: /ws?clientId=<your id>');
      return;
    }
    const previews = url.searchParams.get('previews');
    if (previews !== null && !['0', '1', 'true', 'false'].includes(previews)) {
      reject(socket, 400, `previews must be 1 or 0, got ${JSON.stringify(previews.slice(0, 20))}`);
      return;
    }
    // The clientId is a name inside the caller's tenant: another key's client of that name is another client.
    const client: ClientRef = { tenant: principal.tenant, clientId };
    const place = this.sessions.engine.sockets.acquire(CURATED_DOOR, client);
    if (!place.ok) {
      reject(socket, 429, place.reason);
      return;
    }
    socket.once('close', place.release);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.once('close', place.release);
      this.connect(client, ws, previews === '1' || previews === 'true');
    });
  }

  async close(): Promise<void> {
    this.unsubscribe();
    clearInterval(this.heartbeat);
    for (const t of this.graceTimers.values()) clearTimeout(t);
    for (const set of this.clients.values()) {
      for (const c of set) {
        c.previews?.drop();
        c.closing = true;
        c.ws.close(1001, 'server shutting down');
      }
    }
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private connect(client: ClientRef, ws: WebSocket, previews: boolean): void {
    const key = clientKey(client);
    const conn: Connection = { ws, alive: true, closing: false };
    if (previews) conn.previews = new LatestThrottle(PREVIEW_INTERVAL_MS, (detail) => this.sendPreview(conn, detail));
    let set = this.clients.get(key);
    if (!set) this.clients.set(key, (set = new Set()));
    set.add(conn);
    this.stopWaiting(key);
    this.sessions.engine.clientConnected(CURATED_DOOR, client);

    ws.on('pong', () => (conn.alive = true));
    ws.on('message', () => undefined); // clients have nothing to say; ignore rather than fail
    ws.on('error', () => undefined);
    ws.on('close', () => this.disconnect(client, conn));

    this.send(conn, { status: 'connected', detail: 'server connected' });
    // Tell a (re)connecting client where its uncollected work stands; results it already took
    // do not end a socket opened for new work.
    const status = this.sessions.status(client, { collected: false });
    if (!status || status.status === 'queued') return;
    if (status.status === 'progress') {
      this.send(conn, { status: 'progress', detail: status.detail });
      return;
    }
    if (status.status === 'error') this.send(conn, { status: 'error', detail: status.detail });
    this.finish(conn);
  }

  /** The client is back (here or on another process of the cluster): its work stays. */
  private stopWaiting(key: string): void {
    clearTimeout(this.graceTimers.get(key));
    this.graceTimers.delete(key);
  }

  private disconnect(client: ClientRef, conn: Connection): void {
    conn.previews?.drop();
    const key = clientKey(client);
    const set = this.clients.get(key);
    set?.delete(conn);
    if (set && set.size === 0) this.clients.delete(key);
    if (conn.closing || this.clients.has(key)) return;
    const open = this.sessions.session(client).some((j) => !isFinal(j));
    if (!open) return;
    const cancel = () => {
      this.graceTimers.delete(key);
      if (this.clients.has(key)) return;
      log.info({ door: CURATED_DOOR, client: client.clientId, tenant: client.tenant }, 'client went away; cancelling its unfinished work');
      void this.sessions.cancel(client, 'client disconnected');
    };
    const grace = this.options.disconnectGraceMs;
    if (grace <= 0) cancel();
    else this.graceTimers.set(key, setTimeout(cancel, grace));
  }

  private onEvent(event: EngineEvent): void {
    if (event.kind === 'connected') {
      if (event.door === CURATED_DOOR) this.stopWaiting(clientKey(event));
      return;
    }
    // The other door tells its own clients.
    if (!('jobId' in event) || event.door !== CURATED_DOOR) return;
    const key = clientKey(event);
    const set = this.clients.get(key);
    if (!set) return;
    if (event.kind === 'preview') {
      const detail: PreviewDetail = { jobId: event.jobId, ...(event.node !== undefined && { node: event.node }), mime: event.mime, data: event.data };
      for (const conn of set) conn.previews?.offer(detail);
      return;
    }
    if (event.kind === 'succeeded' || event.kind === 'failed' || event.kind === 'cancelled') {
      // A preview of a job that has ended is no longer worth sending.
      for (const conn of set) conn.previews?.drop((p) => p.jobId === event.jobId);
    }
    if (event.kind === 'failed' || event.kind === 'cancelled') {
      const job = this.sessions.engine.get(event.jobId);
      const detail = job?.error ?? (event.kind === 'failed' ? event.error.message : event.reason);
      for (const conn of set) this.send(conn, { status: 'error', detail });
    }
    const status = this.sessions.status(event);
    if (!status) return;
    if (status.status === 'progress') {
      this.sendProgress(key, set, status.detail);
    } else if (status.status === 'closed' || status.status === 'error') {
      this.lastSent.delete(key);
      for (const conn of set) this.finish(conn);
    }
  }

  private sendProgress(key: string, set: Set<Connection>, detail: string): void {
    if (this.lastSent.get(key) === detail) return;
    this.lastSent.set(key, detail);
    for (const conn of set) {
      // Progress is superseded by the next one: a client that does not read loses old ones, not memory.
      if (conn.ws.bufferedAmount > SLOW_CLIENT_BYTES) continue;
      this.send(conn, { status: 'progress', detail });
    }
  }

  private sendPreview(conn: Connection, detail: PreviewDetail): void {
    // Superseded by the next one: a client that does not read loses previews, not memory.
    if (conn.ws.bufferedAmount > SLOW_CLIENT_BYTES) return;
    this.send(conn, { status: 'preview', detail });
  }

  private finish(conn: Connection): void {
    conn.previews?.drop();
    if (conn.closing) return;
    this.send(conn, { status: 'closed', detail: DONE_DETAIL });
    conn.closing = true;
    conn.ws.close(1000, 'execution is done');
  }

  private beat(): void {
    for (const set of this.clients.values()) {
      for (const conn of set) {
        if (!conn.alive) {
          conn.ws.terminate();
          continue;
        }
        conn.alive = false;
        conn.ws.ping();
        this.send(conn, { status: 'listening', detail: 'server is listening' });
      }
    }
  }

  private send(conn: Connection, msg: ClientMessage): void {
    if (conn.ws.readyState !== WebSocket.OPEN || conn.closing) return;
    if (conn.ws.bufferedAmount > STUCK_CLIENT_BYTES) {
      // It has not read for a long time: drop it rather than hold its messages without bound.
      conn.ws.terminate();
      return;
    }
    conn.ws.send(JSON.stringify(msg));
  }
}

/** Refuse an upgrade with this door's error shape. */
function reject(socket: Duplex, status: number, detail: string): void {
  refuseUpgrade(socket, status, JSON.stringify({ detail }), 'application/json');
}
