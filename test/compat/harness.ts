// Test harness of the ComfyUI-compatible door: a bridge whose door listens on a free port, a
// websocket client that records frames the way ComfyUI's example client reads them, and graphs.
import { once } from 'node:events';
import { createServer } from 'node:net';
import WebSocket from 'ws';
import { engineUntil, startBridge } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';

export { backendsUp, engineUntil, startSims } from '../e2e/harness.js';

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface CompatBridge extends TestBridge {
  /** http://host:port of the ComfyUI-compatible door. */
  door: string;
  doorWs: string;
}

/** A bridge over these backends with its ComfyUI-compatible door on a free port. */
export async function startDoor(servers: string[], env: Record<string, string> = {}): Promise<CompatBridge> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    try {
      const bridge = await startBridge(servers, { COMFY_COMPAT_PORT: String(port), ...env });
      const door = bridge.compat!.url;
      return Object.assign(bridge, { door, doorWs: door.replace(/^http/, 'ws') });
    } catch (err) {
      // Someone took the port between our probe and the bridge's listen.
      if (attempt < 3 && /already in use/.test((err as Error).message)) continue;
      throw err;
    }
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: any;
}

export async function call(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

export const get = (url: string, headers?: Record<string, string>) => call('GET', url, undefined, headers);
/** POST JSON the way ComfyUI's example client does: no JSON Content-Type. */
export const post = (url: string, body?: unknown, headers?: Record<string, string>) => call('POST', url, body, headers);

export type Frame = { kind: 'json'; type: string; data: any } | { kind: 'binary'; event: number; bytes: Buffer };

/** A ComfyUI websocket client that records every frame and lets a test wait for one. */
export class ComfyWs {
  readonly frames: Frame[] = [];
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  readonly closed: Promise<number>;
  /** The sid of the greeting status frame. */
  sid = '';

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      const frame: Frame = isBinary ? { kind: 'binary', event: raw.readUInt32BE(0), bytes: raw } : { kind: 'json', ...(JSON.parse(raw.toString()) as { type: string; data: any }) };
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

  /** Connect and wait for the greeting; optionally negotiate preview metadata. */
  static async connect(bridge: Pick<CompatBridge, 'doorWs'>, clientId?: string, opts: { featureFlags?: boolean; path?: string; headers?: Record<string, string> } = {}): Promise<ComfyWs> {
    const query = clientId === undefined ? '' : `?clientId=${encodeURIComponent(clientId)}`;
    const client = new ComfyWs(new WebSocket(`${bridge.doorWs}${opts.path ?? '/ws'}${query}`, { headers: opts.headers }));
    const greeting = await client.nextJson('status');
    client.sid = greeting.sid;
    if (opts.featureFlags) {
      const reply = client.nextJson('feature_flags');
      client.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
      await reply;
    }
    return client;
  }

  next(pred: (f: Frame) => boolean): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  nextJson(type: string, pred: (data: any) => boolean = () => true): Promise<any> {
    return this.next((f) => f.kind === 'json' && f.type === type && pred(f.data)).then((f) => (f as { data: any }).data);
  }

  /** ComfyUI's "done" signal for one prompt: executing with node null. */
  done(promptId: string): Promise<any> {
    return this.nextJson('executing', (d) => d.node === null && d.prompt_id === promptId);
  }

  /** JSON messages about one prompt (plus status broadcasts when asked), in arrival order. */
  messagesOf(promptId: string, { status = false } = {}): { type: string; data: any }[] {
    return this.frames.flatMap((f) => (f.kind === 'json' && (f.data?.prompt_id === promptId || (status && f.type === 'status')) ? [{ type: f.type, data: f.data }] : []));
  }

  binaries(): Buffer[] {
    return this.frames.flatMap((f) => (f.kind === 'binary' ? [f.bytes] : []));
  }

  /** Once the pong arrives, every frame the server sent before it has arrived too. */
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

/** EmptyImage → ImageInvert → SaveImage, plus a PreviewImage of the source. */
export function imageGraph(color = 16744448, prefix = 'door/inv'): Record<string, any> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 32, batch_size: 1, color }, _meta: { title: 'Empty' } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
    '4': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
  };
}

/** A sleep long enough to act on while it runs (interrupts, queue deletes). */
export function sleepGraph(seconds = 30, tag = String(Math.random())): Record<string, any> {
  return {
    '1': { class_type: 'TestSleep', inputs: { value: tag, seconds } },
    '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
  };
}

/** A sampler graph: the simulator sends a preview frame per step. */
export function samplerGraph(steps = 3, seed = 42): Record<string, any> {
  return {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
    '5': { class_type: 'EmptyLatentImage', inputs: { width: 64, height: 64, batch_size: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a lighthouse', clip: ['4', 1] } },
    '7': { class_type: 'CLIPTextEncode', inputs: { text: 'blurry', clip: ['4', 1] } },
    '3': {
      class_type: 'KSampler',
      inputs: { seed, steps, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['4', 0], positive: ['6', 0], negative: ['7', 0], latent_image: ['5', 0] },
    },
    '8': { class_type: 'VAEDecode', inputs: { samples: ['3', 0], vae: ['4', 2] } },
    '9': { class_type: 'SaveImage', inputs: { images: ['8', 0], filename_prefix: 'door/sampled' } },
  };
}

/** Resolve once the bridge job with this id is in one of these states. */
export function jobReaches(bridge: CompatBridge, id: string, states: string[]): Promise<void> {
  const { engine } = bridge;
  return engineUntil(engine, () => {
    const job = engine.get(id);
    return job !== undefined && states.includes(job.state);
  });
}
