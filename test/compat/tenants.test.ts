// Tenants on the ComfyUI-compatible door: with API_KEYS set, a key sees and acts on its own
// prompts, files and results only; the admin token sees everyone's. Another key's prompt is
// answered exactly as one that does not exist.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { encodeSolidPng } from '../../src/sim/png.js';
import { simEvent } from '../e2e/harness.js';
import { ComfyWs, backendsUp, get, imageGraph, post, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';
const ADMIN = 'admin-token-00000003';
const asAlice = { authorization: `Bearer ${ALICE}` };
const asBob = { authorization: `Bearer ${BOB}` };
const asAdmin = { 'x-admin-token': ADMIN };

let sims: ComfySimulator[];
let bridge: CompatBridge;
const interrupts: (string | null)[] = [];

beforeAll(async () => {
  sims = await startSims(1);
  sims[0].on('interrupt', (id: string | null) => interrupts.push(id));
  bridge = await startDoor(sims.map((s) => s.url), { API_KEYS: `alice:${ALICE},bob:${BOB}`, ADMIN_TOKEN: ADMIN, BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

function idsIn(queue: any): string[] {
  return [...queue.queue_running, ...queue.queue_pending].map((item: any[]) => item[1]);
}

test('another key cannot list, read, delete or interrupt a prompt, nor hear of it, even on the same client_id', async () => {
  const sid = 'same-socket-id';
  const alice = await ComfyWs.connect(bridge, sid, { headers: asAlice });
  const bob = await ComfyWs.connect(bridge, sid, { headers: asBob });
  const promptId = randomUUID();
  const started = simEvent<string>(sims[0], 'started');
  expect((await post(`${bridge.door}/prompt`, { prompt: sleepGraph(1), client_id: sid, prompt_id: promptId }, asAlice)).status).toBe(200);
  await started;

  expect(idsIn((await get(`${bridge.door}/queue`, asAlice)).body)).toContain(promptId);
  expect(idsIn((await get(`${bridge.door}/queue`, asBob)).body)).not.toContain(promptId);
  expect(idsIn((await get(`${bridge.door}/queue`, asAdmin)).body)).toContain(promptId);
  expect((await get(`${bridge.door}/history/${promptId}`, asBob)).body).toEqual({});
  expect((await post(`${bridge.door}/queue`, { delete: [promptId] }, asBob)).status).toBe(200);
  expect((await post(`${bridge.door}/interrupt`, { prompt_id: promptId }, asBob)).status).toBe(200);

  await alice.done(promptId);
  expect(alice.messagesOf(promptId).map((m) => m.type)).toContain('execution_success');
  expect(interrupts).toEqual([]);
  // Bob's socket with the same client_id carried nothing of Alice's prompt.
  await bob.barrier();
  expect(bob.messagesOf(promptId)).toEqual([]);

  expect(Object.keys((await get(`${bridge.door}/history`, asBob)).body)).not.toContain(promptId);
  expect(Object.keys((await get(`${bridge.door}/history`, asAdmin)).body)).toContain(promptId);
  expect(Object.keys((await get(`${bridge.door}/history/${promptId}`, asAlice)).body)).toEqual([promptId]);
  // Bob cannot make Alice's history go away.
  expect((await post(`${bridge.door}/history`, { delete: [promptId] }, asBob)).status).toBe(200);
  expect(Object.keys((await get(`${bridge.door}/history/${promptId}`, asAlice)).body)).toEqual([promptId]);
  await alice.close();
  await bob.close();
});

test('another key cannot view a prompt\'s output images', async () => {
  const sid = 'viewer-socket';
  const alice = await ComfyWs.connect(bridge, sid, { headers: asAlice });
  const promptId = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(4321, 'tenant/alice'), client_id: sid, prompt_id: promptId }, asAlice)).status).toBe(200);
  await alice.done(promptId);
  const entry = (await get(`${bridge.door}/history/${promptId}`, asAlice)).body[promptId];
  const ref = entry.outputs['3'].images[0];
  const query = new URLSearchParams(ref).toString();
  expect((await fetch(`${bridge.door}/view?${query}`, { headers: asAlice })).status).toBe(200);
  const bobView = await fetch(`${bridge.door}/view?${query}`, { headers: asBob });
  const missing = await fetch(`${bridge.door}/view?${new URLSearchParams({ ...ref, filename: 'no_such_file_00001_.png' })}`, { headers: asBob });
  expect(bobView.status).toBe(404);
  expect(bobView.status).toBe(missing.status);
  expect((await fetch(`${bridge.door}/view?${query}`, { headers: asAdmin })).status).toBe(200);
  await alice.close();
});

test('an uploaded input belongs to the key that uploaded it', async () => {
  const form = new FormData();
  form.set('image', new Blob([encodeSolidPng({ width: 8, height: 8, rgb: [7, 7, 7] }).toBuffer()], { type: 'image/png' }), 'alice-only.png');
  const up = await fetch(`${bridge.door}/upload/image`, { method: 'POST', body: form, headers: asAlice });
  expect(up.status).toBe(200);
  const { name } = (await up.json()) as { name: string };
  const graph = {
    '1': { class_type: 'LoadImage', inputs: { image: name } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'tenant/load' } },
  };
  expect((await fetch(`${bridge.door}/view?filename=${encodeURIComponent(name)}&type=input`, { headers: asBob })).status).toBe(404);
  const bobPrompt = await post(`${bridge.door}/prompt`, { prompt: graph, client_id: 'bob-loader' }, asBob);
  expect(bobPrompt.status).toBe(400);
  expect(JSON.stringify(bobPrompt.body.node_errors)).toContain(name);
  expect((await post(`${bridge.door}/prompt`, { prompt: graph, client_id: 'alice-loader' }, asAlice)).status).toBe(200);
});
