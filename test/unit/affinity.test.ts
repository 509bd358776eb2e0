// Model affinity: which models a backend probably holds, what loading one costs there, and how
// long a job's loaders ran.
import { LoaderClock, ModelAffinity, modelsOf } from '../../src/scheduler/affinity.js';

test('the models a prompt loads are its loader inputs that name model files', () => {
  const prompt = {
    '4': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sdxl.safetensors' } },
    '5': { class_type: 'LoraLoader', inputs: { lora_name: 'style.safetensors', model: ['4', 0], strength_model: 1 } },
    '6': { class_type: 'CLIPTextEncode', inputs: { text: 'a cat named x.ckpt', clip: ['4', 1] } },
    '7': { class_type: 'SaveImage', inputs: { filename_prefix: 'out' } },
  };
  expect(modelsOf(prompt)).toEqual({ models: ['sdxl.safetensors', 'style.safetensors'], loaders: ['4', '5'] });
});

test('a backend holds the models of its last prompts, as many as it was seen to keep, and learns their load cost', () => {
  const a = new ModelAffinity();
  expect(a.holds('b1', 'm1')).toBe(false);
  expect(a.switchSeconds('b1', ['m1'])).toBe(0); // nothing learned anywhere yet
  a.ran('b1', ['m1'], 3); // loaded: 3 s
  expect(a.holds('b1', 'm1')).toBe(true);
  expect(a.switchSeconds('b1', ['m2'])).toBeCloseTo(3); // unknown model: the mean of what is known
  a.ran('b1', ['m2'], 2);
  // It is assumed to keep one model until it shows it keeps more.
  expect(a.holds('b1', 'm1')).toBe(false);
  a.ran('b1', ['m1'], 0); // m1 was still loaded: it keeps at least two
  expect(a.keptBy('b1')).toBe(2);
  expect(a.held('b1')).toEqual(['m1', 'm2']);
  a.ran('b1', ['m3'], 3);
  a.ran('b1', ['m2'], 3); // m2 was two models back and had to be loaded: it keeps two
  expect(a.keptBy('b1')).toBe(2);
  expect(a.held('b1')).toEqual(['m2', 'm3']);
  expect(a.costOf('b1', 'm2')).toBeGreaterThan(2);
  a.forget('b1');
  expect(a.held('b1')).toEqual([]);
});

test('the loader clock counts the time between a loader\'s executing and the next one, and only for a run seen whole', () => {
  const clock = new LoaderClock(['4']);
  clock.observe('execution_start', {}, 0);
  clock.observe('executing', { node: '4' }, 1000);
  clock.observe('progress', { value: 1 }, 2000);
  clock.observe('executing', { node: '3' }, 3500);
  clock.observe('executing', { node: null }, 9000);
  expect(clock.seconds).toBeCloseTo(2.5);
  const midway = new LoaderClock(['4']);
  midway.observe('executing', { node: '4' }, 0);
  midway.observe('executing', { node: '3' }, 1000);
  expect(midway.seconds).toBeUndefined();
});
