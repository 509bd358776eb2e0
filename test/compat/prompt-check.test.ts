// Prompt checks against /object_info give the verdicts of ComfyUI's validate_prompt (src/comfy), the
// same ones the simulator gives from its own nodes and their VALIDATE_INPUTS hooks.
import { NodeRegistry } from '../../src/sim/nodes/registry.js';
import { FileStore } from '../../src/sim/files.js';
import { validatePrompt } from '../../src/sim/validation.js';
import { checkPrompt, normaliseSpec, outputNodes, restrictToOutputs } from '../../src/compat/validation.js';
import type { ObjectInfo } from '../../src/compat/validation.js';

const env = { checkpoints: ['sd15.safetensors'], files: new FileStore() };
const registry = new NodeRegistry();
const info = registry.allObjectInfo(env) as ObjectInfo;
const none = () => false;

function graph(): Record<string, any> {
  return {
    '1': { class_type: 'EmptyImage', inputs: { width: 64, height: 32, batch_size: 1, color: 0 } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'x' } },
    '4': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } },
  };
}

const variants: [string, (g: Record<string, any>) => void, unknown?][] = [
  ['valid', () => undefined],
  ['coerced literals', (g) => (g['1'].inputs.width = '64')],
  ['below min', (g) => (g['1'].inputs.width = 0)],
  ['not an int', (g) => (g['1'].inputs.height = 'tall')],
  ['missing input', (g) => delete g['3'].inputs.filename_prefix],
  ['bad link', (g) => (g['2'].inputs.image = ['1'])],
  ['missing link target', (g) => (g['2'].inputs.image = ['9', 0])],
  ['type mismatch', (g) => (g['2'].inputs.image = ['4', 0])],
  ['unknown class', (g) => (g['9'] = { class_type: 'Nope', inputs: {} })],
  ['no class_type', (g) => (g['9'] = { inputs: {} })],
  ['no outputs', (g) => (delete g['3'], delete g['4'])],
  ['partial targets', () => undefined, ['4']],
  ['combo not in list', (g) => (g['5'] = { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'other.safetensors' } }, (g['6'] = { class_type: 'PreviewAny', inputs: { source: ['5', 2] } }))],
];

test.each(variants)('%s: the same verdict as ComfyUI\'s validator with its own nodes', (_name, change, targets = null) => {
  const ours = graph();
  change(ours);
  const reference = structuredClone(ours);
  const expected = validatePrompt(reference, targets, registry, env);
  expect(checkPrompt(ours, targets, info, none)).toEqual(expected);
  // Literals are coerced in place, as ComfyUI stores them.
  expect(ours).toEqual(reference);
});

test('upload combos accept files the door stores, paths and annotations; others fail like LoadImage does', () => {
  const prompt = (image: string) => ({ '1': { class_type: 'LoadImage', inputs: { image } }, '2': { class_type: 'PreviewImage', inputs: { images: ['1', 0] } } });
  const stored = (v: string) => v === 'mine.png';
  expect(checkPrompt(prompt('mine.png'), null, info, stored).ok).toBe(true);
  expect(checkPrompt(prompt('sub/dir/any.png'), null, info, stored).ok).toBe(true);
  expect(checkPrompt(prompt('x.png [output]'), null, info, stored).ok).toBe(true);
  const missing = checkPrompt(prompt('nowhere.png'), null, info, stored);
  expect(missing.ok).toBe(false);
  expect(missing.nodeErrors['1'].errors[0]).toEqual({
    type: 'custom_validation_failed',
    message: 'Custom validation failed for node',
    details: 'image - Invalid image file: nowhere.png',
    extra_info: { input_name: 'image' },
  });
});

test('newer servers\' COMBO specs are read as combos', () => {
  expect(normaliseSpec(['COMBO', { options: ['a', 'b'], default: 'a' }])).toEqual([['a', 'b'], { options: ['a', 'b'], default: 'a' }]);
  expect(normaliseSpec(['INT'])).toEqual(['INT', {}]);
  expect(normaliseSpec('INT')).toBeUndefined();
  const combo: ObjectInfo = {
    Pick: { input: { required: { choice: ['COMBO', { options: ['a', 'b'] }] } }, output: [], output_node: true },
  };
  const bad = checkPrompt({ '1': { class_type: 'Pick', inputs: { choice: 'c' } } }, null, combo, none);
  expect(bad.nodeErrors['1'].errors[0].type).toBe('value_not_in_list');
  expect(checkPrompt({ '1': { class_type: 'Pick', inputs: { choice: 'b' } } }, null, combo, none).ok).toBe(true);
});

test('targets of the wrong type are a 400, not a crash', () => {
  const outcome = checkPrompt(graph(), 5, info, none);
  expect(outcome.ok).toBe(false);
  expect(outcome.error!.type).toBe('invalid_prompt');
});

test('output nodes, and the part of a prompt some outputs need', () => {
  const g = graph();
  g['7'] = { class_type: 'EmptyImage', inputs: {} };
  expect(outputNodes(g, info)).toEqual(['3', '4']);
  expect(Object.keys(restrictToOutputs(g, ['4']))).toEqual(['1', '4']);
  expect(Object.keys(restrictToOutputs(g, ['3']))).toEqual(['1', '2', '3']);
  expect(restrictToOutputs(g, [])).toEqual({});
});
