// The bridge's own event socket to ONE ComfyUI server.
// Every connection uses a fresh clientId: ComfyUI mishandles a reconnect that reuses one
// (protocol notes §10.6), and prompts are routed by prompt_id anyway.
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { newId } from '../ids.js';
import { backoffDelay } from './retry.js';
import type { BinaryFrame, ComfyMessage } from './protocol.js';
import { parseBinaryFrame } from './protocol.js';

export interface EventSocketOptions {
  reconnectBaseMs?: number;
  reconnectMaxMs?: number;
  /** Authorization header of the upgrade request (a proxy's Basic or Bearer credentials); never shown. */
  authorization?: string;
}

export interface EventSocketEvents {
  open: [clientId: string];
  close: [];
  message: [ComfyMessage];
  binary: [BinaryFrame];
}

export class ComfyEventSocket extends EventEmitter<EventSocketEvents> {
  private ws: WebSocket | undefined;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** The clientId of the live connection; prompts must be submitted under it. */
  clientId: string | undefined;
  /** When the last frame arrived (any kind): a silent socket is a reason to poll. */
  lastFrameAt = 0;
  private readonly options: Omit<EventSocketOptions, 'authorization'>;
  /** Not a plain property: a socket logged or inspected by mistake shows no credentials. */
  #authorization: string | undefined;

  /** `baseUrl` has no credentials; they come as `authorization`. */
  constructor(private readonly baseUrl: string, { authorization, ...options }: EventSocketOptions = {}) {
    super();
    this.options = options;
    this.#authorization = authorization;
  }

  /** Use other credentials from the next connection on. */
  authorize(authorization: string | undefined): void {
    this.#authorization = authorization;
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN && this.clientId !== undefined;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = undefined;
    this.clientId = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on('error', () => undefined);
      ws.terminate();
    }
  }

  private connect(): void {
    // 32 hex characters, the shape ComfyUI gives the ids it makes itself.
    const clientId = newId().replace(/-/g, '');
    const url = `${this.baseUrl.replace(/^http/, 'ws')}/ws?clientId=${clientId}`;
    const headers = this.#authorization === undefined ? undefined : { authorization: this.#authorization };
    const ws = new WebSocket(url, { handshakeTimeout: 5000, perMessageDeflate: false, headers });
    this.ws = ws;
    ws.on('open', () => {
      this.attempt = 0;
      this.lastFrameAt = Date.now();
      // Ask for previews that carry their prompt_id, so they can be routed like everything else.
      ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      this.lastFrameAt = Date.now();
      if (isBinary) {
        const frame = parseBinaryFrame(raw);
        if (frame) this.emit('binary', frame);
        return;
      }
      let msg: ComfyMessage;
      try {
        msg = JSON.parse(raw.toString('utf8'));
      } catch {
        return;
      }
      if (!msg || typeof msg.type !== 'string') return;
      msg.data ??= {};
      // The first status frame confirms the registration under our id.
      if (this.clientId !== clientId && msg.type === 'status' && msg.data.sid === clientId) {
        this.clientId = clientId;
        this.emit('open', clientId);
      }
      this.emit('message', msg);
    });
    ws.on('error', () => undefined); // 'close' follows and drives the reconnect
    ws.on('close', () => {
      if (this.ws !== ws) return;
      const wasOpen = this.clientId !== undefined;
      this.ws = undefined;
      this.clientId = undefined;
      if (wasOpen) this.emit('close');
      if (this.stopped) return;
      const delay = backoffDelay(this.attempt++, { baseMs: this.options.reconnectBaseMs ?? 200, maxMs: this.options.reconnectMaxMs ?? 10_000 });
      this.timer = setTimeout(() => this.connect(), delay);
    });
  }
}
