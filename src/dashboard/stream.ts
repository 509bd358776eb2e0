// One dashboard page's event stream (Server-Sent Events): a snapshot, then deltas. A page that
// reads slower than the bridge writes is never queued for: while more than `softBytes` wait to
// be sent it is skipped, and once its buffer has drained it gets the latest snapshot instead of
// what it missed. So each page costs the bridge at most about `softBytes` plus one snapshot.
import type { ServerResponse } from 'node:http';

export interface StreamLimits {
  /** Deltas are skipped while more than this many bytes wait to be sent. */
  softBytes: number;
  /** A stream with more than this waiting (a snapshot larger than any should be) is cut. */
  hardBytes: number;
  /** A comment is sent this often, so proxies and the page see the stream is alive. */
  heartbeatMs: number;
}

export const STREAM_LIMITS: StreamLimits = { softBytes: 256 * 1024, hardBytes: 16 * 1024 * 1024, heartbeatMs: 15_000 };

/** One SSE frame: an event name and one line of JSON. */
export function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class FeedClient {
  /** Deltas were skipped: the next thing it gets is a snapshot. */
  private behind = false;
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly res: ServerResponse,
    /** The latest snapshot, as a frame. */
    private readonly snapshot: () => string,
    private readonly limits: StreamLimits,
    private readonly onClose: (client: FeedClient) => void,
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // Proxies that buffer (nginx) would hold the updates back.
      'X-Accel-Buffering': 'no',
    });
    this.heartbeat = setInterval(() => {
      if (!this.behind) this.write(': keep-alive\n\n');
    }, limits.heartbeatMs);
    this.heartbeat.unref();
    res.on('drain', () => this.catchUp());
    res.once('close', () => this.finish());
    this.write(snapshot());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Send one delta frame, unless the page is behind. */
  delta(text: string): void {
    if (this.closed) return;
    if (this.behind) {
      this.catchUp();
      return;
    }
    if (this.res.writableLength > this.limits.softBytes) {
      this.behind = true;
      return;
    }
    this.write(text);
  }

  /** Send the latest snapshot in place of any further deltas (as soon as its buffer allows). */
  resync(): void {
    this.behind = true;
    this.catchUp();
  }

  /** End the stream (the bridge is closing). */
  end(): void {
    if (this.closed) return;
    this.res.end();
    this.finish();
  }

  /** Everything written has gone: a page that missed deltas gets the latest snapshot. */
  private catchUp(): void {
    if (this.closed || !this.behind || this.res.writableLength > 0) return;
    this.behind = false;
    this.write(this.snapshot());
  }

  private write(text: string): void {
    if (this.closed) return;
    if (this.res.writableLength > this.limits.hardBytes) {
      this.res.destroy();
      this.finish();
      return;
    }
    this.res.write(text);
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    this.onClose(this);
  }
}
