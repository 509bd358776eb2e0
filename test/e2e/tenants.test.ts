// Tenants on the curated door: with API_KEYS set, a key owns its work and a clientId is a name
// inside that key's space. Another key sees nothing of it, and cannot collect, cancel or free it.
import WebSocket from 'ws';
import { once } from 'node:events';
import { encodeSolidPng } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, readParts, simEvent, startBridge, startSims } from './harness.js';
import type { ClientMessage, TestBridge } from './harness.js';
import { multipartBody } from './support.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';
const ADMIN = 'admin-token-00000003';

let sim: ComfySimulator;
let bridge: TestBridge;
const interrupts: (string | null)[] = [];

beforeAll(async () => {
  [sim] = await startSims(1);
  sim.on('interrupt', (id: string | null) => interrupts.push(id));
  bridge = await startBridge([sim.url], { API_KEYS: `alice:${ALICE},bob:${BOB}`, ADMIN_TOKEN: ADMIN, BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

async function call(key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any; res: Response }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${bridge.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.headers.get('content-type')?.startsWith('multipart/')) return { status: res.status, body: undefined, res };
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, res };
}

/** A client websocket under a key, recording its messages. */
async function listen(key: string, clientId: string): Promise<{ ws: WebSocket; messages: ClientMessage[]; closed: Promise<unknown> }> {
  const ws = new WebSocket(`${bridge.wsUrl}/ws?clientId=${clientId}&token=${key}`);
  const messages: ClientMessage[] = [];
  ws.on('message', (raw) => messages.push(JSON.parse(raw.toString())));
  const closed = once(ws, 'close');
  await once(ws, 'open');
  return { ws, messages, closed };
}

test('another key cannot see, collect, cancel or free a client\'s work, even with its clientId', async () => {
  const id = 'shared-client-0001';
  const alice = await listen(ALICE, id);
  const started = simEvent<string>(sim, 'started');
  expect((await call(ALICE, 'POST', `/generate-based-workflow?clientId=${id}`, { workflow: 'sleep.json', '2/seconds': 1 })).status).toBe(200);
  await started;

  // Bob asks about the same clientId: exactly what a clientId with no work gets.
  const unknown = 'never-used-client-01';
  const bobInfo = await call(BOB, 'GET', `/execution-info?clientId=${id}`);
  const noneInfo = await call(BOB, 'GET', `/execution-info?clientId=${unknown}`);
  expect(bobInfo.status).toBe(404);
  expect(noneInfo.status).toBe(404);
  expect((await call(BOB, 'GET', `/history?clientId=${id}`)).status).toBe(204);
  expect((await call(BOB, 'POST', `/free?clientId=${id}`)).status).toBe((await call(BOB, 'POST', `/free?clientId=${unknown}`)).status);
  const bobInterrupt = await call(BOB, 'POST', `/interrupt?clientId=${id}`);
  expect(bobInterrupt.status).toBe(200);
  // Opening and dropping a socket on Alice's clientId with Bob's key does not cancel her work.
  const bobSocket = await listen(BOB, id);
  bobSocket.ws.close();
  await bobSocket.closed;

  // Alice's job runs to the end, and her results are all there.
  await once(alice.ws, 'close');
  expect(alice.messages.map((m) => m.status)).toContain('closed');
  expect(alice.messages.some((m) => m.status === 'error')).toBe(false);
  const results = await call(ALICE, 'GET', `/history?clientId=${id}`);
  expect(results.status).toBe(200);
  const parts = await readParts(results.res);
  expect(parts).toHaveLength(1);
  expect(interrupts).toEqual([]);
  // Bob heard nothing about Alice's job on his socket but the greeting.
  expect(bobSocket.messages.map((m) => m.status)).toEqual(['connected']);
});

test('the same clientId under another key is another client', async () => {
  const id = 'shared-client-0002';
  expect((await call(ALICE, 'POST', `/generate-based-workflow?clientId=${id}`, { workflow: 'invert', '1/color': 111 })).status).toBe(200);
  const bob = await listen(BOB, id);
  expect((await call(BOB, 'POST', `/generate-based-workflow?clientId=${id}`, { workflow: 'invert', '1/color': 222 })).status).toBe(200);
  await bob.closed;
  const bobParts = await readParts((await call(BOB, 'GET', `/history?clientId=${id}`)).res);
  expect(bobParts).toHaveLength(1);
  // Alice's result is still hers to collect after Bob collected his.
  const alice = await listen(ALICE, id);
  await alice.closed;
  const aliceParts = await readParts((await call(ALICE, 'GET', `/history?clientId=${id}`)).res);
  expect(aliceParts).toHaveLength(1);
  expect(aliceParts[0].bytes.equals(bobParts[0].bytes)).toBe(false);
});

test('an upload belongs to the key that made it', async () => {
  const { body, contentType } = multipartBody([{ name: 'img', filename: 'a.png', contentType: 'image/png', data: encodeSolidPng({ width: 8, height: 8, rgb: [1, 2, 3] }).toBuffer() }]);
  const res = await fetch(`${bridge.url}/upload`, { method: 'POST', headers: { 'content-type': contentType, authorization: `Bearer ${ALICE}` }, body });
  expect(res.status).toBe(200);
  const name = ((await res.json()) as Record<string, string>).img;
  const bobTry = await call(BOB, 'POST', '/generate-based-workflow?clientId=bob-uses-upload-1', { workflow: 'img2img', '1/image': name });
  expect(bobTry.status).toBe(400);
  expect(bobTry.body.detail).toContain('was not uploaded');
  const aliceTry = await call(ALICE, 'POST', '/generate-based-workflow?clientId=alice-uses-upload', { workflow: 'img2img', '1/image': name });
  expect(aliceTry.status).toBe(200);
});
