// Queue control as ComfyUI clients use it: targeted and global /interrupt, /queue delete and
// clear, front-of-queue prompts. One backend taking one prompt at a time, so the rest wait.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { ComfyWs, backendsUp, get, jobReaches, post, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;
let ws: ComfyWs;
const CLIENT = 'control-client';

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url), { BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
  ws = await ComfyWs.connect(bridge, CLIENT);
});

afterAll(async () => {
  await ws?.close();
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

async function queueSleep(extra: Record<string, unknown> = {}): Promise<string> {
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt: sleepGraph(60), client_id: CLIENT, prompt_id: promptId, ...extra });
  expect(res.status).toBe(200);
  return promptId;
}

const ids = (items: unknown[][]) => items.map((item) => item[1]);

test('interrupt by prompt_id stops only that prompt, and only while it runs', async () => {
  const a = await queueSleep();
  const b = await queueSleep();
  await ws.nextJson('execution_start', (d) => d.prompt_id === a);
  await jobReaches(bridge, a, ['running']);

  // B waits: interrupting it does nothing, and deleting the running A from the queue does nothing.
  expect((await post(`${bridge.door}/interrupt`, { prompt_id: b })).status).toBe(200);
  expect((await post(`${bridge.door}/queue`, { delete: [a] })).status).toBe(200);
  const queue = await get(`${bridge.door}/queue`);
  expect(ids(queue.body.queue_running)).toEqual([a]);
  expect(ids(queue.body.queue_pending)).toEqual([b]);

  const interrupted = await post(`${bridge.door}/interrupt`, { prompt_id: a });
  expect(interrupted.status).toBe(200);
  expect(interrupted.text).toBe('');
  await ws.done(a);
  const types = ws.messagesOf(a, { status: true }).map((m) => m.type);
  expect(types.slice(-3)).toEqual(['execution_interrupted', 'status', 'executing']);
  const entry = (await get(`${bridge.door}/history/${a}`)).body[a];
  expect(entry.status.status_str).toBe('error');
  expect(entry.status.completed).toBe(false);
  expect(entry.status.messages.map((m: [string]) => m[0])).toContain('execution_interrupted');

  // The next prompt goes on; a global interrupt (no body) stops it.
  await ws.nextJson('execution_start', (d) => d.prompt_id === b);
  await jobReaches(bridge, b, ['running']);
  expect((await post(`${bridge.door}/interrupt`)).status).toBe(200);
  await ws.done(b);
  expect(ws.messagesOf(b).some((m) => m.type === 'execution_interrupted')).toBe(true);
});

test('queue delete and clear drop pending prompts silently; front prompts jump the line', async () => {
  const running = await queueSleep();
  await jobReaches(bridge, running, ['running']);
  const b = await queueSleep();
  const c = await queueSleep();
  const d = await queueSleep();
  const front = await queueSleep({ front: true });
  expect(ids((await get(`${bridge.door}/queue`)).body.queue_pending)).toEqual([front, b, c, d]);

  expect((await post(`${bridge.door}/queue`, { delete: [c, randomUUID()] })).status).toBe(200);
  await jobReaches(bridge, c, ['cancelled']);
  expect(ids((await get(`${bridge.door}/queue`)).body.queue_pending)).toEqual([front, b, d]);

  expect((await post(`${bridge.door}/queue`, { clear: true })).status).toBe(200);
  const queue = (await get(`${bridge.door}/queue`)).body;
  expect(ids(queue.queue_pending)).toEqual([]);
  expect(ids(queue.queue_running)).toEqual([running]);

  // Deleted prompts never ran: no events, no history.
  await ws.barrier();
  for (const id of [front, b, c, d]) {
    expect(ws.messagesOf(id)).toEqual([]);
    expect((await get(`${bridge.door}/history/${id}`)).body).toEqual({});
  }
  expect((await get(`${bridge.door}/prompt`)).body.exec_info.queue_remaining).toBe(1);
  await post(`${bridge.door}/interrupt`, { prompt_id: running });
  await ws.done(running);
});

test('a front prompt runs before those queued earlier', async () => {
  const running = await queueSleep();
  await jobReaches(bridge, running, ['running']);
  const later = randomUUID();
  await post(`${bridge.door}/prompt`, { prompt: sleepGraph(0), client_id: CLIENT, prompt_id: later });
  const first = randomUUID();
  await post(`${bridge.door}/prompt`, { prompt: sleepGraph(0), client_id: CLIENT, prompt_id: first, front: true });
  await post(`${bridge.door}/interrupt`, { prompt_id: running });
  await ws.done(later);
  const starts = ws.frames.flatMap((f) => (f.kind === 'json' && f.type === 'execution_start' ? [f.data.prompt_id] : []));
  expect(starts.indexOf(first)).toBeLessThan(starts.indexOf(later));
});
