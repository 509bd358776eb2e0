// Failure controls: kill, restart, stalled events, hangs, speed; plus the info endpoints.
import { once } from 'node:events';
import { request } from 'undici';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { encodeSolidPng } from '../../src/sim/png.js';
import { finished, getJson, imageGraph, postJson, simEvent, sleepGraph, startSim, WsClient } from './helpers.js';

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

test('kill() drops every connection at once; restart() comes back empty on the same port', async () => {
  const form = new FormData();
  form.set('image', new Blob([encodeSolidPng({ width: 4, height: 4, rgb: [1, 2, 3] }).toBuffer()]), 'kept.png');
  await fetch(`${sim.url}/upload/image`, { method: 'POST', body: form });
  const done = await postJson(sim, '/prompt', { prompt: imageGraph() });
  await finished(sim, done.body.prompt_id);
  const preview = (await getJson(sim, `/history/${done.body.prompt_id}`)).body[done.body.prompt_id].outputs['4'].images[0];

  const ws = await connect('victim');
  const running = await postJson(sim, '/prompt', { prompt: sleepGraph(10), client_id: 'victim' });
  await simEvent(sim, 'started', (id) => id === running.body.prompt_id);
  await postJson(sim, '/prompt', { prompt: sleepGraph(0) });
  sim.hang(true);
  const held = request(`${sim.url}/queue`).then(
    () => 'answered',
    () => 'dropped',
  );
  await simEvent(sim, 'request', (r: { path: string; held: boolean }) => r.path === '/queue' && r.held);

  const port = sim.port;
  sim.kill();
  expect(await ws.closed).toBe(1006);
  expect(await held).toBe('dropped');
  expect(sim.queueRemaining).toBe(0);
  await expect(fetch(`${sim.url}/prompt`)).rejects.toThrow();

  await sim.restart();
  expect(sim.port).toBe(port);
  expect((await getJson(sim, '/queue')).body).toEqual({ queue_running: [], queue_pending: [] });
  expect((await getJson(sim, '/history')).body).toEqual({});
  expect((await getJson(sim, `/history/${running.body.prompt_id}`)).body).toEqual({});
  // The counter restarts, temp/ is emptied, input/ and output/ survive.
  expect((await postJson(sim, '/prompt', { prompt: sleepGraph(0) })).body.number).toBe(0);
  expect((await getJson(sim, `/view?filename=${preview.filename}&type=temp`)).status).toBe(404);
  expect((await getJson(sim, '/view?filename=kept.png&type=input')).status).toBe(200);
  expect((await getJson(sim, '/view?filename=inv_00001_.png&subfolder=bridge/sub')).status).toBe(200);
  expect(sim.inputFiles()).toEqual(['kept.png']);

  const fresh = await connect('victim');
  expect(fresh.json()[0]).toEqual({ type: 'status', data: { status: { exec_info: { queue_remaining: 0 } }, sid: 'victim' } });
  expect(sim.stats.wsConnections).toBe(2);
});

test('restart() after close() also works, and close() resolves with sockets gone', async () => {
  const ws = await connect('graceful');
  await sim.close();
  expect(await ws.closed).toBe(1001);
  await sim.restart();
  expect((await getJson(sim, '/prompt')).status).toBe(200);
});

test('stallEvents keeps sockets open but silent while prompts still run and history is written', async () => {
  const ws = await connect('stalled');
  sim.stallEvents(true);
  const res = await postJson(sim, '/prompt', { prompt: imageGraph(), client_id: 'stalled' });
  await finished(sim, res.body.prompt_id);
  await ws.barrier();
  expect(ws.types()).toEqual(['status']);
  expect(ws.ws.readyState).toBe(ws.ws.OPEN);
  expect(Object.keys((await getJson(sim, `/history/${res.body.prompt_id}`)).body)).toEqual([res.body.prompt_id]);

  // New sockets get nothing either, not even the greeting.
  const other = new WebSocket(`${sim.url.replace('http', 'ws')}/ws?clientId=later`);
  const otherFrames: unknown[] = [];
  other.on('message', (data) => otherFrames.push(data));
  await once(other, 'open');
  expect(await simEvent(sim, 'ws-connect', (sid) => sid === 'later')).toBe('later');
  const pong = once(other, 'pong');
  other.ping();
  await pong;
  expect(otherFrames).toEqual([]);
  other.close();

  sim.stallEvents(false);
  const next = await postJson(sim, '/prompt', { prompt: imageGraph(7), client_id: 'stalled' });
  await ws.nextJson('executing', (d) => d.node === null && d.prompt_id === next.body.prompt_id);
});

test('hang holds HTTP requests and freezes the worker; turning it off answers them and resumes', async () => {
  const ws = await connect('hung');
  const res = await postJson(sim, '/prompt', { prompt: sleepGraph(0.3), client_id: 'hung' });
  await ws.nextJson('progress', (d) => d.prompt_id === res.body.prompt_id);
  sim.hang(true);
  const progressAtHang = ws.json().filter((m) => m.type === 'progress').length;

  // A client with a short timeout gets no answer at all.
  await expect(fetch(`${sim.url}/prompt`, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
  const held = request(`${sim.url}/queue`);
  await simEvent(sim, 'request', (r: { path: string; held: boolean }) => r.path === '/queue' && r.held);
  await ws.barrier();
  expect(ws.json().filter((m) => m.type === 'progress').length).toBe(progressAtHang);
  expect(sim.runningPromptId).toBe(res.body.prompt_id);

  sim.hang(false);
  const answer = await held;
  expect(answer.statusCode).toBe(200);
  expect((await answer.body.json()) as any).toMatchObject({ queue_running: [[0, res.body.prompt_id, expect.anything(), expect.anything(), ['2']]] });
  expect((await finished(sim, res.body.prompt_id)).status).toBe('success');
});

test('speed divides simulated durations', async () => {
  await sim.close();
  sim = await startSim({ stepMs: 200, speed: 1000 });
  const started = performance.now();
  const res = await postJson(sim, '/prompt', {
    prompt: {
      '1': { class_type: 'TestSleep', inputs: { value: 1, seconds: 5 } },
      '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
    },
  });
  await finished(sim, res.body.prompt_id);
  expect(performance.now() - started).toBeLessThan(2500);
  sim.setSpeed(0);
  const out = (await getJson(sim, `/history/${res.body.prompt_id}`)).body[res.body.prompt_id].outputs;
  expect(out['2']).toEqual({ text: ['1'] });
});

test('info endpoints describe a CPU ComfyUI 0.3.64 with this backend\'s models and nodes', async () => {
  await sim.close();
  sim = await startSim({ checkpoints: ['only.safetensors'], version: '0.3.60', name: 'info-sim' });
  const stats = (await getJson(sim, '/system_stats')).body;
  expect(stats.system).toMatchObject({ os: 'posix', comfyui_version: '0.3.60', embedded_python: false, pytorch_version: expect.any(String) });
  expect(stats.system.argv).toContain('info-sim');
  expect(stats.devices).toEqual([
    expect.objectContaining({ name: 'cpu', type: 'cpu', index: null, vram_total: stats.system.ram_total }),
  ]);
  expect((await getJson(sim, '/models')).body).toContain('checkpoints');
  expect((await getJson(sim, '/models/checkpoints')).body).toEqual(['only.safetensors']);
  expect((await getJson(sim, '/models/loras')).body).toEqual([]);
  expect((await getJson(sim, '/models/nope')).status).toBe(404);
  expect((await getJson(sim, '/embeddings')).body).toEqual([]);

  const all = (await getJson(sim, '/object_info')).body;
  expect(Object.keys(all)).toHaveLength(16);
  expect(all.SaveImage).toMatchObject({ output_node: true, output: [], category: 'image', python_module: 'nodes' });
  expect(all.SaveImage.input_order).toEqual({ required: ['images', 'filename_prefix'], hidden: ['prompt', 'extra_pnginfo'] });
  expect(all.KSampler.input.required.cfg).toEqual(['FLOAT', expect.objectContaining({ min: 0, max: 100 })]);
  expect(all.CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual(['only.safetensors']);
  expect(all.TestSleep).toMatchObject({ output: ['*'], category: '_for_testing' });
  expect((await getJson(sim, '/object_info/KSampler')).body.KSampler.name).toBe('KSampler');
  expect((await getJson(sim, '/object_info/Nope')).body).toEqual({});
});
