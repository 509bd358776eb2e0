// Shared helpers for the simulator tests: a recording websocket client,
// JSON requests, event waiters and a few ready-made graphs.
import { once } from 'node:events';
import { request } from 'undici';
import WebSocket from 'ws';
import { ComfySimulator } from '../../src/sim/index.js';
import type { SimOptions } from '../../src/sim/index.js';

export type Frame =
  | { kind: 'json'; type: string; data: any }
  | { kind: 'binary'; event: number; payload: Buffer };

/** A websocket client that records every frame and lets tests wait for specific ones. */
export class WsClient {
  readonly frames: Frame[] = [];
  private waiters: Array<{ pred: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame: Frame = isBinary
        ? { kind: 'binary', event: data.readUInt32BE(0), payload: data.subarray(4) }
        : { kind: 'json', ...(JSON.parse(data.toString()) as { type: string; data: any }) };
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    ws.on('error', () => undefined);
    this.closed = new Promise((resolve) => ws.once('close', (code: number) => resolve(code)));
  }

  /** Connects and waits for the greeting status frame. */
  static async connect(sim: ComfySimulator, clientId?: string, opts: { path?: string; featureFlags?: boolean } = {}): Promise<WsClient> {
    const query = clientId === undefined ? '' : `?clientId=${encodeURIComponent(clientId)}`;
    const ws = new WebSocket(`${sim.url.replace('http', 'ws')}${opts.path ?? '/ws'}${query}`);
    const client = new WsClient(ws);
    const greeting = client.next((f) => f.kind === 'json' && f.type === 'status');
    await once(ws, 'open');
    await greeting;
    if (opts.featureFlags) {
      const reply = client.next((f) => f.kind === 'json' && f.type === 'feature_flags');
      ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
      await reply;
    }
    return client;
  }

  /** The first recorded or future frame matching `pred`. */
  next(pred: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  nextJson(type: string, pred: (data: any) => boolean = () => true): Promise<any> {
    return this.next((f) => f.kind === 'json' && f.type === type && pred(f.data)).then((f) => (f as { data: any }).data);
  }

  json(): Array<{ type: string; data: any }> {
    return this.frames.flatMap((f) => (f.kind === 'json' ? [{ type: f.type, data: f.data }] : []));
  }

  types(): string[] {
    return this.frames.map((f) => (f.kind === 'json' ? f.type : `binary:${f.event}`));
  }

  /**
   * Round-trips a ping. The server writes to a socket in order, so once the pong
   * arrives every frame it sent before it has arrived too.
   */
  async barrier(): Promise<void> {
    const pong = once(this.ws, 'pong');
    this.ws.ping();
    await pong;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed;
  }
}

const LOGGED_EVENTS = ['queued', 'started', 'finished', 'upload', 'interrupt', 'free', 'ws-connect', 'ws-close', 'request'];

/** Every event a simulator emitted, so tests can wait for ones that already happened. */
class EventLog {
  private readonly seen: Array<{ event: string; arg: any }> = [];
  private waiters: Array<{ event: string; pred: (arg: any) => boolean; left: number; resolve: (arg: any) => void }> = [];

  constructor(sim: ComfySimulator) {
    for (const event of LOGGED_EVENTS) {
      sim.on(event, (arg: unknown) => {
        this.seen.push({ event, arg });
        this.waiters = this.waiters.filter((w) => {
          if (w.event !== event || !w.pred(arg) || --w.left > 0) return true;
          w.resolve(arg);
          return false;
        });
      });
    }
  }

  /** The nth (1-based) emission of `event` matching `pred`, past or future. */
  wait<T = any>(event: string, pred: (arg: T) => boolean = () => true, nth = 1): Promise<T> {
    const past = this.seen.filter((e) => e.event === event && pred(e.arg));
    if (past.length >= nth) return Promise.resolve(past[nth - 1]!.arg);
    return new Promise((resolve) => this.waiters.push({ event, pred, left: nth - past.length, resolve }));
  }

  all(event: string): any[] {
    return this.seen.filter((e) => e.event === event).map((e) => e.arg);
  }
}

const logs = new WeakMap<ComfySimulator, EventLog>();

export function events(sim: ComfySimulator): EventLog {
  let log = logs.get(sim);
  if (!log) {
    log = new EventLog(sim);
    logs.set(sim, log);
  }
  return log;
}

export async function startSim(opts: SimOptions = {}): Promise<ComfySimulator> {
  const sim = await ComfySimulator.start({ stepMs: 1, nodeMs: 0, ...opts });
  events(sim);
  return sim;
}

export interface JsonReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: any;
}

export async function http(
  sim: ComfySimulator,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<JsonReply> {
  const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
  const res = await request(`${sim.url}${path}`, { method: method as 'GET', body: payload, headers });
  const text = await res.body.text();
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, body: parsed };
}

export const getJson = (sim: ComfySimulator, path: string) => http(sim, 'GET', path);
export const postJson = (sim: ComfySimulator, path: string, body?: unknown) => http(sim, 'POST', path, body);

/** The first (or nth) emission of a simulator event matching `pred`, even if it already happened. */
export function simEvent<T = any>(sim: ComfySimulator, event: string, pred: (arg: T) => boolean = () => true, nth = 1): Promise<T> {
  return events(sim).wait(event, pred, nth);
}

export function finished(sim: ComfySimulator, promptId: string, nth = 1): Promise<{ promptId: string; status: string }> {
  return simEvent<{ promptId: string; status: string }>(sim, 'finished', (e) => e.promptId === promptId, nth);
}

/** EmptyImage → ImageInvert → SaveImage, with a PreviewImage of the source. */
export function imageGraph(color = 16744448, prefix = 'bridge/sub/inv'): Record<string, any> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 32, batch_size: 1, color }, _meta: { title: 'Empty' } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
    '4': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
  };
}

/** A text-to-image graph whose KSampler reports `steps` progress steps. */
export function samplerGraph(steps = 3, seed = 42): Record<string, any> {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: {
        seed,
        steps,
        cfg: 7,
        sampler_name: 'euler',
        scheduler: 'normal',
        denoise: 1,
        model: ['4', 0],
        positive: ['6', 0],
        negative: ['7', 0],
        latent_image: ['5', 0],
      },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 'txt2img' } },
  };
}

/** A graph that sleeps (interruptibly) before showing a value. */
export function sleepGraph(seconds: number, tag = 'x'): Record<string, any> {
  return {
    '1': { class_type: 'TestSleep', inputs: { value: tag, seconds } },
    '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
  };
}
