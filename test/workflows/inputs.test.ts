import { compareNodeIds } from '../../src/comfy/protocol.js';
import { exposedInputs, inferInputType, parseApiInput } from '../../src/workflows/inputs.js';
import { describe as describeWorkflow } from '../../src/workflows/index.js';
import { isFloatInput } from '../../src/workflows/float-inputs.js';
import type { PromptGraph } from '../../src/workflows/index.js';
import { sampleGraph } from './sample-graph.js';

describe('inferInputType', () => {
  test.each([
    ['a string', 'CLIPTextEncode', 'text', 'hello', 'str'],
    ['an empty string', 'CLIPTextEncode', 'text', '', 'str'],
    ['a boolean', 'CustomSwitch', 'enabled', false, 'bool'],
    ['an integral number', 'KSampler', 'steps', 20, 'int'],
    ['a negative integral number', 'CustomOffset', 'offset', -3, 'int'],
    ['a fractional number', 'CustomNode', 'amount', 0.25, 'float'],
    ['an integral cfg, which ComfyUI declares FLOAT', 'KSampler', 'cfg', 7, 'float'],
    ['an integral denoise', 'KSampler', 'denoise', 1, 'float'],
    ['an integral strength on any class', 'CustomLoraStack', 'strength', 1, 'float'],
    ['an integral sigma (ImageBlur)', 'ImageBlur', 'sigma', 1, 'float'],
    ['an integral blur_radius, which is INT', 'ImageBlur', 'blur_radius', 1, 'int'],
    ['an integral width on a percentage area', 'ConditioningSetAreaPercentage', 'width', 1, 'float'],
    ['an integral width elsewhere', 'EmptyImage', 'width', 512, 'int'],
    ['an integral start on a timestep range', 'ConditioningSetTimestepRange', 'start', 0, 'float'],
  ])('%s', (_, classType, input, value, expected) => {
    expect(inferInputType(classType, input, value)).toBe(expected);
  });

  test.each([
    ['a link', ['4', 1]],
    ['a list', [1, 2, 3]],
    ['an object', { __value__: [1] }],
    ['null', null],
    ['a missing value', undefined],
  ])('cannot type %s', (_, value) => {
    expect(inferInputType('KSampler', 'seed', value)).toBeUndefined();
  });
});

describe('isFloatInput', () => {
  test('knows the FLOAT inputs of common core nodes', () => {
    for (const input of ['cfg', 'denoise', 'strength', 'scale_by', 'sigma', 'guidance', 'megapixels', 'conditioning_to_strength', 'start_percent', 'end_percent', 'strength_model', 'strength_clip']) {
      expect(isFloatInput('AnyNode', input)).toBe(true);
    }
  });

  test('leaves INT inputs alone', () => {
    for (const input of ['seed', 'steps', 'width', 'height', 'batch_size', 'blur_radius', 'color']) {
      expect(isFloatInput('KSampler', input)).toBe(false);
    }
  });

  test('ignores names inherited from Object.prototype', () => {
    expect(isFloatInput('constructor', 'value')).toBe(false);
  });
});

test('parseApiInput tolerates whitespace, empty entries and repeats', () => {
  expect(parseApiInput(' text ,seed,, text ,')).toEqual(['text', 'seed']);
  expect(parseApiInput('')).toEqual([]);
});

test('compareNodeIds orders ids numerically', () => {
  expect(['10', '9', '10:2', '2', '1'].sort(compareNodeIds)).toEqual(['1', '2', '9', '10', '10:2']);
});

describe('exposedInputs', () => {
  test('lists inputs in node-id order, then apiinput order', () => {
    const reading = exposedInputs(sampleGraph());
    expect(reading.ok).toBe(true);
    if (!reading.ok) return;
    expect(reading.inputs.map((input) => input.key)).toEqual([
      '3/seed',
      '3/steps',
      '3/cfg',
      '3/denoise',
      '6/text',
      '9/enabled',
      '10/filename_prefix',
    ]);
    expect(reading.inputs[0]).toEqual({
      key: '3/seed',
      nodeId: '3',
      input: 'seed',
      type: 'int',
      title: 'Sampler',
      class: 'KSampler',
      default: 42,
    });
  });

  test('a graph without apiinput marks exposes nothing', () => {
    expect(exposedInputs({ '1': { class_type: 'EmptyImage', inputs: { width: 8 } } })).toEqual({ ok: true, inputs: [] });
  });

  test('names workflow node and input for every mark it cannot honour', () => {
    const graph: PromptGraph = {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8 }, _meta: { apiinput: 'width, widht' } },
      '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] }, _meta: { apiinput: 'image' } },
      '3': { class_type: 'CustomList', inputs: { items: { __value__: [1] }, sizes: [1, 2, 3], none: null } , _meta: { apiinput: 'items,sizes,none' } },
      '4': { class_type: 'SaveImage', inputs: { images: ['2', 0] }, _meta: { apiinput: 7 as unknown as string } },
    };
    expect(exposedInputs(graph)).toEqual({
      ok: false,
      problems: [
        'node 1 (EmptyImage): apiinput names "widht", which this node does not have (its inputs: width, height)',
        'node 2 (ImageInvert): apiinput names "image", which is linked to node 1; only inputs with a literal value can be exposed',
        'node 3 (CustomList): apiinput names "items", whose value is an object; only strings, numbers and booleans can be exposed',
        'node 3 (CustomList): apiinput names "sizes", whose value is a list; only strings, numbers and booleans can be exposed',
        'node 3 (CustomList): apiinput names "none", whose value is null; only strings, numbers and booleans can be exposed',
        'node 4 (SaveImage): _meta.apiinput must be a comma-separated string of input names',
      ],
    });
  });

  test('an input named like an Object.prototype member is not taken as present', () => {
    const graph: PromptGraph = { '1': { class_type: 'EmptyImage', inputs: {}, _meta: { apiinput: 'toString' } } };
    const reading = exposedInputs(graph);
    expect(reading.ok).toBe(false);
  });
});

describe('describe', () => {
  test('gives type, title, class and default of exposed inputs only, in node-id order', () => {
    const reading = exposedInputs(sampleGraph());
    if (!reading.ok) throw new Error(reading.problems.join('\n'));
    const description = describeWorkflow({ inputs: reading.inputs });
    expect(Object.keys(description)).toEqual([
      '3/seed',
      '3/steps',
      '3/cfg',
      '3/denoise',
      '6/text',
      '9/enabled',
      '10/filename_prefix',
    ]);
    expect(description).toEqual({
      '3/seed': { type: 'int', title: 'Sampler', class: 'KSampler', default: 42 },
      '3/steps': { type: 'int', title: 'Sampler', class: 'KSampler', default: 20 },
      '3/cfg': { type: 'float', title: 'Sampler', class: 'KSampler', default: 7 },
      '3/denoise': { type: 'float', title: 'Sampler', class: 'KSampler', default: 1 },
      '6/text': { type: 'str', title: 'CLIPTextEncode', class: 'CLIPTextEncode', default: 'a cat' },
      '9/enabled': { type: 'bool', title: 'Sharpen', class: 'CustomSwitch', default: true },
      '10/filename_prefix': { type: 'str', title: 'Save', class: 'SaveImage', default: 'bridge/test' },
    });
  });

  test('a workflow without exposed inputs describes as {}', () => {
    expect(describeWorkflow({ inputs: [] })).toEqual({});
  });
});
