// Reading the dashboard's feed as the page does: frames parsed from the stream and applied with
// the page's own state module, with waits driven by arriving frames.
import { applyDelta, applySnapshot, emptyState } from '../../src/dashboard/public/state.js';
import type { PageState } from '../../src/dashboard/public/state.js';

export interface Frame {
  event: string;
  data: any;
}

export class FeedReader {
  readonly frames: Frame[] = [];
  state: PageState = emptyState();
  /** Deltas that did not follow the version held (must stay 0). */
  outOfStep = 0;
  ended = false;
  private waiters: { ready: () => boolean; resolve: () => void; reject: (err: Error) => void }[] = [];
  private readonly abort = new AbortController();

  private constructor() {}

  /** Open the feed; resolves once the first snapshot is in. */
  static async open(baseUrl: string, token?: string): Promise<FeedReader> {
    const reader = new FeedReader();
    const res = await fetch(`${baseUrl}/dashboard/events`, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: reader.abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`the feed answered ${res.status}: ${await res.text()}`);
    void reader.read(res.body);
    await reader.until(() => reader.state.v >= 0);
    return reader;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event === undefined || data === undefined) continue;
          this.apply({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
    this.ended = true;
    this.check();
  }

  private apply(frame: Frame): void {
    this.frames.push(frame);
    if (frame.event === 'snapshot') {
      this.state = emptyState();
      applySnapshot(this.state, frame.data);
    } else if (frame.event === 'delta' && !applyDelta(this.state, frame.data)) {
      this.outOfStep++;
    }
    this.check();
  }

  private check(): void {
    this.waiters = this.waiters.filter((w) => {
      if (w.ready()) w.resolve();
      else if (this.ended) w.reject(new Error('the feed ended'));
      else return true;
      return false;
    });
  }

  /** Resolves once `ready()` holds, checked now and after every frame. */
  until(ready: () => boolean): Promise<void> {
    if (ready()) return Promise.resolve();
    if (this.ended) return Promise.reject(new Error('the feed ended'));
    return new Promise((resolve, reject) => this.waiters.push({ ready, resolve, reject }));
  }

  close(): void {
    this.abort.abort();
  }
}
