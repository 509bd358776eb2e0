import { MAX_NAME_CHARS, MAX_STRING_CHARS, graphLimits, hasProblems, isNameInput } from '../../src/comfy/graph-limits.js';

const graph = (inputs: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  prompt: { '9': { class_type: 'SaveImage', inputs } },
  ...extra,
});

test('an ordinary prompt has no problem', () => {
  expect(hasProblems(graphLimits(graph({ filename_prefix: 'ComfyUI', images: ['8', 0] }, { client_id: 'abc' })))).toBe(false);
});

test('names and prefixes are capped at 1,024 characters, other strings at 64 KB; every problem is listed', () => {
  const report = graphLimits({
    prompt: {
      '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'x'.repeat(MAX_NAME_CHARS + 1) } },
      '6': { class_type: 'CLIPTextEncode', inputs: { text: 'y'.repeat(MAX_NAME_CHARS + 1) } },
      '7': { class_type: 'CLIPTextEncode', inputs: { text: 'y'.repeat(MAX_STRING_CHARS + 1) } },
      '9': { class_type: 'SaveImage', inputs: { filename_prefix: 'p'.repeat(90_000) } },
    },
  });
  expect(Object.keys(report.nodeErrors).sort()).toEqual(['4', '7', '9']);
  expect(report.nodeErrors['9'].errors[0]).toMatchObject({ type: 'value_too_long', extra_info: { input_name: 'filename_prefix' } });
  expect(report.nodeErrors['9'].class_type).toBe('SaveImage');
});

test('a client_id over 256 characters is a problem', () => {
  expect(graphLimits(graph({}, { client_id: 'c'.repeat(257) })).problems[0]).toContain('client_id');
  expect(hasProblems(graphLimits(graph({}, { client_id: 'c'.repeat(256) })))).toBe(false);
});

test('long strings elsewhere (extra_data) are found', () => {
  expect(graphLimits(graph({}, { extra_data: { note: 'z'.repeat(MAX_STRING_CHARS + 1) } })).problems[0]).toContain('extra_data');
});

test('which inputs are names', () => {
  for (const n of ['ckpt_name', 'lora_name', 'vae_name', 'filename_prefix', 'image', 'unet_name']) expect(isNameInput(n)).toBe(true);
  for (const n of ['text', 'seed', 'positive']) expect(isNameInput(n)).toBe(false);
});
