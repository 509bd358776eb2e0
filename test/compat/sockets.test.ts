// The door's websockets: greeting, feature flags, clientId take-over, the reconnect greeting;
// and forgetting history.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { ComfyWs, backendsUp, get, imageGraph, post, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(2);
  bridge = await startDoor(sims.map((s) => s.url));
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

test('the greeting names the sid (a fresh one when none is asked for); feature flags are answered once', async () => {
  const named = await ComfyWs.connect(bridge, 'greeted');
  expect(named.frames[0]).toEqual({ kind: 'json', type: 'status', data: { status: { exec_info: { queue_remaining: expect.any(Number) } }, sid: 'greeted' } });
  const anonymous = await ComfyWs.connect(bridge);
  expect(anonymous.sid).toMatch(/^[0-9a-f]{32}$/);

  named.ws.send('not json');
  named.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
  expect(await named.nextJson('feature_flags')).toEqual({ supports_preview_metadata: true, max_upload_size: bridge.config.uploadMaxBytes });
  named.ws.send(JSON.stringify({ type: 'feature_flags', data: {} }));
  await named.barrier();
  expect(named.frames.filter((f) => f.kind === 'json' && f.type === 'feature_flags')).toHaveLength(1);
  await Promise.all([named.close(), anonymous.close()]);
});

test('a second socket with the same clientId takes over; the old one closing does not silence it', async () => {
  const old = await ComfyWs.connect(bridge, 'twin');
  const fresh = await ComfyWs.connect(bridge, 'twin');
  await old.close();
  const promptId = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(9191, 'door/twin'), client_id: 'twin', prompt_id: promptId })).status).toBe(200);
  await fresh.done(promptId);
  expect(old.messagesOf(promptId)).toEqual([]);
  await fresh.close();
});

test('a client reconnecting while its prompt runs is told the running node', async () => {
  const first = await ComfyWs.connect(bridge, 'reconnecting');
  const promptId = randomUUID();
  await post(`${bridge.door}/prompt`, { prompt: sleepGraph(60), client_id: 'reconnecting', prompt_id: promptId });
  await first.nextJson('executing', (d) => d.prompt_id === promptId && d.node === '1');
  await first.close();
  const again = await ComfyWs.connect(bridge, 'reconnecting');
  expect(await again.nextJson('executing')).toEqual({ node: '1' });
  await post(`${bridge.door}/interrupt`, { prompt_id: promptId });
  await again.done(promptId);
  await again.close();
});

test('POST /history delete and clear forget prompts here and on their backends', async () => {
  const ws = await ComfyWs.connect(bridge, 'forgetful');
  const ids = [randomUUID(), randomUUID()];
  for (const [i, id] of ids.entries()) await post(`${bridge.door}/prompt`, { prompt: imageGraph(7000 + i, 'door/forget'), client_id: 'forgetful', prompt_id: id });
  await Promise.all(ids.map((id) => ws.done(id)));
  const backendOf = (id: string) => sims.find((s) => s.url === bridge.engine.get(id)!.backend)!;
  const first = backendOf(ids[0]);
  expect(Object.keys((await get(`${first.url}/history/${ids[0]}`)).body)).toEqual([ids[0]]);

  expect((await post(`${bridge.door}/history`, { delete: [ids[0]] })).status).toBe(200);
  expect((await get(`${bridge.door}/history/${ids[0]}`)).body).toEqual({});
  expect((await get(`${first.url}/history/${ids[0]}`)).body).toEqual({});
  expect(Object.keys((await get(`${bridge.door}/history/${ids[1]}`)).body)).toEqual([ids[1]]);

  expect((await post(`${bridge.door}/history`, { clear: true })).status).toBe(200);
  expect((await get(`${bridge.door}/history`)).body).toEqual({});
  expect(bridge.engine.get(ids[1])).toBeUndefined();
  await ws.close();
});
