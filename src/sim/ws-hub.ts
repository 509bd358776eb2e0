// The websocket side of the server: the clientId registry (with ComfyUI's
// reconnect bug), feature-flag negotiation, and targeted or broadcast sends.
import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';
import { isPlainObject, pyJson } from '../comfy/python.js';

export type Recipient = string | null;

export interface HubHooks {
  /** Frames sent right after connecting (status with sid, maybe the current node). */
  greeting(sid: string): Array<{ type: string; data: Record<string, unknown> }>;
  serverFeatures(): Record<string, unknown>;
  connected(sid: string): void;
  closed(sid: string): void;
}

export class WsHub {
  /** sid → socket. Only registered sockets receive anything, broadcasts included. */
  private readonly registry = new Map<string, WebSocket>();
  private readonly metadata = new Map<string, { feature_flags: Record<string, unknown> }>();
  private readonly open = new Set<WebSocket>();
  private stalled = false;

  constructor(private readonly hooks: HubHooks) {}

  get openSockets(): number {
    return this.open.size;
  }

  /** While stalled, sockets stay open but nothing at all is written to them. */
  stall(on: boolean): void {
    this.stalled = on;
  }

  accept(ws: WebSocket, requestedId: string): string {
    const sid = requestedId || randomUUID().replaceAll('-', '');
    // A reused id takes over the registry entry; the older socket stays open but goes silent.
    this.registry.delete(sid);
    this.registry.set(sid, ws);
    this.metadata.set(sid, { feature_flags: {} });
    this.open.add(ws);
    ws.on('error', () => undefined);
    this.hooks.connected(sid);
    for (const frame of this.hooks.greeting(sid)) this.write(ws, pyJson(frame));

    let firstMessage = true;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.toString());
      } catch {
        return; // invalid JSON is logged and skipped by ComfyUI, and does not count as the first message
      }
      if (!isPlainObject(parsed)) return;
      if (firstMessage && parsed.type === 'feature_flags') {
        const flags = isPlainObject(parsed.data) ? parsed.data : {};
        // Looked up by sid, so a replacement socket's entry is the one updated, as in ComfyUI.
        const meta = this.metadata.get(sid);
        if (meta) meta.feature_flags = flags;
        this.send('feature_flags', this.hooks.serverFeatures(), sid);
      }
      firstMessage = false;
    });

    ws.on('close', () => {
      // Unconditional, so an old socket closing unregisters its replacement: ComfyUI's reconnect bug.
      this.registry.delete(sid);
      this.metadata.delete(sid);
      this.open.delete(ws);
      this.hooks.closed(sid);
    });
    return sid;
  }

  supportsPreviewMetadata(sid: Recipient): boolean {
    if (sid === null) return false;
    return this.metadata.get(sid)?.feature_flags.supports_preview_metadata === true;
  }

  /** A JSON event to one sid, or to every registered socket when sid is null. */
  send(type: string, data: unknown, sid: Recipient): void {
    if (this.stalled) return;
    const text = pyJson({ type, data });
    for (const ws of this.targets(sid)) this.write(ws, text);
  }

  /** A binary frame: 4-byte big-endian event type, then the payload. */
  sendBinary(eventType: number, payload: Buffer, sid: Recipient): void {
    if (this.stalled) return;
    const head = Buffer.alloc(4);
    head.writeUInt32BE(eventType, 0);
    const frame = Buffer.concat([head, payload]);
    for (const ws of this.targets(sid)) this.write(ws, frame);
  }

  /** Crash: drop every connection without a close handshake. */
  terminateAll(): void {
    for (const ws of this.open) ws.terminate();
  }

  /** Graceful stop: close handshake with "going away"; resolves when every socket has closed. */
  closeAll(): Promise<void> {
    const closing = [...this.open].map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve())));
    for (const ws of this.open) ws.close(1001);
    return Promise.all(closing).then(() => undefined);
  }

  private targets(sid: Recipient): WebSocket[] {
    if (sid === null) return [...this.registry.values()];
    const ws = this.registry.get(sid);
    return ws ? [ws] : [];
  }

  private write(ws: WebSocket, data: string | Buffer): void {
    if (this.stalled || ws.readyState !== WebSocket.OPEN) return;
    ws.send(data, () => undefined);
  }
}
