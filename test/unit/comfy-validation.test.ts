// ComfyUI's validate_prompt read from /object_info JSON alone, as the bridge runs it for a real backend.
import { validatePrompt } from '../../src/comfy/validation.js';
import type { InputsHook } from '../../src/comfy/validation.js';
import { nodeSchema } from '../../src/comfy/object-info.js';
import type { ObjectInfo } from '../../src/comfy/object-info.js';

const info: ObjectInfo = {
  Load: { input: { required: { name: [['a.png', 'b.png'], { image_upload: true }] } }, output: ['IMAGE'], output_node: false },
  Pick: { input: { required: { choice: ['COMBO', { options: ['x', 'y'] }] } }, output: [['x', 'y']], output_node: false },
  Scale: { input: { required: { image: ['IMAGE'], factor: ['FLOAT', { min: 0.5, max: 4 }] } }, output: ['IMAGE'], output_node: false },
  Save: { input: { required: { images: ['IMAGE'] }, optional: { note: ['STRING', {}] } }, output: [], output_node: true },
};

function prompt(): Record<string, any> {
  return {
    '1': { class_type: 'Load', inputs: { name: 'a.png' } },
    '2': { class_type: 'Scale', inputs: { image: ['1', 0], factor: '2' } },
    '3': { class_type: 'Save', inputs: { images: ['2', 0] } },
  };
}

test('a valid prompt runs its outputs, with literals coerced in place', () => {
  const p = prompt();
  expect(validatePrompt(p, null, info)).toEqual({ ok: true, error: null, outputs: ['3'], nodeErrors: {} });
  expect(p['2'].inputs.factor).toBe(2);
});

test('the whole /object_info and a lookup of one class at a time give the same verdicts', () => {
  const p = prompt();
  p['2'].inputs.factor = 9;
  const lookup = (classType: string) => (Object.hasOwn(info, classType) ? info[classType] : undefined);
  expect(validatePrompt(prompt(), null, lookup)).toEqual(validatePrompt(prompt(), null, info));
  const outcome = validatePrompt(structuredClone(p), null, lookup);
  expect(outcome).toEqual(validatePrompt(structuredClone(p), null, info));
  expect(outcome.nodeErrors['2']!.errors[0]!.type).toBe('value_bigger_than_max');
});

test('class names are looked up as own keys only', () => {
  const p = { '1': { class_type: 'constructor', inputs: {} } };
  expect(validatePrompt(p, null, info).error).toEqual({
    type: 'invalid_prompt',
    message: 'Cannot execute because node constructor does not exist.',
    details: "Node ID '#1'",
    extra_info: {},
  });
});

test('a combo output links to any input, as a list RETURN_TYPE does', () => {
  expect(nodeSchema('Pick', info.Pick)!.returnTypes).toEqual(['*']);
  const p = { '1': { class_type: 'Pick', inputs: { choice: 'x' } }, '2': { class_type: 'Save', inputs: { images: ['1', 0] } } };
  expect(validatePrompt(p, null, info).ok).toBe(true);
});

test('VALIDATE_INPUTS hooks replace the combo check of their inputs and report per input', () => {
  const onlyB: InputsHook = (schema) => (schema.name === 'Load' ? { args: ['name'], check: (args) => (args.name === 'b.png' ? true : `Invalid image file: ${args.name}`) } : undefined);
  const p = prompt();
  p['1'].inputs.name = 'c.png';
  // Without the hook the list decides; with it, only the hook does.
  expect(validatePrompt(structuredClone(p), null, info).nodeErrors['1']!.errors[0]!.type).toBe('value_not_in_list');
  expect(validatePrompt(structuredClone(p), null, info, onlyB).nodeErrors['1']!.errors).toEqual([
    { type: 'custom_validation_failed', message: 'Custom validation failed for node', details: 'name - Invalid image file: c.png', extra_info: { input_name: 'name' } },
  ]);
  p['1'].inputs.name = 'b.png';
  expect(validatePrompt(p, null, info, onlyB).ok).toBe(true);
});

test('a hook argument fed by a link is a missing positional argument, as in Python', () => {
  const hook: InputsHook = (schema) => (schema.name === 'Scale' ? { args: ['image'], check: () => true } : undefined);
  const outcome = validatePrompt(prompt(), null, info, hook);
  expect(outcome.ok).toBe(false);
  // Raised while Save checks its input node, so it is charged to that node.
  expect(outcome.nodeErrors['2']!.errors[0]).toMatchObject({
    type: 'exception_during_inner_validation',
    details: "Scale.VALIDATE_INPUTS() missing 1 required positional argument: 'image'",
    extra_info: { exception_type: 'TypeError', linked_node: ['2', 0] },
  });
});
