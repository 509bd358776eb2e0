// The door's client websockets (/ws?clientId=…), registered by sid as ComfyUI does: the greeting
// status with the sid, the feature-flag handshake, sends to one sid or to everyone. With API keys
// a sid is a name inside the key's tenant, and "everyone" means everyone of that tenant.
//
// A second socket with the same clientId takes over the sid; the older one stays open but hears
// nothing more, as in ComfyUI. Unlike ComfyUI, the older socket closing later does not unregister
// its replacement (protocol notes §10.6).
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { ComfyEvent } from './entries.js';
import { clientKey } from '../engine/index.js';
import type { ClientRef } from '../engine/index.js';
import { isPlainObject } from '../workflows/graph.js';

/** Progress and previews are skipped for a socket this far behind (they are superseded anyway). */
const SLOW_BYTES = 1024 * 1024;
/** A socket this far behind has stopped reading: it is dropped rather than buffered without end. */
const STUCK_BYTES = 32 * 1024 * 1024;

/** Messages a slow reader can miss without losing track of its prompts. */
const SKIPPABLE = new Set(['progress', 'progress_state']);

export interface Connection {
  readonly sid: string;
  /** The tenant of the key that opened it. */
  readonly tenant: string;
  readonly ws: WebSocket;
  /** The client asked for PREVIEW_IMAGE_WITH_METADATA frames. */
  previewMetadata: boolean;
}

export interface SocketHooks {
  /** Frames after the greeting status (the node a reconnecting client's prompt is running). */
  greeting(client: ClientRef): ComfyEvent[];
  queueRemaining(): number;
  maxUploadSize: number;
  /** The client's registered socket closed and none took its place. */
  gone?(client: ClientRef): void;
}

function newSid(): string {
  return randomBytes(16).toString('hex');
}

export class ClientSockets {
  private readonly registry = new Map<string, Connection>();

  constructor(private readonly hooks: SocketHooks) {}

  /** Register an accepted socket under the requested clientId (or a fresh one) and greet it. */
  accept(ws: WebSocket, requested: string | null, tenant = ''): Connection {
    const sid = requested || newSid();
    const conn: Connection = { sid, tenant, ws, previewMetadata: false };
    const key = clientKey({ tenant, clientId: sid });
    this.registry.set(key, conn);
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.registry.get(key) !== conn) return;
      this.registry.delete(key);
      this.hooks.gone?.({ tenant, clientId: sid });
    });

    let first = true;
    ws.on('message', (raw, isBinary) => {
      if (isBinary || !first) return;
      let msg: unknown;
      try {
        msg = JSON.parse(raw.toString());
      } catch {
        return; // invalid JSON does not count as the first message
      }
      first = false;
      if (!isPlainObject(msg) || msg.type !== 'feature_flags') return;
      const flags = isPlainObject(msg.data) ? msg.data : {};
      conn.previewMetadata = flags.supports_preview_metadata === true;
      this.write(conn, { type: 'feature_flags', data: { supports_preview_metadata: true, max_upload_size: this.hooks.maxUploadSize } });
    });

    this.write(conn, { type: 'status', data: { status: { exec_info: { queue_remaining: this.hooks.queueRemaining() } }, sid } });
    for (const event of this.hooks.greeting({ tenant, clientId: sid })) this.write(conn, event);
    return conn;
  }

  get(client: ClientRef): Connection | undefined {
    return this.registry.get(clientKey(client));
  }

  send(client: ClientRef, event: ComfyEvent): void {
    const conn = this.get(client);
    if (conn) this.write(conn, event);
  }

  /** To every socket, or to every socket of one tenant. */
  broadcast(event: ComfyEvent, tenant?: string): void {
    const text = JSON.stringify(event);
    for (const conn of this.connections(tenant)) this.write(conn, event, text);
  }

  /** A binary frame to one socket, in the layout it negotiated. */
  sendBinary(conn: Connection, frame: Buffer): void {
    if (!this.writable(conn, true)) return;
    conn.ws.send(frame, () => undefined);
  }

  /** Every registered socket, or those of one tenant. */
  *connections(tenant?: string): IterableIterator<Connection> {
    for (const conn of this.registry.values()) if (tenant === undefined || conn.tenant === tenant) yield conn;
  }

  close(): void {
    for (const conn of this.registry.values()) conn.ws.close(1001, 'server shutting down');
    this.registry.clear();
  }

  private write(conn: Connection, event: ComfyEvent, text = JSON.stringify(event)): void {
    if (!this.writable(conn, SKIPPABLE.has(event.type))) return;
    conn.ws.send(text, () => undefined);
  }

  private writable(conn: Connection, skippable: boolean): boolean {
    const { ws } = conn;
    if (ws.readyState !== WebSocket.OPEN) return false;
    if (ws.bufferedAmount > STUCK_BYTES) {
      ws.terminate();
      return false;
    }
    return !(skippable && ws.bufferedAmount > SLOW_BYTES);
  }
}
