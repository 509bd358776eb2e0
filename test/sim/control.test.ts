// Queue deletion, interrupts, runtime errors, /free and the history endpoints.
import type { ComfySimulator } from '../../src/sim/index.js';
import { events, finished, getJson, http, imageGraph, postJson, simEvent, sleepGraph, startSim, WsClient } from './helpers.js';

let sim: ComfySimulator;
const clients: WsClient[] = [];

beforeEach(async () => {
  sim = await startSim();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sim.close();
});

async function connect(clientId?: string): Promise<WsClient> {
  const client = await WsClient.connect(sim, clientId);
  clients.push(client);
  return client;
}

/** Queues a long interruptible prompt and waits until it runs. */
async function blocker(clientId?: string): Promise<string> {
  const res = await postJson(sim, '/prompt', { prompt: sleepGraph(10, 'blocker'), ...(clientId ? { client_id: clientId } : {}) });
  await simEvent(sim, 'started', (id) => id === res.body.prompt_id);
  return res.body.prompt_id;
}

test('POST /queue deletes pending prompts only, silently, and clear empties the pending list', async () => {
  const ws = await connect('q');
  const running = await blocker();
  const x = (await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'x') })).body.prompt_id;
  const y = (await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'y') })).body.prompt_id;
  const z = (await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'z') })).body.prompt_id;

  const statusBefore = ws.json().filter((m) => m.type === 'status').length;
  const del = await postJson(sim, '/queue', { delete: [x, running, 'unknown'] });
  expect(del.status).toBe(200);
  expect(del.text).toBe('');
  let queue = (await getJson(sim, '/queue')).body;
  expect(queue.queue_running.map((i: any[]) => i[1])).toEqual([running]);
  expect(queue.queue_pending.map((i: any[]) => i[1]).sort()).toEqual([y, z].sort());
  expect(sim.queueRemaining).toBe(3);
  await ws.barrier();
  // A deletion is visible on the socket only as a status broadcast.
  expect(ws.json().filter((m) => m.type === 'status').slice(statusBefore).at(-1)!.data.status.exec_info.queue_remaining).toBe(3);

  await postJson(sim, '/queue', { clear: true });
  queue = (await getJson(sim, '/queue')).body;
  expect(queue.queue_pending).toEqual([]);
  expect(queue.queue_running).toHaveLength(1);
  expect(sim.stats.queueDeletes).toBe(2);

  await postJson(sim, '/interrupt', { prompt_id: running });
  await finished(sim, running);
  const history = (await getJson(sim, '/history')).body;
  expect(Object.keys(history)).toEqual([running]);
});

test('a targeted interrupt only stops the running prompt it names; a global one stops whatever runs', async () => {
  const ws = await connect('int');
  const running = await blocker('int');
  const pending = (await postJson(sim, '/prompt', { prompt: sleepGraph(10, 'next'), client_id: 'int' })).body.prompt_id;

  const seenInterrupt = simEvent(sim, 'interrupt', (id) => id === pending);
  expect((await postJson(sim, '/interrupt', { prompt_id: pending })).status).toBe(200);
  await seenInterrupt;
  // Still running: another progress step arrives after the ignored interrupt.
  const progressSoFar = ws.json().filter((m) => m.type === 'progress').length;
  await ws.next((f) => f.kind === 'json' && f.type === 'progress' && ws.json().filter((m) => m.type === 'progress').length > progressSoFar);
  expect(sim.runningPromptId).toBe(running);

  await postJson(sim, '/interrupt', { prompt_id: running });
  expect(await finished(sim, running)).toEqual({ promptId: running, status: 'interrupted' });
  const interrupted = await ws.nextJson('execution_interrupted', (d) => d.prompt_id === running);
  expect(interrupted).toEqual({ prompt_id: running, node_id: '1', node_type: 'TestSleep', executed: [], timestamp: expect.any(Number) });
  const afterInterrupt = ws.json().slice(ws.json().findIndex((m) => m.type === 'execution_interrupted'));
  expect(afterInterrupt.slice(0, 3).map((m) => m.type)).toEqual(['execution_interrupted', 'status', 'executing']);

  const entry = (await getJson(sim, `/history/${running}`)).body[running];
  expect(entry.status.status_str).toBe('error');
  expect(entry.status.completed).toBe(false);
  expect(entry.status.messages.map((m: [string]) => m[0])).toEqual(['execution_start', 'execution_cached', 'execution_interrupted']);

  // The next prompt starts; an interrupt without a body is global.
  await simEvent(sim, 'started', (id) => id === pending);
  await http(sim, 'POST', '/interrupt');
  expect((await finished(sim, pending)).status).toBe('interrupted');
  expect(sim.stats.interrupts).toBe(3);
});

test('an interrupt while idle is forgotten when the next prompt starts', async () => {
  await postJson(sim, '/interrupt', {});
  const res = await postJson(sim, '/prompt', { prompt: sleepGraph(0.02) });
  expect((await finished(sim, res.body.prompt_id)).status).toBe('success');
});

test('TestSyncError raises a deterministic execution_error and the worker moves on', async () => {
  const ws = await connect('err');
  const graph = {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    '3': { class_type: 'TestSyncError', inputs: { value: ['1', 0] } },
    '4': { class_type: 'PreviewAny', inputs: { source: ['3', 0] } },
  };
  const res = await postJson(sim, '/prompt', { prompt: graph, client_id: 'err' });
  const id = res.body.prompt_id;
  const next = (await postJson(sim, '/prompt', { prompt: sleepGraph(0), client_id: 'err' })).body.prompt_id;
  expect((await finished(sim, id)).status).toBe('error');
  const error = await ws.nextJson('execution_error', (d) => d.prompt_id === id);
  expect(error).toEqual({
    prompt_id: id,
    node_id: '3',
    node_type: 'TestSyncError',
    executed: ['1', '2'],
    exception_message: 'Intentional sync execution error for testing\n',
    exception_type: 'RuntimeError',
    traceback: expect.arrayContaining([expect.stringContaining('raise RuntimeError')]),
    current_inputs: { value: [expect.stringMatching(/^tensor\(/)] },
    current_outputs: ['1', '2', '3', '4'],
    timestamp: expect.any(Number),
  });
  const tail = ws.json().filter((m) => m.data?.prompt_id === id || m.type === 'status');
  const at = tail.findIndex((m) => m.type === 'execution_error');
  expect(tail.slice(at, at + 3).map((m) => m.type)).toEqual(['execution_error', 'status', 'executing']);

  const entry = (await getJson(sim, `/history/${id}`)).body[id];
  expect(entry.status).toMatchObject({ status_str: 'error', completed: false });
  expect(entry.status.messages.at(-1)[0]).toBe('execution_error');
  // Output nodes that finished before the failure keep their outputs.
  expect(Object.keys(entry.outputs)).toEqual(['2']);
  expect((await finished(sim, next)).status).toBe('success');
});

test('POST /free answers 200 (500 on an empty body) and free_memory drops the execution cache', async () => {
  const first = await postJson(sim, '/prompt', { prompt: imageGraph() });
  await finished(sim, first.body.prompt_id);
  const freed = simEvent(sim, 'free');
  const res = await postJson(sim, '/free', { unload_models: true, free_memory: true });
  expect(res.status).toBe(200);
  expect(res.text).toBe('');
  expect(await freed).toEqual({ unload_models: true, free_memory: true });
  expect((await http(sim, 'POST', '/free')).status).toBe(500);
  expect(sim.stats.frees).toBe(1);

  const ws = await connect('after-free');
  const again = await postJson(sim, '/prompt', { prompt: imageGraph(), client_id: 'after-free' });
  const cached = await ws.nextJson('execution_cached', (d) => d.prompt_id === again.body.prompt_id);
  expect(cached.nodes).toEqual([]);
});

test('history: paging, single entries, delete and clear', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) {
    const res = await postJson(sim, '/prompt', { prompt: sleepGraph(0, `h${i}`) });
    ids.push(res.body.prompt_id);
  }
  await finished(sim, ids[3]!);
  expect(Object.keys((await getJson(sim, '/history')).body)).toEqual(ids);
  expect(Object.keys((await getJson(sim, '/history?max_items=2')).body)).toEqual(ids.slice(2));
  expect(Object.keys((await getJson(sim, '/history?max_items=2&offset=1')).body)).toEqual(ids.slice(1, 3));
  expect((await getJson(sim, '/history?max_items=abc')).status).toBe(500);
  expect((await getJson(sim, '/history/nope')).body).toEqual({});
  expect(Object.keys((await getJson(sim, `/history/${ids[1]}`)).body)).toEqual([ids[1]]);

  expect((await postJson(sim, '/history', { delete: [ids[0], 'unknown'] })).status).toBe(200);
  expect(Object.keys((await getJson(sim, '/history')).body)).toEqual(ids.slice(1));
  await postJson(sim, '/history', { clear: true });
  expect((await getJson(sim, '/history')).body).toEqual({});
  expect(sim.stats.historyDeletes).toBe(2);
  expect((await http(sim, 'POST', '/history', 'nope')).status).toBe(500);
});

test('history of a queued or running prompt is {} until it finishes', async () => {
  const running = await blocker();
  const pending = (await postJson(sim, '/prompt', { prompt: sleepGraph(0) })).body.prompt_id;
  expect((await getJson(sim, `/history/${running}`)).body).toEqual({});
  expect((await getJson(sim, `/history/${pending}`)).body).toEqual({});
  await postJson(sim, '/interrupt');
  await finished(sim, pending);
  expect(Object.keys((await getJson(sim, '/history')).body)).toEqual([running, pending]);
  expect(events(sim).all('finished').map((e) => e.status)).toEqual(['interrupted', 'success']);
});

test('sensitive extra_data is kept in /queue but stripped from history', async () => {
  const running = await blocker();
  const res = await postJson(sim, '/prompt', {
    prompt: sleepGraph(0),
    extra_data: { api_key_comfy_org: 'secret', auth_token_comfy_org: 'tok', extra_pnginfo: { workflow: { v: 1 } } },
  });
  const queue = (await getJson(sim, '/queue')).body;
  expect(queue.queue_pending[0][3]).toMatchObject({ api_key_comfy_org: 'secret' });
  await postJson(sim, '/interrupt', { prompt_id: running });
  await finished(sim, res.body.prompt_id);
  const entry = (await getJson(sim, `/history/${res.body.prompt_id}`)).body[res.body.prompt_id];
  expect(entry.prompt[3]).toEqual({ extra_pnginfo: { workflow: { v: 1 } } });
});
