// Locked doors: API_KEYS closes the ComfyUI door (HTTP and websocket) too, operator actions that
// reach everyone need the admin token, and a taken port stops start-up with a clear message.
import { createServer } from 'node:net';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { startBridge } from '../e2e/harness.js';
import { ComfyWs, backendsUp, get, imageGraph, post, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

const KEY = 'door-key-0123456789abcdef';
const ADMIN = 'door-admin-0123456789abcdef';
let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url), { API_KEYS: KEY, ADMIN_TOKEN: ADMIN });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

const auth = { authorization: `Bearer ${KEY}` };

test('without a key: 401 on HTTP and on the websocket; with one, the door works', async () => {
  expect((await get(`${bridge.door}/queue`)).status).toBe(401);
  const refused = await post(`${bridge.door}/prompt`, { prompt: imageGraph() });
  expect(refused.status).toBe(401);
  expect(refused.body.error.type).toBe('unauthorized');
  const ws = new WebSocket(`${bridge.doorWs}/ws?clientId=nokey`);
  ws.on('error', () => undefined);
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
  expect(res.statusCode).toBe(401);
  res.destroy();

  const client = await ComfyWs.connect(bridge, 'keyed', { headers: auth });
  const promptId = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(2024, 'door/keyed'), client_id: 'keyed', prompt_id: promptId }, auth)).status).toBe(200);
  await client.done(promptId);
  const tokenSocket = new WebSocket(`${bridge.doorWs}/ws?clientId=bytoken&token=${KEY}`);
  await once(tokenSocket, 'open');
  tokenSocket.close();
  await client.close();
});

test('actions on everyone\'s work need the admin token; targeted ones do not', async () => {
  expect((await post(`${bridge.door}/interrupt`, undefined, auth)).status).toBe(403);
  expect((await post(`${bridge.door}/queue`, { clear: true }, auth)).status).toBe(403);
  expect((await post(`${bridge.door}/history`, { clear: true }, auth)).status).toBe(403);
  expect((await post(`${bridge.door}/free`, { unload_models: true }, auth)).status).toBe(403);
  expect((await post(`${bridge.door}/interrupt`, { prompt_id: randomUUID() }, auth)).status).toBe(200);
  expect((await post(`${bridge.door}/queue`, { delete: [randomUUID()] }, auth)).status).toBe(200);
  const admin = { 'x-admin-token': ADMIN };
  expect((await post(`${bridge.door}/interrupt`, undefined, admin)).status).toBe(200);
  const freed = sims[0].stats.frees;
  expect((await post(`${bridge.door}/free`, { unload_models: true, free_memory: true }, admin)).status).toBe(200);
  expect(sims[0].stats.frees).toBe(freed + 1);
});

test('a browser page of another origin cannot drive the door on loopback', async () => {
  const res = await post(`${bridge.door}/prompt`, { prompt: imageGraph() }, { ...auth, origin: 'http://evil.example' });
  expect(res.status).toBe(403);
});

test('a taken COMFY_COMPAT_PORT stops start-up with a message that names it', async () => {
  const squatter = createServer();
  squatter.listen(0, '127.0.0.1');
  await once(squatter, 'listening');
  const port = (squatter.address() as { port: number }).port;
  const dir = await mkdtemp(path.join(tmpdir(), 'door-port-'));
  try {
    await expect(startBridge([sims[0].url], { COMFY_COMPAT_PORT: String(port) }, dir)).rejects.toThrow(/COMFY_COMPAT_PORT.*in use.*0/);
  } finally {
    squatter.close();
    await rm(dir, { recursive: true, force: true });
  }
});
