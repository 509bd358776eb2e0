// Webhook receivers for the tests: real HTTP servers on loopback whose answer each test chooses,
// and helpers that wait on the bridge's delivery records rather than on time.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Engine } from '../../src/engine/index.js';
import type { Delivery } from '../../src/webhooks/index.js';
import { DELIVERIES } from '../../src/webhooks/index.js';

/** A fresh Standard Webhooks secret. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export interface Received {
  /** 1-based, in arrival order. */
  n: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** What the receiver answered (undefined while it hangs). */
  status?: number;
}

/**
 * How the receiver answers a request: a status (and headers, body), or `hang` to never answer;
 * `endless` sends a body that never ends.
 */
export type Behaviour = (r: Received) => { status: number; headers?: Record<string, string>; body?: string; endless?: boolean } | 'hang';

export class Receiver {
  readonly received: Received[] = [];
  /** Requests whose connection the client closed while the receiver still held them. */
  readonly abandoned: Received[] = [];
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  private readonly hanging = new Set<http.ServerResponse>();

  private constructor(
    private readonly server: http.Server,
    readonly url: string,
    public behaviour: Behaviour,
  ) {}

  static async start(behaviour: Behaviour, host = '127.0.0.1', port = 0): Promise<Receiver> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    const { port: bound } = server.address() as AddressInfo;
    const receiver = new Receiver(server, `http://${host}:${bound}`, behaviour);
    server.on('request', (req, res) => receiver.handle(req, res));
    return receiver;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: Received = { n: this.received.length + 1, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      this.received.push(r);
      const answer = this.behaviour(r);
      if (answer === 'hang' || answer.endless) {
        this.hanging.add(res);
        res.on('close', () => {
          this.hanging.delete(res);
          this.abandoned.push(r);
          this.changed();
        });
      }
      if (answer === 'hang') {
        // no answer
      } else if (answer.endless) {
        r.status = answer.status;
        res.writeHead(answer.status, { 'content-type': 'application/octet-stream', ...answer.headers });
        const chunk = Buffer.alloc(64 * 1024, 120);
        const pour = () => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pour);
        };
        pour();
      } else {
        r.status = answer.status;
        res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
        res.end(answer.body ?? '');
      }
      this.changed();
    });
  }

  private changed(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred()) return true;
      w.resolve();
      return false;
    });
  }

  /** Resolves once `pred` holds, checked after every request. */
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  /** Requests answered 2xx, per webhook-id. */
  successes(id: string): number {
    return this.received.filter((r) => r.headers['webhook-id'] === id && r.status !== undefined && r.status >= 200 && r.status < 300).length;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The delivery records held by this bridge. */
export function deliveries(engine: Engine): Delivery[] {
  return [...engine.collection<Delivery>(DELIVERIES).entries()].map(([, d]) => d);
}

/** Resolves with the first delivery that satisfies `pred`, checked now and after every record change. */
export function deliveryUntil(engine: Engine, pred: (d: Delivery) => boolean): Promise<Delivery> {
  const found = () => deliveries(engine).find(pred);
  const now = found();
  if (now) return Promise.resolve(now);
  return new Promise((resolve) => {
    const stop = engine.onRecord(() => {
      const d = found();
      if (!d) return;
      stop();
      resolve(d);
    });
  });
}

/** The receivers a test file starts, closed together after it. */
export class Receivers {
  private readonly started: Receiver[] = [];

  async start(behaviour: Behaviour, host?: string): Promise<Receiver> {
    const r = await Receiver.start(behaviour, host);
    this.started.push(r);
    return r;
  }

  async close(): Promise<void> {
    await Promise.all(this.started.map((r) => r.close()));
  }
}
