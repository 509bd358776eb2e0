// Previews on the curated websocket: a socket that asks (?previews=1) hears its client's own jobs'
// preview images as JSON messages, throttled; a socket that did not ask, another client and the
// same clientId under another key hear none.
import { once } from 'node:events';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { isPng } from '../../src/sim/png.js';
import { PREVIEW_INTERVAL_MS } from '../../src/server/hub.js';
import type { EngineEvent, JobEvent } from '../../src/engine/index.js';
import { backendsUp, postJson, startBridge, startSims } from './harness.js';
import type { TestBridge } from './harness.js';
import { tryUpgrade } from './support.js';

const KEY_A = 'previews-key-of-tenant-a-0123';
const KEY_B = 'previews-key-of-tenant-b-0123';

let sims: ComfySimulator[];
let bridge: TestBridge;

beforeAll(async () => {
  sims = await startSims(1, { stepMs: 10 });
  bridge = await startBridge(sims.map((s) => s.url), { API_KEYS: `a:${KEY_A},b:${KEY_B}` });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
});

interface Message {
  status: string;
  detail: any;
}

/** A curated websocket that records every message. */
class Socket {
  readonly messages: Message[] = [];
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (raw) => this.messages.push(JSON.parse(raw.toString()) as Message));
  }

  static async open(query: string): Promise<Socket> {
    const socket = new Socket(new WebSocket(`${bridge.wsUrl}/ws?${query}`));
    await once(socket.ws, 'open');
    return socket;
  }

  previews(): Message[] {
    return this.messages.filter((m) => m.status === 'preview');
  }

  /** Once the pong is back, every message the bridge sent before it has arrived. */
  async barrier(): Promise<void> {
    const pong = once(this.ws, 'pong');
    this.ws.ping();
    await pong;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.ws, 'close');
    this.ws.close();
    await closed;
  }
}

test('only a socket that asked gets previews, of its own client\'s job, at most one per interval, the newest', async () => {
  const watcher = await Socket.open(`clientId=previews-client&previews=1&token=${KEY_A}`);
  const plain = await Socket.open(`clientId=previews-client&token=${KEY_A}`);
  const neighbour = await Socket.open(`clientId=previews-neighbour&previews=1&token=${KEY_A}`);
  // The same clientId under another key is another client.
  const namesake = await Socket.open(`clientId=previews-client&previews=true&token=${KEY_B}`);

  const events: JobEvent[] = [];
  const stop = bridge.engine.events.subscribe((e: EngineEvent) => {
    if ('jobId' in e && (e.kind === 'preview' || e.kind === 'succeeded')) events.push(e);
  });
  // Both sockets of the client close once its work is done.
  const closed = Promise.all([once(watcher.ws, 'close'), once(plain.ws, 'close')]);
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=previews-client`, { workflow: 'txt2img', '3/steps': 60 }, { headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY_A}` } });
  expect(res.status).toBe(200);
  await closed;
  stop();
  await Promise.all([neighbour, namesake].map((s) => s.barrier()));

  const jobId = bridge.engine.jobsOf('previews-client', undefined, 'a')[0].id;
  const emitted = events.filter((e): e is Extract<JobEvent, { kind: 'preview' }> => e.kind === 'preview');
  expect(emitted.length).toBe(60);

  const got = watcher.previews();
  expect(got.length).toBeGreaterThan(0);
  for (const m of got) {
    expect(m.detail).toMatchObject({ jobId, mime: 'image/png' });
    expect(isPng(Buffer.from(m.detail.data, 'base64'))).toBe(true);
  }
  // Each one an image the backend sent, in the backend's order.
  const order = got.map((m) => emitted.findIndex((e) => e.data === m.detail.data));
  expect(order.every((i) => i >= 0)).toBe(true);
  expect([...order].sort((a, b) => a - b)).toEqual(order);
  // The job ran 60 steps of 10 ms: long enough for a kept preview to go after the interval, and
  // the one that went was the newest, not the next after the last one sent.
  expect(got.length).toBeGreaterThanOrEqual(2);
  for (let i = 1; i < order.length; i++) expect(order[i] - order[i - 1]).toBeGreaterThan(1);
  // Throttled: one at once, then at most one per interval until the job ended.
  const end = events.find((e) => e.kind === 'succeeded')!.at;
  expect(got.length).toBeLessThanOrEqual(1 + Math.floor((end - emitted[0].at) / PREVIEW_INTERVAL_MS));
  expect(got.length).toBeLessThan(emitted.length);
  // The previews came before the end of the work.
  const statuses = watcher.messages.map((m) => m.status);
  expect(statuses.lastIndexOf('preview')).toBeLessThan(statuses.indexOf('closed'));

  expect(plain.previews()).toEqual([]);
  expect(plain.messages.map((m) => m.status)).toContain('closed');
  expect(neighbour.previews()).toEqual([]);
  expect(namesake.previews()).toEqual([]);
  await Promise.all([plain, neighbour, namesake].map((s) => s.close()));
});

test('previews takes 1 or 0 (true or false); anything else is refused', async () => {
  const refused = await tryUpgrade(`${bridge.wsUrl}/ws?clientId=previews-bad-value&previews=yes&token=${KEY_A}`);
  expect(refused).toMatchObject({ opened: false, status: 400, body: { detail: expect.stringMatching(/previews must be 1 or 0/) } });
  const off = await Socket.open(`clientId=previews-off-value&previews=0&token=${KEY_A}`);
  await off.close();
});
