// The door's client websockets (/ws?clientId=…), registered by sid as ComfyUI does: the greeting
// status with the sid, the feature-flag handshake, sends to one sid or to everyone.
//
// A second socket with the same clientId takes over the sid; the older one stays open but hears
// nothing more, as in ComfyUI. Unlike ComfyUI, the older socket closing later does not unregister
// its replacement (protocol notes §10.6).
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { ComfyEvent } from './entries.js';
import { isObject } from './request-body.js';

/** Progress and previews are skipped for a socket this far behind (they are superseded anyway). */
const SLOW_BYTES = 1024 * 1024;
/** A socket this far behind has stopped reading: it is dropped rather than buffered without end. */
const STUCK_BYTES = 32 * 1024 * 1024;

/** Messages a slow reader can miss without losing track of its prompts. */
const SKIPPABLE = new Set(['progress', 'progress_state']);

export interface Connection {
  readonly sid: string;
  readonly ws: WebSocket;
  /** The client asked for PREVIEW_IMAGE_WITH_METADATA frames. */
  previewMetadata: boolean;
}

export interface SocketHooks {
  /** Frames after the greeting status (the node a reconnecting client's prompt is running). */
  greeting(sid: string): ComfyEvent[];
  queueRemaining(): number;
  maxUploadSize: number;
}

function newSid(): string {
  return randomBytes(16).toString('hex');
}

export class ClientSockets {
  private readonly registry = new Map<string, Connection>();

  constructor(private readonly hooks: SocketHooks) {}

  get size(): number {
    return this.registry.size;
  }

  has(sid: string): boolean {
    return this.registry.has(sid);
  }

  /** Register an accepted socket under the requested clientId (or a fresh one) and greet it. */
  accept(ws: WebSocket, requested: string | null): Connection {
    const sid = requested || newSid();
    const conn: Connection = { sid, ws, previewMetadata: false };
    this.registry.set(sid, conn);
    ws.on('error', () => undefined);
    ws.on('close', () => {
      if (this.registry.get(sid) === conn) this.registry.delete(sid);
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
      if (!isObject(msg) || msg.type !== 'feature_flags') return;
      const flags = isObject(msg.data) ? msg.data : {};
      conn.previewMetadata = flags.supports_preview_metadata === true;
      this.write(conn, { type: 'feature_flags', data: { supports_preview_metadata: true, max_upload_size: this.hooks.maxUploadSize } });
    });

    this.write(conn, { type: 'status', data: { status: { exec_info: { queue_remaining: this.hooks.queueRemaining() } }, sid } });
    for (const event of this.hooks.greeting(sid)) this.write(conn, event);
    return conn;
  }

  get(sid: string): Connection | undefined {
    return this.registry.get(sid);
  }

  send(sid: string, event: ComfyEvent): void {
    const conn = this.registry.get(sid);
    if (conn) this.write(conn, event);
  }

  broadcast(event: ComfyEvent): void {
    const text = JSON.stringify(event);
    for (const conn of this.registry.values()) this.write(conn, event, text);
  }

  /** A binary frame to one socket, in the layout it negotiated. */
  sendBinary(conn: Connection, frame: Buffer): void {
    if (!this.writable(conn, true)) return;
    conn.ws.send(frame, () => undefined);
  }

  /** Every registered socket. */
  connections(): IterableIterator<Connection> {
    return this.registry.values();
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
