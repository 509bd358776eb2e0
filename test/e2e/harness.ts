// Test harness: simulated ComfyUI backends and a bridge on loopback, ephemeral ports, temp dirs.
import { mkdtemp, rm, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { LocalRedisServer } from '../../src/cluster/local-redis-server.js';
import { ComfySimulator } from '../../src/sim/index.js';
import type { SimOptions } from '../../src/sim/index.js';
import { loadConfig } from '../../src/config.js';
import type { Config } from '../../src/config.js';
import { run } from '../../src/run.js';
import type { Running } from '../../src/run.js';
import type { Engine, EngineEvent } from '../../src/engine/index.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export async function startSims(n: number, opts: SimOptions = {}): Promise<ComfySimulator[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => ComfySimulator.start({ name: `sim${i}`, stepMs: 1, nodeMs: 0, ...opts })));
}

export interface TestBridge extends Running {
  url: string;
  wsUrl: string;
  dir: string;
  config: Config;
  /** Stop the bridge (keeping its files) */
  stop(): Promise<void>;
  /** Stop and remove its files. */
  dispose(): Promise<void>;
}

/** Two bridges in this process on one throwaway redis-server: a cluster of two, both serving. */
export interface BridgePair {
  redis: LocalRedisServer;
  one: TestBridge;
  two: TestBridge;
  /** Stops the bridges, then Redis (the simulators are the caller's). */
  dispose(): Promise<void>;
}

export async function startBridgePair(servers: string[], env: Record<string, string>): Promise<BridgePair> {
  const redis = await LocalRedisServer.start();
  const started: TestBridge[] = [];
  const dispose = async () => {
    for (const b of [...started].reverse()) await b.dispose();
    await redis.close();
  };
  try {
    const shared = { REDIS_URL: redis.url, ...env };
    for (let i = 0; i < 2; i++) started.push(await startBridge(servers, shared));
    const [one, two] = started;
    await Promise.all([backendsUp(one), backendsUp(two)]);
    return { redis, one, two, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

/** Start a bridge over these backend URLs, with the shipped workflows plus the test fixtures. */
export async function startBridge(servers: string[], env: Record<string, string> = {}, dir?: string): Promise<TestBridge> {
  dir ??= await mkdtemp(path.join(tmpdir(), 'bridge-test-'));
  const workflows = path.join(dir, 'workflows');
  await cp(path.join(ROOT, 'workflows'), workflows, { recursive: true });
  await cp(path.join(ROOT, 'test/fixtures/workflows'), workflows, { recursive: true });
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    COMFY_COMPAT_PORT: '0',
    COMFYUI_SERVERS: servers.join(','),
    WORKFLOW_DIR: workflows,
    WORKFLOW_ALIAS: path.join(ROOT, 'workflow_alias.json'),
    CURRENT_STATE: path.join(dir, 'current_state.json'),
    UPLOAD_DIR: path.join(dir, 'uploads'),
    DATA_DIR: path.join(dir, 'data'),
    HEALTH_INTERVAL: '0.05',
    BACKEND_TIMEOUT: '2',
    DISCONNECT_GRACE: '0',
    LOG_LEVEL: process.env.BRIDGE_TEST_LOG ?? 'silent',
    ...env,
  });
  const running = await run(config);
  const url = running.server.url;
  return {
    ...running,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    dir,
    config,
    async dispose() {
      await running.stop();
      await rm(dir!, { recursive: true, force: true });
    },
  };
}

/** Resolve once every backend of the bridge is healthy. */
export async function backendsUp(bridge: TestBridge, count = bridge.engine.backendUrls().length): Promise<void> {
  await engineUntil(bridge.engine, () => bridge.engine.healthyBackends().length >= count);
}

export interface Json {
  status: number;
  body: any;
  headers: Headers;
}

export async function getJson(url: string): Promise<Json> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

export async function postJson(url: string, body?: unknown, init: RequestInit = {}): Promise<Json> {
  const res = await fetch(url, {
    method: 'POST',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = text;
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

export interface ClientMessage {
  status: string;
  detail: string;
}

/** A client websocket that records every message and lets a test wait for one. */
export class TestClient {
  readonly messages: ClientMessage[] = [];
  readonly ws: WebSocket;
  private waiters: { pred: (m: ClientMessage) => boolean; resolve: (m: ClientMessage) => void }[] = [];
  readonly closed: Promise<number>;

  private constructor(url: string) {
    this.ws = new WebSocket(url);
    this.closed = new Promise((resolve) => this.ws.on('close', (code) => resolve(code)));
    this.ws.on('message', (raw) => {
      const msg = JSON.parse(raw.toString()) as ClientMessage;
      this.messages.push(msg);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(msg)) return true;
        w.resolve(msg);
        return false;
      });
    });
  }

  static async connect(bridge: TestBridge, clientId: string): Promise<TestClient> {
    const c = new TestClient(`${bridge.wsUrl}/ws?clientId=${encodeURIComponent(clientId)}`);
    await c.next((m) => m.status === 'connected');
    return c;
  }

  /** The first message (already received or future) that matches. */
  next(pred: (m: ClientMessage) => boolean): Promise<ClientMessage> {
    const seen = this.messages.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }

  statuses(): string[] {
    return this.messages.map((m) => m.status);
  }

  close(): void {
    this.ws.close();
  }
}

/** Parse a multipart/form-data response into its parts. */
export async function readParts(res: Response): Promise<{ name: string; filename: string; type: string; bytes: Buffer }[]> {
  const form = await res.formData();
  const parts: { name: string; filename: string; type: string; bytes: Buffer }[] = [];
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') continue;
    parts.push({ name, filename: (value as File).name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) });
  }
  return parts;
}

/** Wait for a sim event whose first argument matches. */
export function simEvent<T = unknown>(sim: ComfySimulator, event: string, pred: (arg: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve) => {
    const on = (arg: T) => {
      if (!pred(arg)) return;
      sim.off(event, on);
      resolve(arg);
    };
    sim.on(event, on);
  });
}

/** Resolve once every job of the client (in `tenant`'s space: an API key's name) is final. */
export async function waitFinal(bridge: TestBridge, clientId: string, tenant = ''): Promise<void> {
  const { engine } = bridge;
  const jobs = () => engine.jobsOf(clientId, undefined, tenant);
  const done = () => jobs().length > 0 && jobs().every((j) => ['completed', 'failed', 'cancelled'].includes(j.state));
  await engineUntil(engine, done);
}

/** Resolve with the first engine event (from now on) that satisfies `match`. */
export function engineEvent<T extends EngineEvent = EngineEvent>(engine: Engine, match: (event: EngineEvent) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const stop = engine.events.subscribe((event) => {
      if (!match(event)) return;
      stop();
      resolve(event as T);
    });
  });
}

/** Resolve once `ready()` holds, checking it now and after every engine event. */
export function engineUntil(engine: Engine, ready: () => boolean): Promise<void> {
  if (ready()) return Promise.resolve();
  return engineEvent(engine, ready).then(() => undefined);
}
