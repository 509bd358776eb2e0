// How a prompt that fails ends for a ComfyUI client: execution_error, status, executing null and
// an error entry in /history, whether the backend reported the error or the bridge gave up.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { ComfyWs, backendsUp, get, jobReaches, post, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[] = [];
let bridge: CompatBridge | undefined;

afterEach(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close().catch(() => undefined)));
  bridge = undefined;
  sims = [];
});

test('an error on the backend is relayed as it came, then status and executing null', async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url));
  await backendsUp(bridge);
  const ws = await ComfyWs.connect(bridge, 'error-client');
  const promptId = randomUUID();
  const prompt = {
    '1': { class_type: 'TestSyncError', inputs: { value: 'x' } },
    '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
  };
  expect((await post(`${bridge.door}/prompt`, { prompt, client_id: 'error-client', prompt_id: promptId })).status).toBe(200);
  await ws.done(promptId);
  const messages = ws.messagesOf(promptId, { status: true });
  expect(messages.slice(-3).map((m) => m.type)).toEqual(['execution_error', 'status', 'executing']);
  expect(messages.at(-3)!.data).toMatchObject({ node_id: '1', exception_type: 'RuntimeError', exception_message: expect.stringMatching(/^Intentional sync execution error for testing/) });
  const entry = (await get(`${bridge.door}/history/${promptId}`)).body[promptId];
  expect(entry.status).toMatchObject({ status_str: 'error', completed: false });
  expect(entry.status.messages.map((m: [string]) => m[0])).toContain('execution_error');
  await ws.close();
});

test('a prompt the bridge gives up on (its only backend died) still ends the ComfyUI way', async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url), { JOB_MAX_ATTEMPTS: '1', HEALTH_FAILURES: '1' });
  await backendsUp(bridge);
  const ws = await ComfyWs.connect(bridge, 'doomed-client');
  const promptId = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: sleepGraph(60), client_id: 'doomed-client', prompt_id: promptId })).status).toBe(200);
  await jobReaches(bridge, promptId, ['running']);
  sims[0].kill();
  await ws.done(promptId);
  const messages = ws.messagesOf(promptId, { status: true });
  expect(messages.slice(-3).map((m) => m.type)).toEqual(['execution_error', 'status', 'executing']);
  expect(messages.at(-3)!.data).toMatchObject({ prompt_id: promptId, exception_type: 'BridgeError', exception_message: expect.stringMatching(/gave up after 1 attempts/) });
  const entry = (await get(`${bridge.door}/history/${promptId}`)).body[promptId];
  expect(entry.status.status_str).toBe('error');
  expect(entry.status.messages[0][0]).toBe('execution_error');
  await ws.close();
});
