// The door driven the way ComfyUI's websocket example client drives ComfyUI: socket with a
// clientId, POST /prompt with a chosen prompt_id, read until `executing` null, GET /history,
// fetch every image with /view. Many clients at once, over three simulated backends.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { readPngText } from '../../src/sim/png.js';
import { ComfyWs, backendsUp, engineUntil, get, imageGraph, post, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(3);
  bridge = await startDoor(sims.map((s) => s.url));
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

/** One run of the example client: queue, wait for the end, read history, fetch the images. */
async function runLikeTheExample(ws: ComfyWs, prompt: Record<string, any>): Promise<{ promptId: string; images: { ref: Record<string, string>; bytes: Buffer }[] }> {
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt, client_id: ws.sid, prompt_id: promptId });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ prompt_id: promptId, number: expect.any(Number), node_errors: {} });
  await ws.done(promptId);
  const history = await get(`${bridge.door}/history/${promptId}`);
  expect(Object.keys(history.body)).toEqual([promptId]);
  const entry = history.body[promptId];
  expect(entry.status).toMatchObject({ status_str: 'success', completed: true });
  const images: { ref: Record<string, string>; bytes: Buffer }[] = [];
  for (const output of Object.values(entry.outputs as Record<string, { images?: Record<string, string>[] }>)) {
    for (const ref of output.images ?? []) {
      const view = await fetch(`${bridge.door}/view?${new URLSearchParams(ref)}`);
      expect(view.status).toBe(200);
      expect(view.headers.get('content-type')).toBe('image/png');
      images.push({ ref, bytes: Buffer.from(await view.arrayBuffer()) });
    }
  }
  return { promptId, images };
}

test('twenty clients at once: every prompt finishes, its history is there at the end, its images come back by /view', async () => {
  const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => ComfyWs.connect(bridge, `example-client-${i}`)));
  const runs = await Promise.all(
    clients.map(async (ws, i) => {
      const prompt = imageGraph(100_000 + i, `door/client${i}`);
      const run = await runLikeTheExample(ws, prompt);
      expect(run.images).toHaveLength(2);
      for (const { ref, bytes } of run.images) {
        const text = readPngText(bytes);
        expect(JSON.parse(text.prompt)).toEqual(prompt);
        expect(text.prompt_id).toBe(run.promptId);
        // The file name is the backend's; the subfolder says which backend has it.
        expect(ref.subfolder).toMatch(/^backend-[0-9a-f]{8}(\/|$)/);
      }
      return run;
    }),
  );
  expect(new Set(runs.map((r) => r.promptId)).size).toBe(20);
  // The work was spread over the pool.
  expect(sims.filter((s) => s.stats.prompts > 0).length).toBeGreaterThan(1);
  await Promise.all(clients.map((c) => c.close()));
});

test('messages come in ComfyUI order, and the history entry exists once `status` follows the end', async () => {
  const ws = await ComfyWs.connect(bridge, 'order-client');
  const promptId = randomUUID();
  const entryAtStatus = new Promise<unknown>((resolve) => {
    ws.ws.on('message', (raw: Buffer, binary: boolean) => {
      if (binary) return;
      const msg = JSON.parse(raw.toString());
      // The first status after the prompt's execution_success.
      if (msg.type === 'status' && ws.messagesOf(promptId).some((m) => m.type === 'execution_success')) {
        void get(`${bridge.door}/history/${promptId}`).then((r) => resolve(r.body));
      }
    });
  });
  const res = await post(`${bridge.door}/prompt`, { prompt: imageGraph(4242, 'door/order'), client_id: 'order-client', prompt_id: promptId });
  expect(res.status).toBe(200);
  await ws.done(promptId);
  expect(Object.keys((await entryAtStatus) as object)).toEqual([promptId]);

  const types = ws.messagesOf(promptId, { status: true }).map((m) => m.type);
  const own = types.filter((t) => t !== 'status' && t !== 'progress_state');
  expect(own[0]).toBe('execution_start');
  expect(own[1]).toBe('execution_cached');
  expect(own.slice(-2)).toEqual(['execution_success', 'executing']);
  // ...and between them: status (history written), then the final executing null.
  expect(types.slice(-3)).toEqual(['execution_success', 'status', 'executing']);
  const executing = ws.messagesOf(promptId).filter((m) => m.type === 'executing');
  expect(executing.at(-1)!.data).toEqual({ node: null, prompt_id: promptId });
  // Exactly one final executing: the backend's own was not passed on.
  expect(executing.filter((m) => m.data.node === null)).toHaveLength(1);
  // Every node ran with executing {node, display_node, prompt_id}; outputs came as executed.
  expect(executing.slice(0, -1).map((m) => m.data.node).sort()).toEqual(['1', '2', '3', '4']);
  const executed = ws.messagesOf(promptId).filter((m) => m.type === 'executed');
  expect(executed.map((m) => m.data.node).sort()).toEqual(['3', '4']);
  for (const m of executed) for (const image of m.data.output.images) expect(image.subfolder).toMatch(/^backend-[0-9a-f]{8}/);
  await ws.close();
});

test('GET /prompt and /queue reflect the bridge queue; /history lists finished prompts oldest first with ComfyUI entries', async () => {
  const prompt = await get(`${bridge.door}/prompt`);
  expect(prompt.body).toEqual({ exec_info: { queue_remaining: expect.any(Number) } });
  const queue = await get(`${bridge.door}/queue`);
  expect(queue.body).toEqual({ queue_running: expect.any(Array), queue_pending: expect.any(Array) });

  const all = await get(`${bridge.door}/history`);
  const ids = Object.keys(all.body);
  expect(ids.length).toBeGreaterThanOrEqual(21);
  const entry = all.body[ids[0]];
  expect(entry.prompt).toHaveLength(5);
  const [number, id, graph, extra, outputs] = entry.prompt;
  expect(typeof number).toBe('number');
  expect(id).toBe(ids[0]);
  expect(graph['3'].class_type).toBe('SaveImage');
  expect(extra.client_id).toEqual(expect.any(String));
  expect(outputs.sort()).toEqual(['3', '4']);
  expect(entry.meta['3']).toMatchObject({ node_id: '3' });

  const last2 = await get(`${bridge.door}/history?max_items=2`);
  expect(Object.keys(last2.body)).toEqual(ids.slice(-2));
  const window = await get(`${bridge.door}/history?max_items=2&offset=1`);
  expect(Object.keys(window.body)).toEqual(ids.slice(1, 3));
  expect((await get(`${bridge.door}/history?max_items=x`)).status).toBe(400);
  expect((await get(`${bridge.door}/history/${randomUUID()}`)).body).toEqual({});
});

test('every route is also served under /api, the websocket included', async () => {
  const ws = await ComfyWs.connect(bridge, 'api-client', { path: '/api/ws' });
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/api/prompt`, { prompt: imageGraph(777, 'door/api'), client_id: 'api-client', prompt_id: promptId });
  expect(res.status).toBe(200);
  await ws.done(promptId);
  expect(Object.keys((await get(`${bridge.door}/api/history/${promptId}`)).body)).toEqual([promptId]);
  expect((await get(`${bridge.door}/api/nope`)).status).toBe(404);
  expect((await get(`${bridge.door}/nope`)).status).toBe(404);
  await ws.close();
});

test('info endpoints come from the pool; system_stats lists every backend\'s devices', async () => {
  const info = await get(`${bridge.door}/object_info`);
  expect(info.status).toBe(200);
  expect(info.body.SaveImage.output_node).toBe(true);
  expect(Object.keys((await get(`${bridge.door}/object_info/EmptyImage`)).body)).toEqual(['EmptyImage']);
  expect((await get(`${bridge.door}/object_info/NoSuchNode`)).body).toEqual({});
  expect((await get(`${bridge.door}/models`)).body).toContain('checkpoints');
  expect((await get(`${bridge.door}/models/checkpoints`)).body).toContain('sd15.safetensors');
  expect((await get(`${bridge.door}/models/not-a-folder`)).status).toBe(404);
  expect((await get(`${bridge.door}/embeddings`)).body).toEqual([]);
  expect((await get(`${bridge.door}/features`)).body).toEqual({ supports_preview_metadata: true, max_upload_size: bridge.config.uploadMaxBytes });
  const stats = await get(`${bridge.door}/system_stats`);
  expect(stats.body.system.comfyui_version).toBe('0.3.64');
  expect(stats.body.devices.map((d: { name: string }) => d.name).sort()).toEqual(sims.map((s) => `${s.url} cpu`).sort());
});

test('a client without client_id: no per-prompt events, the prompt still runs and lands in history', async () => {
  const ws = await ComfyWs.connect(bridge, 'bystander');
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt: imageGraph(31337, 'door/anon'), prompt_id: promptId });
  expect(res.status).toBe(200);
  const job = bridge.engine.get(promptId)!;
  await engineUntil(bridge.engine, () => job.state === 'completed');
  await ws.barrier();
  // progress_state is broadcast for prompts without a client; execution_* and executing are not sent.
  const types = new Set(ws.messagesOf(promptId).map((m) => m.type));
  for (const t of ['execution_start', 'executing', 'executed', 'execution_success']) expect(types.has(t)).toBe(false);
  expect(types.has('progress_state')).toBe(true);
  expect(Object.keys((await get(`${bridge.door}/history/${promptId}`)).body)).toEqual([promptId]);
  await ws.close();
});
