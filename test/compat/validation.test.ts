// POST /prompt checks a prompt before it is queued, with ComfyUI's own 400 bodies: a backend
// given the same prompt answers the same. Nothing rejected reaches a backend.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { ComfyWs, backendsUp, imageGraph, post, startDoor, startSims } from './harness.js';
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

const received = () => sims.reduce((n, s) => n + s.receivedPrompts().length, 0);

/** The door's answer, and the answer of a backend asked directly (the reference). */
async function both(body: Record<string, unknown>): Promise<{ door: { status: number; body: any }; comfy: { status: number; body: any } }> {
  const before = received();
  const door = await post(`${bridge.door}/prompt`, body);
  if (door.status === 400) expect(received()).toBe(before);
  const comfy = await post(`${sims[0].url}/prompt`, body);
  return { door, comfy };
}

function withNode(id: string, node: Record<string, unknown>): Record<string, any> {
  return { ...imageGraph(), [id]: node };
}

/** The image graph without its PreviewImage: SaveImage is the only output. */
function saveOnly(): Record<string, any> {
  const graph = imageGraph();
  delete graph['4'];
  return graph;
}

const cases: [string, Record<string, any>, string][] = [
  ['an unknown class', withNode('9', { class_type: 'NoSuchNode', inputs: {} }), 'invalid_prompt'],
  ['a node without class_type', withNode('9', { inputs: {} }), 'invalid_prompt'],
  ['no output node', { '1': imageGraph()['1'], '2': imageGraph()['2'] }, 'prompt_no_outputs'],
  ['a value below min', { ...imageGraph(), '1': { class_type: 'EmptyImage', inputs: { width: 0, height: 32, batch_size: 1, color: 0 } } }, 'prompt_outputs_failed_validation'],
  ['a value above max', { ...imageGraph(), '1': { class_type: 'EmptyImage', inputs: { width: 99999, height: 32, batch_size: 1, color: 0 } } }, 'prompt_outputs_failed_validation'],
  ['a literal of the wrong type', { ...imageGraph(), '1': { class_type: 'EmptyImage', inputs: { width: 'wide', height: 32, batch_size: 1, color: 0 } } }, 'prompt_outputs_failed_validation'],
  ['a missing required input', { ...imageGraph(), '1': { class_type: 'EmptyImage', inputs: { height: 32, batch_size: 1, color: 0 } } }, 'prompt_outputs_failed_validation'],
  ['a bad link', { ...saveOnly(), '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0, 1] } } }, 'prompt_outputs_failed_validation'],
  ['a link to a missing node', { ...saveOnly(), '2': { class_type: 'ImageInvert', inputs: { image: ['77', 0] } } }, 'prompt_outputs_failed_validation'],
  [
    'a combo value the backend lacks',
    {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'missing.safetensors' } },
      '2': { class_type: 'CLIPTextEncode', inputs: { text: 'x', clip: ['1', 1] } },
      '3': { class_type: 'PreviewAny', inputs: { source: ['2', 0] } },
    },
    'prompt_outputs_failed_validation',
  ],
  ['a LoadImage file nobody has', { '1': { class_type: 'LoadImage', inputs: { image: 'nowhere.png' } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } }, 'prompt_outputs_failed_validation'],
];

test.each(cases)('%s is refused before queueing, exactly as ComfyUI refuses it', async (_name, prompt, type) => {
  const { door, comfy } = await both({ prompt, client_id: 'validation' });
  expect(door.status).toBe(400);
  expect(door.body.error.type).toBe(type);
  expect(door.body).toEqual(comfy.body);
});

test('node_errors carry ComfyUI\'s reasons', async () => {
  const { door } = await both({ prompt: { ...imageGraph(), '1': { class_type: 'EmptyImage', inputs: { width: 0, height: 32, batch_size: 1, color: 0 } } } });
  expect(door.body.node_errors['1']).toEqual({
    class_type: 'EmptyImage',
    dependent_outputs: ['3', '4'],
    errors: [
      {
        type: 'value_smaller_than_min',
        message: 'Value 0 smaller than min of 1',
        details: 'width',
        extra_info: { input_name: 'width', input_config: ['INT', expect.objectContaining({ min: 1 })], received_value: 0 },
      },
    ],
  });
});

test('a prompt with some outputs invalid is accepted with node_errors; only the valid outputs run', async () => {
  const ws = await ComfyWs.connect(bridge, 'partial-client');
  const prompt = imageGraph(5150, 'door/partial');
  delete prompt['3'].inputs.filename_prefix;
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt, client_id: 'partial-client', prompt_id: promptId });
  expect(res.status).toBe(200);
  expect(res.body.node_errors['3'].errors[0].type).toBe('required_input_missing');
  await ws.done(promptId);
  const sent = sims.flatMap((s) => s.receivedPrompts()).find((p) => p.promptId === promptId)!;
  expect(Object.keys(sent.prompt).sort()).toEqual(['1', '4']);
  const executed = ws.messagesOf(promptId).filter((m) => m.type === 'executed');
  expect(executed.map((m) => m.data.node)).toEqual(['4']);
  await ws.close();
});

test('partial_execution_targets runs only the named outputs', async () => {
  const ws = await ComfyWs.connect(bridge, 'targets-client');
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt: imageGraph(6160, 'door/targets'), client_id: 'targets-client', prompt_id: promptId, partial_execution_targets: ['3'] });
  expect(res.status).toBe(200);
  await ws.done(promptId);
  const executed = ws.messagesOf(promptId).filter((m) => m.type === 'executed');
  expect(executed.map((m) => m.data.node)).toEqual(['3']);
  await ws.close();
});

test('prompt_id must be a canonical uuid and new; the body must be JSON with a prompt', async () => {
  for (const bad of ['not-a-uuid', 'AF1B6E8F-7473-4737-A2C9-2A933B5C2527', 42]) {
    const res = await post(`${bridge.door}/prompt`, { prompt: imageGraph(), prompt_id: bad });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.objectContaining({ type: 'invalid_prompt_id' }), node_errors: {} });
  }
  const id = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(1), prompt_id: id })).status).toBe(200);
  const again = await post(`${bridge.door}/prompt`, { prompt: imageGraph(2), prompt_id: id });
  expect(again.status).toBe(400);
  expect(again.body.error.type).toBe('invalid_prompt_id');

  const notJson = await post(`${bridge.door}/prompt`, '{"prompt": ');
  expect(notJson.status).toBe(400);
  expect(notJson.body).toEqual({ error: expect.objectContaining({ type: 'invalid_prompt', message: 'Invalid JSON' }), node_errors: {} });
  const noPrompt = await post(`${bridge.door}/prompt`, { client_id: 'x' });
  expect(noPrompt.status).toBe(400);
  expect(noPrompt.body).toEqual({ error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} }, node_errors: {} });
});

test('number: the counter advances on every POST without one, front goes negative, an explicit number is kept', async () => {
  const first = await post(`${bridge.door}/prompt`, { prompt: imageGraph(11) });
  const failed = await post(`${bridge.door}/prompt`, { prompt: { x: { class_type: 'Nope', inputs: {} } } });
  expect(failed.status).toBe(400);
  const second = await post(`${bridge.door}/prompt`, { prompt: imageGraph(12) });
  expect(second.body.number).toBe(first.body.number + 2);
  const front = await post(`${bridge.door}/prompt`, { prompt: imageGraph(13), front: true });
  expect(front.body.number).toBe(-(first.body.number + 3));
  const explicit = await post(`${bridge.door}/prompt`, { prompt: imageGraph(14), number: 0.5 });
  expect(explicit.body.number).toBe(0.5);
  const after = await post(`${bridge.door}/prompt`, { prompt: imageGraph(15) });
  expect(after.body.number).toBe(first.body.number + 4);
});
