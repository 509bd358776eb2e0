// Test helpers of the v2 API: requests with a key, a Server-Sent Events reader over a real
// streaming response, and graphs for the simulator.
import type { TestBridge } from '../e2e/harness.js';

export { backendsUp, engineEvent, engineUntil, simEvent, startBridge, startSims } from '../e2e/harness.js';
export type { TestBridge } from '../e2e/harness.js';
export { imageGraph, sleepGraph, samplerGraph } from '../compat/harness.js';

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface CallOptions {
  key?: string;
  headers?: Record<string, string>;
  /** A body sent as it is (a string), or as JSON. */
  body?: unknown;
}

/** One request to the bridge; `path` is a path on it or a full URL (as the API's links are). */
export async function call(bridge: TestBridge, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.key) headers.authorization = `Bearer ${options.key}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const res = await fetch(path.startsWith('http') ? path : `${bridge.url}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** POST a graph as a v2 job. */
export function submit(bridge: TestBridge, workflow: unknown, options: Omit<CallOptions, 'body'> & { extra?: Record<string, unknown> } = {}): Promise<Answer> {
  return call(bridge, 'POST', '/api/v2/jobs', { ...options, body: { workflow, ...options.extra } });
}

/** The job object once its status is one of `statuses` (polled after every engine event). */
export async function jobWhen(bridge: TestBridge, id: string, statuses: string[], key?: string): Promise<any> {
  for (;;) {
    const answer = await call(bridge, 'GET', `/api/v2/jobs/${id}`, { key });
    if (answer.status !== 200) throw new Error(`GET job answered ${answer.status}: ${answer.text}`);
    if (statuses.includes(answer.body.status)) return answer.body;
    await new Promise<void>((resolve) => {
      const stop = bridge.engine.events.subscribe(() => {
        stop();
        resolve();
      });
    });
  }
}

export interface SseFrame {
  event: string;
  id?: string;
  data: any;
}

/** A Server-Sent Events client over fetch: records frames and comments as they arrive. */
export class SseReader {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  /** Resolves when the server ends the stream (true) or it is cut or aborted (false). */
  readonly ended: Promise<boolean>;
  private waiters: (() => void)[] = [];

  private constructor(
    readonly status: number,
    readonly headers: Headers,
    body: ReadableStream<Uint8Array> | null,
    private readonly abort: AbortController,
  ) {
    this.ended = this.read(body);
  }

  static async open(url: string, options: { key?: string; lastEventId?: string | number } = {}): Promise<SseReader> {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (options.key) headers.authorization = `Bearer ${options.key}`;
    if (options.lastEventId !== undefined) headers['last-event-id'] = String(options.lastEventId);
    const abort = new AbortController();
    const res = await fetch(url, { headers, signal: abort.signal });
    const reader = new SseReader(res.status, res.headers, res.ok ? res.body : null, abort);
    if (!res.ok) reader.frames.push({ event: 'http-error', data: await res.json().catch(() => undefined) });
    return reader;
  }

  private async read(body: ReadableStream<Uint8Array> | null): Promise<boolean> {
    if (!body) return true;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.frame(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
      return true;
    } catch {
      return false;
    } finally {
      this.wake();
    }
  }

  private frame(block: string): void {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.comments.push(line.slice(1).trim());
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('id: ')) id = line.slice(4);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length) this.frames.push({ event, ...(id !== undefined && { id }), data: JSON.parse(data.join('\n')) });
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first frame (already here or to come) that matches; rejects if the stream ends first. */
  async next(pred: (f: SseFrame) => boolean): Promise<SseFrame> {
    let over = false;
    void this.ended.then(() => (over = true));
    for (;;) {
      const found = this.frames.find(pred);
      if (found) return found;
      if (over) throw new Error(`stream ended without the frame; got ${this.frames.map((f) => f.event).join(', ')}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        void this.ended.then(() => resolve());
      });
      await Promise.resolve();
    }
  }

  /** A heartbeat comment (already here or to come). */
  async comment(): Promise<string> {
    while (this.comments.length === 0) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.comments[0];
  }

  events(): string[] {
    return this.frames.map((f) => f.event);
  }

  of(event: string): SseFrame[] {
    return this.frames.filter((f) => f.event === event);
  }

  close(): void {
    this.abort.abort();
  }
}

/** EmptyImage saved at once, and again after a sleep: two outputs some time apart. */
export function twoOutputGraph(seconds: number, tag = String(Math.random())): Record<string, any> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 255 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'v2/first' } },
    '3': { class_type: 'TestSleep', inputs: { value: ['1', 0], seconds } },
    '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: `v2/second-${tag.replace(/[^a-z0-9]/gi, '')}` } },
  };
}
