// One prompt end to end: websocket message order, history, files, caching,
// recipients and preview frames.
import { pngFirstPixel, pngSize, readPngText } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { finished, getJson, http, imageGraph, postJson, samplerGraph, sleepGraph, startSim, WsClient } from './helpers.js';

let sim: ComfySimulator;
const clients: WsClient[] = [];

async function connect(clientId?: string, opts?: { path?: string; featureFlags?: boolean }): Promise<WsClient> {
  const client = await WsClient.connect(sim, clientId, opts);
  clients.push(client);
  return client;
}

beforeEach(async () => {
  sim = await startSim();
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await sim.close();
});

test('a prompt produces ComfyUI 0.3.64 message order, then history and a PNG carrying its prompt', async () => {
  const ws = await connect('client-A');
  const promptId = 'af1b6e8f-7473-4737-a2c9-2a933b5c2527';
  const graph = imageGraph();
  const res = await postJson(sim, '/prompt', { prompt: graph, client_id: 'client-A', prompt_id: promptId });
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ prompt_id: promptId, number: 0, node_errors: {} });

  await ws.nextJson('executing', (d) => d.node === null && d.prompt_id === promptId);
  // History is written before the final status broadcast, so it is there now.
  const history = await getJson(sim, `/history/${promptId}`);

  const core = ws.json().filter((m) => m.type !== 'progress_state');
  expect(core.map((m) => [m.type, m.data.node ?? m.data.status?.exec_info.queue_remaining ?? null])).toEqual([
    ['status', 0],
    ['status', 1],
    ['status', 1],
    ['execution_start', null],
    ['execution_cached', null],
    ['executing', '1'],
    ['executing', '4'],
    ['executed', '4'],
    ['executing', '2'],
    ['executing', '3'],
    ['executed', '3'],
    ['execution_success', null],
    ['status', 0],
    ['executing', null],
  ]);
  expect(core[0]!.data.sid).toBe('client-A');
  expect(core[3]!.data).toEqual({ prompt_id: promptId, timestamp: expect.any(Number) });
  expect(core[4]!.data).toEqual({ nodes: [], prompt_id: promptId, timestamp: expect.any(Number) });
  expect(core[5]!.data).toEqual({ node: '1', display_node: '1', prompt_id: promptId });
  expect(core[13]!.data).toEqual({ node: null, prompt_id: promptId });

  // progress_state surrounds every executed node: running before `executing`, finished after.
  const types = ws.types();
  const firstExec = types.indexOf('executing', 3);
  expect(types[firstExec - 1]).toBe('progress_state');
  const states = ws.json().filter((m) => m.type === 'progress_state');
  expect(states[0]!.data.nodes['1']).toMatchObject({ state: 'running', value: 0, max: 1, node_id: '1', prompt_id: promptId });
  expect(states.at(-1)!.data.nodes).toEqual(
    expect.objectContaining({ '1': expect.objectContaining({ state: 'finished' }), '3': expect.objectContaining({ state: 'finished' }) }),
  );

  const saved = core[10]!.data.output.images[0];
  expect(saved).toEqual({ filename: 'inv_00001_.png', subfolder: 'bridge/sub', type: 'output' });
  const temp = core[7]!.data.output.images[0];
  expect(temp.filename).toMatch(/^ComfyUI_temp_[a-z]{5}_00001_\.png$/);
  expect(temp.type).toBe('temp');

  const entry = history.body[promptId];
  expect(entry.prompt).toEqual([0, promptId, graph, { client_id: 'client-A' }, ['3', '4']]);
  expect(entry.outputs).toEqual({ '3': { images: [saved] }, '4': { images: [temp] } });
  expect(entry.status.status_str).toBe('success');
  expect(entry.status.completed).toBe(true);
  expect(entry.status.messages.map((m: [string, unknown]) => m[0])).toEqual(['execution_start', 'execution_cached', 'execution_success']);
  expect(entry.meta['3']).toEqual({ node_id: '3', display_node: '3', parent_node: null, real_node_id: '3' });

  const view = await fetch(`${sim.url}/api/view?filename=${saved.filename}&subfolder=${saved.subfolder}&type=output`);
  expect(view.status).toBe(200);
  expect(view.headers.get('content-type')).toBe('image/png');
  expect(view.headers.get('content-disposition')).toBe('filename="inv_00001_.png"');
  const png = Buffer.from(await view.arrayBuffer());
  expect(pngSize(png)).toEqual({ width: 64, height: 32 });
  const text = readPngText(png);
  expect(JSON.parse(text.prompt!)).toEqual(graph);
  expect(text.prompt_id).toBe(promptId);
  // 0xFF8000 inverted.
  expect(pngFirstPixel(png)!.rgb).toEqual([0x00, 0x7f, 0xff]);

  const previewBytes = await fetch(`${sim.url}/view?filename=${temp.filename}&type=temp`);
  expect(pngFirstPixel(Buffer.from(await previewBytes.arrayBuffer()))!.rgb).toEqual([0xff, 0x80, 0x00]);
});

test('an identical prompt is served from the execution cache with the same file names', async () => {
  const ws = await connect('cache-client');
  const first = await postJson(sim, '/prompt', { prompt: imageGraph(), client_id: 'cache-client' });
  await finished(sim, first.body.prompt_id);
  const second = await postJson(sim, '/prompt', { prompt: imageGraph(), client_id: 'cache-client' });
  const id = second.body.prompt_id;
  await ws.nextJson('executing', (d) => d.node === null && d.prompt_id === id);

  const mine = ws.json().filter((m) => m.data?.prompt_id === id);
  expect(mine.find((m) => m.type === 'execution_cached')!.data.nodes).toEqual(['1', '2', '3', '4']);
  expect(mine.filter((m) => m.type === 'executing').map((m) => m.data.node)).toEqual([null]);
  const executed = mine.filter((m) => m.type === 'executed');
  expect(executed.map((m) => m.data.node).sort()).toEqual(['3', '4']);
  const history = (await getJson(sim, `/history/${id}`)).body[id];
  const firstHistory = (await getJson(sim, `/history/${first.body.prompt_id}`)).body[first.body.prompt_id];
  expect(history.outputs).toEqual(firstHistory.outputs);

  // A changed input runs again; the upstream EmptyImage is still reused.
  const changed = imageGraph();
  changed['2'] = { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 2, sigma: 1 } };
  const third = await postJson(sim, '/prompt', { prompt: changed, client_id: 'cache-client' });
  await ws.nextJson('executing', (d) => d.node === null && d.prompt_id === third.body.prompt_id);
  const cached = ws.json().find((m) => m.type === 'execution_cached' && m.data.prompt_id === third.body.prompt_id)!;
  expect(cached.data.nodes).toEqual(['1', '4']);
  const outputs = (await getJson(sim, `/history/${third.body.prompt_id}`)).body[third.body.prompt_id].outputs;
  expect(outputs['3'].images[0].filename).toBe('inv_00002_.png');
});

test('without client_id only progress, progress_state, previews and status reach sockets, and they reach every socket', async () => {
  const a = await connect('watcher-a');
  const b = await connect();
  const res = await postJson(sim, '/prompt', { prompt: samplerGraph(3) });
  await finished(sim, res.body.prompt_id);
  await Promise.all([a.barrier(), b.barrier()]);

  for (const client of [a, b]) {
    const types = new Set(client.types());
    expect(types).toEqual(new Set(['status', 'progress_state', 'progress', 'binary:1']));
    const progress = client.json().filter((m) => m.type === 'progress');
    expect(progress.map((m) => m.data.value)).toEqual([1, 2, 3]);
    expect(progress[0]!.data).toEqual({ value: 1, max: 3, prompt_id: res.body.prompt_id, node: '3' });
  }
  expect(b.json()[0]!.data.sid).toMatch(/^[0-9a-f]{32}$/);
});

test('preview frames: type 4 with metadata before progress for negotiating sockets, type 1 PNG after it otherwise', async () => {
  const modern = await connect('modern', { featureFlags: true });
  const legacy = await connect('legacy');
  expect(modern.json().find((m) => m.type === 'feature_flags')!.data).toEqual({
    supports_preview_metadata: true,
    max_upload_size: 100 * 1024 * 1024,
  });

  const m = await postJson(sim, '/prompt', { prompt: samplerGraph(2, 1), client_id: 'modern' });
  await modern.nextJson('executing', (d) => d.node === null && d.prompt_id === m.body.prompt_id);
  const mTypes = modern.types().filter((t) => t === 'binary:4' || t === 'binary:1' || t === 'progress');
  expect(mTypes).toEqual(['binary:4', 'progress', 'binary:4', 'progress']);
  const frame = modern.frames.find((f) => f.kind === 'binary')!;
  if (frame.kind !== 'binary') throw new Error('unreachable');
  const metaLength = frame.payload.readUInt32BE(0);
  const meta = JSON.parse(frame.payload.subarray(4, 4 + metaLength).toString());
  expect(meta).toEqual({
    node_id: '3',
    prompt_id: m.body.prompt_id,
    display_node_id: '3',
    parent_node_id: null,
    real_node_id: '3',
    image_type: 'image/png',
  });
  expect(pngSize(frame.payload.subarray(4 + metaLength))).toEqual({ width: 8, height: 8 });

  const l = await postJson(sim, '/prompt', { prompt: samplerGraph(2, 2), client_id: 'legacy' });
  await legacy.nextJson('executing', (d) => d.node === null && d.prompt_id === l.body.prompt_id);
  const lTypes = legacy.types().filter((t) => t === 'binary:4' || t === 'binary:1' || t === 'progress');
  expect(lTypes).toEqual(['progress', 'binary:1', 'progress', 'binary:1']);
  const legacyFrame = legacy.frames.find((f) => f.kind === 'binary')!;
  if (legacyFrame.kind !== 'binary') throw new Error('unreachable');
  expect(legacyFrame.payload.readUInt32BE(0)).toBe(2);
  expect(pngSize(legacyFrame.payload.subarray(4))).toEqual({ width: 8, height: 8 });
  // Neither saw the other's previews.
  await modern.barrier();
  expect(modern.types().filter((t) => t === 'binary:1')).toEqual([]);
});

test('previews: false sends no binary frames', async () => {
  await sim.close();
  sim = await startSim({ previews: false });
  const ws = await connect('quiet');
  const res = await postJson(sim, '/prompt', { prompt: samplerGraph(2), client_id: 'quiet' });
  await ws.nextJson('executing', (d) => d.node === null && d.prompt_id === res.body.prompt_id);
  expect(ws.types().filter((t) => t.startsWith('binary'))).toEqual([]);
  expect(ws.json().filter((m) => m.type === 'progress')).toHaveLength(2);
});

test('a reused clientId silences the old socket, and closing the old socket silences the new one', async () => {
  const old = await connect('dup');
  const fresh = await connect('dup', { path: '/api/ws' });

  const first = await postJson(sim, '/prompt', { prompt: imageGraph(1), client_id: 'dup' });
  await fresh.nextJson('executing', (d) => d.node === null && d.prompt_id === first.body.prompt_id);
  await old.barrier();
  expect(old.types()).toEqual(['status']);

  await old.close();
  const second = await postJson(sim, '/prompt', { prompt: imageGraph(2), client_id: 'dup' });
  await finished(sim, second.body.prompt_id);
  await fresh.barrier();
  expect(fresh.json().some((m) => m.data?.prompt_id === second.body.prompt_id)).toBe(false);
  expect(fresh.ws.readyState).toBe(fresh.ws.OPEN);
});

test('a client reconnecting during its prompt is told the current node without a prompt_id', async () => {
  const first = await connect('rejoin');
  const res = await postJson(sim, '/prompt', { prompt: sleepGraph(10), client_id: 'rejoin' });
  await first.nextJson('progress', (d) => d.prompt_id === res.body.prompt_id);
  const again = await connect('rejoin');
  await again.barrier();
  expect(again.json().slice(0, 2)).toEqual([
    { type: 'status', data: { status: { exec_info: { queue_remaining: 1 } }, sid: 'rejoin' } },
    { type: 'executing', data: { node: '1' } },
  ]);
  await postJson(sim, '/interrupt', {});
  await finished(sim, res.body.prompt_id);
});

test('feature_flags only count as the first valid JSON message', async () => {
  const late = await connect('late');
  late.ws.send('not json');
  late.ws.send(JSON.stringify({ type: 'hello' }));
  late.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
  await late.barrier();
  expect(late.types()).toEqual(['status']);
  const res = await postJson(sim, '/prompt', { prompt: samplerGraph(1), client_id: 'late' });
  await late.nextJson('executing', (d) => d.node === null && d.prompt_id === res.body.prompt_id);
  expect(late.types()).toContain('binary:1');
  expect(late.types()).not.toContain('binary:4');

  const early = await connect('early');
  early.ws.send('{broken');
  const reply = early.nextJson('feature_flags');
  early.ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: true } }));
  expect(await reply).toMatchObject({ supports_preview_metadata: true });
});

test('the /api prefix serves every route, including the websocket', async () => {
  const ws = await connect('api-user', { path: '/api/ws' });
  const res = await http(sim, 'POST', '/api/prompt', { prompt: imageGraph(), client_id: 'api-user' });
  expect(res.status).toBe(200);
  await ws.nextJson('executing', (d) => d.node === null);
  expect((await getJson(sim, '/api/prompt')).body).toEqual({ exec_info: { queue_remaining: 0 } });
  expect(Object.keys((await getJson(sim, '/api/history')).body)).toEqual([res.body.prompt_id]);
});
