// Both doors feed one queue and one pool: a curated job and ComfyUI-door prompts wait in line
// together, run in arrival order and all finish; each door lists only its own work.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { postJson, waitFinal } from '../e2e/harness.js';
import { ComfyWs, backendsUp, get, imageGraph, jobReaches, post, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url), { BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

test('a curated job and ComfyUI prompts share the queue, in arrival order, and all finish', async () => {
  const ws = await ComfyWs.connect(bridge, 'shared-comfy');
  const blocker = randomUUID();
  await post(`${bridge.door}/prompt`, { prompt: sleepGraph(60), client_id: 'shared-comfy', prompt_id: blocker });
  await jobReaches(bridge, blocker, ['running']);

  const curatedClient = 'shared-curated-1';
  const curated = await postJson(`${bridge.url}/generate-based-workflow?clientId=${curatedClient}`, { workflow: 'invert' });
  expect(curated.status).toBe(200);
  const after = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(8080, 'door/shared'), client_id: 'shared-comfy', prompt_id: after })).status).toBe(200);

  // The ComfyUI door counts everyone's work, but lists only its own.
  expect((await get(`${bridge.door}/prompt`)).body.exec_info.queue_remaining).toBe(3);
  const queue = (await get(`${bridge.door}/queue`)).body;
  expect(queue.queue_running.map((i: unknown[]) => i[1])).toEqual([blocker]);
  expect(queue.queue_pending.map((i: unknown[]) => i[1])).toEqual([after]);

  await post(`${bridge.door}/interrupt`, { prompt_id: blocker });
  await Promise.all([ws.done(after), waitFinal(bridge, curatedClient)]);
  const curatedJob = bridge.engine.jobsOf(curatedClient)[0];
  const comfyJob = bridge.engine.get(after)!;
  expect(curatedJob.state).toBe('completed');
  expect(comfyJob.state).toBe('completed');
  expect(curatedJob.startedAt!).toBeLessThan(comfyJob.startedAt!);
  // The door's history has its own prompts only.
  expect(Object.keys((await get(`${bridge.door}/history`)).body).sort()).toEqual([after, blocker].sort());
  await ws.close();
});
