// POST /prompt validation: error shapes, coercion, partial acceptance and numbering.
import type { ComfySimulator } from '../../src/sim/index.js';
import { events, finished, getJson, http, imageGraph, postJson, simEvent, sleepGraph, startSim } from './helpers.js';

let sim: ComfySimulator;

beforeEach(async () => {
  sim = await startSim();
});

afterEach(async () => {
  await sim.close();
});

const EMPTY_IMAGE_WIDTH = ['INT', { default: 512, min: 1, max: 16384, step: 1 }];

test('EmptyImage width 0 is value_smaller_than_min, charged to every dependent output', async () => {
  const graph = imageGraph();
  graph['1'].inputs.width = 0;
  const res = await postJson(sim, '/prompt', { prompt: graph });
  expect(res.status).toBe(400);
  expect(res.body).toEqual({
    error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} },
    node_errors: {
      '1': {
        errors: [
          {
            type: 'value_smaller_than_min',
            message: 'Value 0 smaller than min of 1',
            details: 'width',
            extra_info: { input_name: 'width', input_config: EMPTY_IMAGE_WIDTH, received_value: 0 },
          },
        ],
        dependent_outputs: ['3', '4'],
        class_type: 'EmptyImage',
      },
    },
  });
  expect(sim.stats.rejected).toBe(1);
});

test('graph-level errors: no prompt, missing class_type, unknown class, no outputs', async () => {
  const none = await postJson(sim, '/prompt', { client_id: 'x' });
  expect(none.status).toBe(400);
  expect(none.body).toEqual({
    error: { type: 'no_prompt', message: 'No prompt provided', details: 'No prompt provided', extra_info: {} },
    node_errors: {},
  });

  const missing = await postJson(sim, '/prompt', { prompt: { '1': { class_type: 'PreviewAny', inputs: { source: 'a' } }, '2': { inputs: {} } } });
  expect(missing.body.error).toEqual({
    type: 'invalid_prompt',
    message: 'Cannot execute because a node is missing the class_type property.',
    details: "Node ID '#2'",
    extra_info: {},
  });

  const unknown = await postJson(sim, '/prompt', { prompt: { '7': { class_type: 'MadeUpNode', inputs: {} } } });
  expect(unknown.status).toBe(400);
  expect(unknown.body.error).toMatchObject({ type: 'invalid_prompt', message: 'Cannot execute because node MadeUpNode does not exist.', details: "Node ID '#7'" });

  const noOutputs = await postJson(sim, '/prompt', { prompt: { '1': { class_type: 'EmptyImage', inputs: {} } } });
  expect(noOutputs.body).toEqual({
    error: { type: 'prompt_no_outputs', message: 'Prompt has no outputs', details: '', extra_info: {} },
    node_errors: {},
  });
});

test('per-input reasons carry ComfyUI messages and extra_info', async () => {
  const res = await postJson(sim, '/prompt', {
    prompt: {
      '1': { class_type: 'EmptyImage', inputs: { width: 'wide', height: 99999, batch_size: 1, color: 0 } },
      '2': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'missing.ckpt' } },
      '3': { class_type: 'PreviewImage', inputs: { images: ['2', 0] } },
      '4': { class_type: 'PreviewImage', inputs: { images: ['1', 0, 'extra'] } },
      '5': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
      '6': { class_type: 'ImageInvert', inputs: { image: ['99', 0] } },
      '7': { class_type: 'SaveImage', inputs: { images: ['6', 0] } },
      '8': { class_type: 'LoadImage', inputs: { image: 'missing.png' } },
      '9': { class_type: 'PreviewImage', inputs: { images: ['8', 0] } },
      '10': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
      '11': { class_type: 'VAEDecode', inputs: { samples: ['10', 2], vae: ['10', 2] } },
      '12': { class_type: 'PreviewImage', inputs: { images: ['11', 0] } },
    },
  });
  expect(res.status).toBe(400);
  const errors = res.body.node_errors;
  const reasons = (id: string) => errors[id].errors.map((e: any) => e.type);

  expect(reasons('1')).toEqual(['invalid_input_type', 'value_bigger_than_max']);
  expect(errors['1'].errors[0]).toEqual({
    type: 'invalid_input_type',
    message: 'Failed to convert an input value to a INT value',
    details: "width, wide, invalid literal for int() with base 10: 'wide'",
    extra_info: {
      input_name: 'width',
      input_config: EMPTY_IMAGE_WIDTH,
      received_value: 'wide',
      exception_message: "invalid literal for int() with base 10: 'wide'",
    },
  });
  expect(errors['1'].errors[1].message).toBe('Value 99999 bigger than max of 16384');

  // A PreviewImage fed by a MODEL output: the link's type does not fit.
  expect(errors['3'].errors[0]).toMatchObject({
    type: 'return_type_mismatch',
    details: 'images, received_type(MODEL) mismatch input_type(IMAGE)',
    extra_info: { input_name: 'images', received_type: 'MODEL', linked_node: ['2', 0] },
  });
  expect(errors['4'].errors[0]).toMatchObject({ type: 'bad_linked_input', extra_info: { received_value: ['1', 0, 'extra'] } });

  // A link to a missing node is an exception while validating the upstream node.
  expect(errors['6'].errors[0]).toMatchObject({
    type: 'exception_during_inner_validation',
    message: 'Exception when validating inner node',
    details: "'99'",
    extra_info: { input_name: 'images', exception_type: 'KeyError', linked_node: ['6', 0] },
  });
  expect(errors['6'].dependent_outputs).toContain('7');
  expect(errors['8'].errors).toEqual([
    {
      type: 'custom_validation_failed',
      message: 'Custom validation failed for node',
      details: 'image - Invalid image file: missing.png',
      extra_info: { input_name: 'image' },
    },
  ]);
  expect(errors['11'].errors[0]).toMatchObject({ type: 'return_type_mismatch', extra_info: { input_name: 'samples', received_type: 'VAE' } });

  // ckpt_name is checked against this backend's checkpoints.
  const ckpt = await postJson(sim, '/prompt', {
    prompt: {
      '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'missing.ckpt' } },
      '2': { class_type: 'CLIPTextEncode', inputs: { text: 'x', clip: ['1', 1] } },
      '3': { class_type: 'PreviewAny', inputs: { source: ['2', 0] } },
    },
  });
  expect(ckpt.body.node_errors['1'].errors[0]).toEqual({
    type: 'value_not_in_list',
    message: 'Value not in list',
    details: "ckpt_name: 'missing.ckpt' not in ['sd15.safetensors', 'sdxl.safetensors']",
    extra_info: {
      input_name: 'ckpt_name',
      input_config: [['sd15.safetensors', 'sdxl.safetensors'], { tooltip: 'The name of the checkpoint (model) to load.' }],
      received_value: 'missing.ckpt',
    },
  });
  expect(ckpt.body.node_errors['1'].dependent_outputs).toEqual(['3']);
});

test('a prompt with some valid outputs is accepted with node_errors, and only valid outputs run', async () => {
  const graph = imageGraph();
  delete graph['3'].inputs.filename_prefix;
  const res = await postJson(sim, '/prompt', { prompt: graph, client_id: 'partial' });
  expect(res.status).toBe(200);
  expect(res.body.node_errors).toEqual({
    '3': {
      errors: [{ type: 'required_input_missing', message: 'Required input is missing', details: 'filename_prefix', extra_info: { input_name: 'filename_prefix' } }],
      dependent_outputs: ['3'],
      class_type: 'SaveImage',
    },
  });
  await finished(sim, res.body.prompt_id);
  const entry = (await getJson(sim, `/history/${res.body.prompt_id}`)).body[res.body.prompt_id];
  expect(entry.prompt[4]).toEqual(['4']);
  expect(Object.keys(entry.outputs)).toEqual(['4']);
});

test('partial_execution_targets restricts which outputs run', async () => {
  const res = await postJson(sim, '/prompt', { prompt: imageGraph(), partial_execution_targets: ['3'] });
  await finished(sim, res.body.prompt_id);
  const entry = (await getJson(sim, `/history/${res.body.prompt_id}`)).body[res.body.prompt_id];
  expect(entry.prompt[4]).toEqual(['3']);
  const none = await postJson(sim, '/prompt', { prompt: imageGraph(), partial_execution_targets: ['2'] });
  expect(none.body.error.type).toBe('prompt_no_outputs');
});

test('literals are coerced to the declared type and stored coerced', async () => {
  const graph = {
    '1': { class_type: 'EmptyImage', inputs: { width: '48', height: 16.9, batch_size: true, color: { __value__: 255 } } },
    '2': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: '0.5' } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 12 } },
  };
  const res = await postJson(sim, '/prompt', { prompt: graph });
  expect(res.status).toBe(200);
  await finished(sim, res.body.prompt_id);
  const entry = (await getJson(sim, `/history/${res.body.prompt_id}`)).body[res.body.prompt_id];
  expect(entry.prompt[2]['1'].inputs).toEqual({ width: 48, height: 16, batch_size: 1, color: 255 });
  expect(entry.prompt[2]['2'].inputs.sigma).toBe(0.5);
  expect(entry.prompt[2]['3'].inputs.filename_prefix).toBe('12');
  expect(entry.outputs['3'].images[0].filename).toBe('12_00001_.png');
  // What was received is kept as sent.
  expect(sim.receivedPrompts().at(-1)!.prompt['1'].inputs.width).toBe('48');
});

test('number: the counter advances on every POST without number, front goes negative, explicit numbers run in order', async () => {
  const blocker = await postJson(sim, '/prompt', { prompt: sleepGraph(10, 'blocker') });
  expect(blocker.body.number).toBe(0);
  await simEvent(sim, 'started', (id) => id === blocker.body.prompt_id);

  const failed = await postJson(sim, '/prompt', { prompt: { '1': { class_type: 'Nope', inputs: {} } } });
  expect(failed.status).toBe(400);
  const a = await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'a') });
  const b = await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'b'), front: true });
  const c = await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'c'), number: 0.5 });
  const d = await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'd') });
  expect([a.body.number, b.body.number, c.body.number, d.body.number]).toEqual([2, -3, 0.5, 4]);

  const queue = (await getJson(sim, '/queue')).body;
  expect(queue.queue_running.map((item: any[]) => item[1])).toEqual([blocker.body.prompt_id]);
  expect(queue.queue_pending.every((item: any[]) => item.length === 5)).toBe(true);
  const byNumber = [...queue.queue_pending].sort((x: any[], y: any[]) => x[0] - y[0]).map((item: any[]) => item[1]);
  expect(byNumber).toEqual([b.body.prompt_id, c.body.prompt_id, a.body.prompt_id, d.body.prompt_id]);
  expect(sim.queueRemaining).toBe(5);

  await postJson(sim, '/interrupt');
  await finished(sim, d.body.prompt_id);
  expect(events(sim).all('started')).toEqual([blocker.body.prompt_id, ...byNumber]);
});

test('0.3.64 accepts any prompt_id, duplicates included; the second run overwrites history', async () => {
  const first = await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'one'), prompt_id: 'same' });
  await finished(sim, 'same');
  const second = await postJson(sim, '/prompt', { prompt: sleepGraph(0, 'two'), prompt_id: 'same' });
  expect([first.body.prompt_id, second.body.prompt_id]).toEqual(['same', 'same']);
  await finished(sim, 'same', 2);
  const history = (await getJson(sim, '/history')).body;
  expect(Object.keys(history)).toEqual(['same']);
  expect(history.same.outputs['2'].text).toEqual(['two']);

  const numeric = await postJson(sim, '/prompt', { prompt: sleepGraph(0), prompt_id: 17 });
  expect(numeric.body.prompt_id).toBe('17');
});

test('bad request bodies never crash the server', async () => {
  const invalid = await http(sim, 'POST', '/prompt', '{not json');
  expect(invalid.status).toBe(500);
  expect(invalid.text).toBe('500 Internal Server Error\n\nServer got itself in trouble');
  expect(invalid.headers['content-type']).toMatch(/^text\/plain/);
  expect((await http(sim, 'POST', '/prompt', 'null')).status).toBe(500);
  expect((await postJson(sim, '/prompt', { prompt: [1, 2] })).status).toBe(500);
  expect((await postJson(sim, '/prompt', { prompt: {}, number: 'x' })).status).toBe(500);
  expect((await postJson(sim, '/prompt', { prompt: { '1': 'text' } })).body.error.type).toBe('invalid_prompt');
  expect((await postJson(sim, '/prompt', { prompt: { '1': { class_type: 'PreviewAny' } } })).body.node_errors['1'].errors[0].type).toBe(
    'exception_during_validation',
  );
  const cyclic = await postJson(sim, '/prompt', {
    prompt: {
      '1': { class_type: 'ImageInvert', inputs: { image: ['2', 0] } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
      '3': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
    },
  });
  expect(cyclic.status).toBe(400);
  expect((await getJson(sim, '/prompt')).body).toEqual({ exec_info: { queue_remaining: 0 } });
});
