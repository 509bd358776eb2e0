import { buildWorkflow, checkSubmission, checkValue, checkValues, constraintsFor, describe as describeWorkflow } from '../../src/workflows/index.js';
import type { ObjectInfo, PromptGraph, Workflow } from '../../src/workflows/index.js';

/** Schemas as ComfyUI's /object_info gives them, for the classes the graph below uses. */
const objectInfo: ObjectInfo = {
  KSampler: {
    input: {
      required: {
        model: ['MODEL'],
        seed: ['INT', { default: 0, min: 0, max: 0xffffffffffffffff, control_after_generate: true }],
        steps: ['INT', { default: 20, min: 1, max: 10000 }],
        cfg: ['FLOAT', { default: 8.0, min: 0.0, max: 100.0, step: 0.1, round: 0.01 }],
        sampler_name: [['euler', 'euler_ancestral', 'dpmpp_2m']],
        // Newer servers describe combos this way.
        scheduler: ['COMBO', { options: ['normal', 'karras'] }],
        denoise: ['FLOAT', { default: 1.0, min: 0.0, max: 1.0, step: 0.01 }],
      },
    },
    output_node: false,
  },
  EmptyLatentImage: {
    input: {
      required: {
        width: ['INT', { default: 512, min: 16, max: 16384, step: 8 }],
        height: ['INT', { default: 512, min: 16, max: 16384, step: 8 }],
      },
      optional: { batch_size: ['INT', { default: 1, min: 1, max: 4096 }] },
    },
  },
  LoadImage: { input: { required: { image: [['example.png', 'cat.png'], { image_upload: true }] } } },
  CLIPTextEncode: { input: { required: { text: ['STRING', { multiline: true }], clip: ['CLIP'] } } },
  PrimitiveBoolean: { input: { required: { value: ['BOOLEAN', { default: false }] } } },
  RemoteThing: { input: { required: { model: ['COMBO', { options: [], remote_combo: { route: '/x' } }] } } },
  ImageSharpen: { input: { required: { alpha: ['FLOAT', { default: 1.0, min: 0.0, max: 5.0, step: 0.01 }] } } },
  ImageScaleBy: { input: { required: { scale_by: ['FLOAT', { default: 1.0, min: 0.01, max: 8.0 }], upscale_method: [['nearest-exact', 'bilinear']] } } },
};

const graph: PromptGraph = {
  '1': { class_type: 'LoadImage', inputs: { image: 'example.png' }, _meta: { title: 'Input', apiinput: 'image' } },
  '2': { class_type: 'EmptyLatentImage', inputs: { width: 512, height: 512, batch_size: 1 }, _meta: { title: 'Size', apiinput: 'width,height,batch_size' } },
  '3': {
    class_type: 'KSampler',
    inputs: { seed: 42, steps: 20, cfg: 7, sampler_name: 'euler', scheduler: 'normal', denoise: 1, model: ['9', 0] },
    _meta: { title: 'Sampler', apiinput: 'seed,steps,cfg,sampler_name,scheduler,denoise' },
  },
  '4': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat', clip: ['9', 1] }, _meta: { title: 'Prompt', apiinput: 'text' } },
  '5': { class_type: 'PrimitiveBoolean', inputs: { value: true }, _meta: { apiinput: 'value' } },
  '6': { class_type: 'RemoteThing', inputs: { model: 'm1' }, _meta: { apiinput: 'model' } },
  // JSON cannot tell 2.0 from 2: the backend says FLOAT, so 2.5 must be accepted.
  '7': { class_type: 'ImageSharpen', inputs: { alpha: 2, image: ['1', 0] }, _meta: { apiinput: 'alpha' } },
  '10': { class_type: 'ImageScaleBy', inputs: { scale_by: 2, upscale_method: 'bilinear', image: ['1', 0] }, _meta: { apiinput: 'scale_by,upscale_method' } },
  '8': { class_type: 'UnknownCustomNode', inputs: { amount: 3 }, _meta: { apiinput: 'amount' } },
  '9': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sd15.safetensors' } },
};

function workflow(): Workflow {
  const reading = buildWorkflow('test', 'test.json', graph);
  if (!reading.ok) throw new Error(reading.problems.join('\n'));
  return reading.workflow;
}

describe('constraintsFor', () => {
  test('reads min, max and choices from /object_info, never step', () => {
    const c = constraintsFor(workflow(), objectInfo);
    expect(c['3/steps']).toEqual({ type: 'int', min: 1, max: 10000 });
    expect(c['3/seed']).toEqual({ type: 'int', min: 0, max: 0xffffffffffffffff });
    expect(c['3/cfg']).toEqual({ type: 'float', min: 0, max: 100 });
    expect(c['2/width']).toEqual({ type: 'int', min: 16, max: 16384 });
    expect(c['2/batch_size']).toEqual({ type: 'int', min: 1, max: 4096 });
    expect(c['3/sampler_name']).toEqual({ type: 'str', choices: ['euler', 'euler_ancestral', 'dpmpp_2m'] });
    expect(c['3/scheduler']).toEqual({ type: 'str', choices: ['normal', 'karras'] });
    expect(c['4/text']).toEqual({ type: 'str' });
    expect(c['5/value']).toEqual({ type: 'bool' });
  });

  test('takes FLOAT from the backend when the default looks like an int', () => {
    const c = constraintsFor(workflow(), objectInfo);
    expect(workflow().inputs.find((i) => i.key === '7/alpha')!.type).toBe('int');
    expect(c['7/alpha']).toEqual({ type: 'float', min: 0, max: 5 });
    expect(c['10/scale_by']).toEqual({ type: 'float', min: 0.01, max: 8 });
    expect(c['10/upscale_method']).toEqual({ type: 'str', choices: ['nearest-exact', 'bilinear'] });
  });

  test('offers no choices for file inputs or remote combos', () => {
    const c = constraintsFor(workflow(), objectInfo);
    expect(c['1/image']).toEqual({ type: 'str' });
    expect(c['6/model']).toEqual({ type: 'str' });
  });

  test('falls back to the types alone without /object_info or for classes it lacks', () => {
    const without = constraintsFor(workflow());
    for (const input of workflow().inputs) expect(without[input.key]).toEqual({ type: input.type });
    expect(constraintsFor(workflow(), objectInfo)['8/amount']).toEqual({ type: 'int' });
    expect(constraintsFor(workflow(), {})['3/steps']).toEqual({ type: 'int' });
  });

  test('ignores schemas it cannot read', () => {
    const broken: ObjectInfo = {
      KSampler: { input: { required: { steps: 'INT', seed: [], cfg: [42], denoise: ['FLOAT', { min: 'zero', max: null }] } } },
      EmptyLatentImage: 'nonsense',
      CLIPTextEncode: { input: null },
    };
    const c = constraintsFor(workflow(), broken);
    expect(c['3/steps']).toEqual({ type: 'int' });
    expect(c['3/seed']).toEqual({ type: 'int' });
    expect(c['3/cfg']).toEqual({ type: 'float' });
    expect(c['3/denoise']).toEqual({ type: 'float' });
    expect(c['2/width']).toEqual({ type: 'int' });
    expect(c['4/text']).toEqual({ type: 'str' });
  });
});

describe('checkValues', () => {
  const c = constraintsFor(workflow(), objectInfo);

  test('accepts values in range and offered choices, including the bounds', () => {
    expect(
      checkValues(c, { '3/steps': 1, '2/width': 16384, '3/cfg': 100, '3/denoise': 0, '3/sampler_name': 'dpmpp_2m', '3/scheduler': 'karras', '7/alpha': 2.5, '5/value': false }),
    ).toEqual([]);
  });

  test('does not hold values to the step', () => {
    expect(checkValues(c, { '2/width': 17, '3/cfg': 7.123 })).toEqual([]);
  });

  test('lists every problem, each naming its input', () => {
    expect(checkValues(c, { '3/steps': 100000000, '2/width': -1, '2/height': 1e8, '3/sampler_name': 'ddim', '3/scheduler': 'Karras', '3/denoise': 1.5 })).toEqual([
      '"3/steps" must be between 1 and 10000, got 100000000',
      '"2/width" must be between 16 and 16384, got -1',
      '"2/height" must be between 16 and 16384, got 100000000',
      '"3/sampler_name" must be one of "euler", "euler_ancestral", "dpmpp_2m", got string "ddim"',
      '"3/scheduler" must be one of "normal", "karras", got string "Karras"',
      '"3/denoise" must be between 0 and 1, got 1.5',
    ]);
  });

  test('checks the type before the range', () => {
    expect(checkValues(c, { '3/steps': 2.5, '3/sampler_name': 3 })).toEqual([
      '"3/steps" must be an int, got number 2.5',
      '"3/sampler_name" must be a string, got number 3',
    ]);
  });

  test('says min or max alone when only one is declared', () => {
    expect(checkValue({ type: 'int', min: 0 }, -3)).toBe('must be at least 0, got -3');
    expect(checkValue({ type: 'float', max: 1 }, 1.5)).toBe('must be at most 1, got 1.5');
  });

  test('does not list a long list of choices', () => {
    const choices = Array.from({ length: 30 }, (_, i) => `model-${i}.safetensors`);
    expect(checkValue({ type: 'str', choices }, 'other.safetensors')).toBe('must be one of the 30 choices GET /workflow-info lists, got string "other.safetensors"');
  });

  test('skips keys without a constraint', () => {
    expect(checkValues(c, { 'nope/x': 1 })).toEqual([]);
  });
});

describe('checkSubmission with /object_info', () => {
  test('reports range and choice problems together with the others, in body order', () => {
    const check = checkSubmission(workflow(), { workflow: 'test', '3/steps': 0, 'x/y': 1, '3/sampler_name': 'ddim', '4/text': 5 }, () => false, objectInfo);
    expect(check).toEqual({
      ok: false,
      problems: [
        '"3/steps" must be between 1 and 10000, got 0',
        expect.stringMatching(/^unknown input "x\/y"/),
        '"3/sampler_name" must be one of "euler", "euler_ancestral", "dpmpp_2m", got string "ddim"',
        '"4/text" must be a string, got number 5',
      ],
    });
  });

  test('accepts what the backend accepts', () => {
    expect(checkSubmission(workflow(), { '3/steps': 30, '7/alpha': 1.5 }, () => false, objectInfo)).toEqual({ ok: true, values: { '3/steps': 30, '7/alpha': 1.5 }, uploads: [] });
  });

  test('without /object_info, checks the types only', () => {
    expect(checkSubmission(workflow(), { '3/steps': 100000000, '3/sampler_name': 'ddim' }, () => false)).toMatchObject({ ok: true });
    expect(checkSubmission(workflow(), { '7/alpha': 1.5 }, () => false)).toEqual({ ok: false, problems: ['"7/alpha" must be an int, got number 1.5'] });
  });
});

describe('the workflow-info view', () => {
  test('shows min, max and choices next to type, title, class and default', () => {
    const view = describeWorkflow(workflow(), constraintsFor(workflow(), objectInfo));
    expect(view['3/steps']).toEqual({ type: 'int', title: 'Sampler', class: 'KSampler', default: 20, min: 1, max: 10000 });
    expect(view['3/sampler_name']).toEqual({ type: 'str', title: 'Sampler', class: 'KSampler', default: 'euler', choices: ['euler', 'euler_ancestral', 'dpmpp_2m'] });
    expect(view['7/alpha']).toEqual({ type: 'float', title: 'ImageSharpen', class: 'ImageSharpen', default: 2, min: 0, max: 5 });
    expect(view['4/text']).toEqual({ type: 'str', title: 'Prompt', class: 'CLIPTextEncode', default: 'a cat' });
    expect(Object.keys(view['3/steps']!)).toEqual(['type', 'title', 'class', 'default', 'min', 'max']);
  });

  test('does not advertise the built-in file name of a file input, which a submission may not use', () => {
    for (const view of [describeWorkflow(workflow()), describeWorkflow(workflow(), constraintsFor(workflow(), objectInfo))]) {
      expect(view['1/image']).toEqual({ type: 'str', title: 'Input', class: 'LoadImage' });
    }
  });

  test('without /object_info, shows the fields it always did', () => {
    const view = describeWorkflow(workflow(), constraintsFor(workflow()));
    expect(view['3/steps']).toEqual({ type: 'int', title: 'Sampler', class: 'KSampler', default: 20 });
    expect(view).toEqual(describeWorkflow(workflow()));
  });
});
