// One Server-Sent Events response: frames with `event:`, `id:` and one `data:` line of JSON,
// heartbeat comments, and a bound on what may wait for a slow client. A frame that a newer one
// replaces (progress, preview) is skipped while the client is behind, and the client hears of it
// once it catches up (`onCatchUp`); a client still further behind is cut off, and reconnects with
// Last-Event-ID to get what it missed.
import type { ServerResponse } from 'node:http';

export interface StreamLimits {
  /** Droppable frames are skipped while more than this many bytes wait to be sent. */
  softBytes: number;
  /** The connection is closed once more than this many bytes wait. */
  hardBytes: number;
  /** A comment is sent this often, so proxies and clients see the stream is alive. */
  heartbeatMs: number;
}

export const STREAM_LIMITS: Omit<StreamLimits, 'heartbeatMs'> = { softBytes: 64 * 1024, hardBytes: 1024 * 1024 };

export class EventStream {
  /** The highest event id sent: ids never go down within a stream. */
  private lastId = 0;
  private closed = false;
  private behind = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly onClose: (() => void)[] = [];
  /** Called when the client has caught up after droppable frames were skipped. */
  onCatchUp: () => void = () => undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly limits: StreamLimits,
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-store',
      Connection: 'keep-alive',
      // Proxies that buffer (nginx) would hold the events back.
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    this.heartbeat = setInterval(() => this.comment('keep-alive'), limits.heartbeatMs);
    this.heartbeat.unref();
    res.on('drain', () => {
      if (!this.behind || this.closed) return;
      this.behind = false;
      this.onCatchUp();
    });
    res.once('close', () => this.finish());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Run `fn` once the stream is over, whoever ended it. */
  whenClosed(fn: () => void): void {
    if (this.closed) fn();
    else this.onClose.push(fn);
  }

  /**
   * Send one event. A droppable one is skipped (false) while the client is behind; any frame
   * finds the client too far behind closes the stream.
   */
  send(event: string, data: unknown, id: number, { droppable = false } = {}): boolean {
    if (this.closed) return false;
    if (this.res.writableLength > this.limits.hardBytes) {
      this.cut();
      return false;
    }
    if (droppable && this.res.writableLength > this.limits.softBytes) {
      this.behind = true;
      return false;
    }
    this.lastId = Math.max(this.lastId, id);
    this.res.write(`event: ${event}\nid: ${this.lastId}\ndata: ${JSON.stringify(data)}\n\n`);
    return true;
  }

  comment(text: string): void {
    if (this.closed || this.res.writableLength > this.limits.softBytes) return;
    this.res.write(`: ${text}\n\n`);
  }

  /** The stream is complete: end it. */
  end(): void {
    if (this.closed) return;
    this.res.end();
    this.finish();
  }

  /** The client is too far behind: drop the connection. */
  private cut(): void {
    this.res.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const fn of this.onClose.splice(0)) fn();
  }
}
