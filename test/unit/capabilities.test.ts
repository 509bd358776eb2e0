// The capability filter: what a graph needs, which backend has it, why none can, the pool's union, pins.
import { canRun, describeBackend, missingByNode, requirementsOf, unionFolders, unionObjectInfo, whyUnrunnable } from '../../src/scheduler/capabilities.js';
import type { Pins } from '../../src/scheduler/capabilities.js';
import { parsePins } from '../../src/engine/pins.js';

const loader = (choices: string[]) => ({ input: { required: { ckpt_name: [choices, {}] } }, output: ['MODEL', 'CLIP', 'VAE'], output_node: false });
const sampler = { input: { required: { model: ['MODEL'], sampler_name: [['euler', 'dpmpp_2m'], {}] } }, output: ['LATENT'] };
const loadImage = { input: { required: { image: [['a.png', 'weights.pt'], { image_upload: true }] } }, output: ['IMAGE'] };
const save = { input: { required: { images: ['IMAGE'], filename_prefix: ['STRING', { default: 'x' }] } }, output: [], output_node: true };
const newCombo = { input: { required: { lora_name: ['COMBO', { options: ['detail.safetensors'] }] } }, output: ['MODEL'] };

const graph = {
  '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'sdxl.safetensors' } },
  '2': { class_type: 'KSampler', inputs: { model: ['1', 0], sampler_name: 'euler' } },
  '3': { class_type: 'LoadImage', inputs: { image: 'weights.pt' } },
  '4': { class_type: 'SaveImage', inputs: { images: ['3', 0], filename_prefix: 'out.ckpt' } },
};

const a = describeBackend({ CheckpointLoaderSimple: loader(['sd15.safetensors', 'sdxl.safetensors']), KSampler: sampler, LoadImage: loadImage, SaveImage: save });
const b = describeBackend({ CheckpointLoaderSimple: loader(['sd15.safetensors']), LoadImage: loadImage, SaveImage: save, LoraLoader: newCombo }, new Map([['checkpoints', ['sd15.safetensors']], ['loras', ['detail.safetensors']]]));
const id = (url: string, labels: string[] = []) => ({ url, labels });

describe('requirementsOf', () => {
  test('node classes, and model files from loader combos only (not uploads, not plain strings, not other combos)', () => {
    const req = requirementsOf(graph, a.objectInfo);
    expect(req.classes).toEqual(['CheckpointLoaderSimple', 'KSampler', 'LoadImage', 'SaveImage']);
    expect(req.models).toEqual([{ node: '1', classType: 'CheckpointLoaderSimple', input: 'ckpt_name', file: 'sdxl.safetensors' }]);
    expect(req.nodes.KSampler).toEqual(['2']);
  });

  test('a value a /models folder lists is a model file whatever its name, with its folder', () => {
    const req = requirementsOf({ '1': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'weird-name' } } }, a.objectInfo, (f) => (f === 'weird-name' ? 'checkpoints' : undefined));
    expect(req.models).toEqual([{ node: '1', classType: 'CheckpointLoaderSimple', input: 'ckpt_name', file: 'weird-name', folder: 'checkpoints' }]);
  });

  test('a class no backend describes: its *_name inputs naming weights count', () => {
    const req = requirementsOf({ '1': { class_type: 'UnknownLoader', inputs: { unet_name: 'flux.gguf', text: 'a.safetensors' } } }, a.objectInfo);
    expect(req.models.map((m) => m.file)).toEqual(['flux.gguf']);
  });

  test('newer servers\' ["COMBO", {options}] inputs are combos too', () => {
    const req = requirementsOf({ '1': { class_type: 'LoraLoader', inputs: { lora_name: 'detail.safetensors' } } }, b.objectInfo);
    expect(req.models.map((m) => m.file)).toEqual(['detail.safetensors']);
  });
});

describe('canRun', () => {
  const req = requirementsOf(graph, unionObjectInfo([a, b]));

  test('a backend with every class and model runs it; one lacking either does not, and says what it lacks', () => {
    expect(canRun(req, a, id('http://a')).ok).toBe(true);
    const v = canRun(req, b, id('http://b'));
    expect(v.ok).toBe(false);
    expect(v.classes).toEqual(['KSampler']);
    expect(v.models.map((m) => m.file)).toEqual(['sdxl.safetensors']);
  });

  test('a model found through /models/{folder} counts even when no combo lists it', () => {
    const c = describeBackend({ CheckpointLoaderSimple: loader([]), KSampler: sampler, LoadImage: loadImage, SaveImage: save }, new Map([['checkpoints', ['sdxl.safetensors']]]));
    expect(canRun(req, c, id('http://c')).ok).toBe(true);
  });

  test('a backend that has not described itself is judged by its pins only', () => {
    expect(canRun(req, undefined, id('http://x')).ok).toBe(true);
  });

  test('pins: a pinned workflow or model runs only on backends with a listed URL or label', () => {
    const pins: Pins = { workflows: new Map([['txt2img', ['sdxl']]]), models: new Map([['sdxl.safetensors', ['http://a']]]) };
    const wf = { ...req, workflow: 'txt2img' };
    expect(canRun(wf, a, id('http://a', ['sdxl']), pins).ok).toBe(true);
    const off = canRun(wf, a, id('http://a2', []), pins);
    expect(off.ok).toBe(false);
    expect(off.pins).toEqual(['workflow "txt2img" is pinned to sdxl', 'model sdxl.safetensors is pinned to http://a']);
    expect(canRun(req, a, id('http://a'), pins).ok).toBe(true);
  });
});

describe('whyUnrunnable', () => {
  test('what no backend has is named as such, with the nodes that need it', () => {
    const g = { '1': { class_type: 'FancyNode', inputs: {} }, '2': { class_type: 'CheckpointLoaderSimple', inputs: { ckpt_name: 'flux.safetensors' } } };
    const req = requirementsOf(g, unionObjectInfo([a, b]), (f) => (f === 'flux.safetensors' ? 'checkpoints' : undefined));
    const why = whyUnrunnable(req, [{ backend: 'http://a', verdict: canRun(req, a, id('http://a')) }, { backend: 'http://b', verdict: canRun(req, b, id('http://b')) }]);
    expect(why.problems).toEqual(['no backend has node class FancyNode', 'no backend has model file flux.safetensors (checkpoints)']);
    expect(why.missing.nodeClasses).toEqual([{ classType: 'FancyNode', nodes: ['1'] }]);
    expect(why.missing.models).toEqual([{ file: 'flux.safetensors', folder: 'checkpoints', nodes: [{ node: '2', classType: 'CheckpointLoaderSimple', input: 'ckpt_name' }] }]);
    expect([...missingByNode(why.missing).keys()].sort()).toEqual(['1', '2']);
  });

  test('parts on different backends: each backend with what it lacks', () => {
    const g = { '1': { class_type: 'KSampler', inputs: {} }, '2': { class_type: 'LoraLoader', inputs: { lora_name: 'detail.safetensors' } } };
    const req = requirementsOf(g, unionObjectInfo([a, b]));
    const why = whyUnrunnable(req, [{ backend: 'http://a', verdict: canRun(req, a, id('http://a')) }, { backend: 'http://b', verdict: canRun(req, b, id('http://b')) }]);
    expect(why.problems).toEqual(['http://a lacks node class LoraLoader and model file detail.safetensors', 'http://b lacks node class KSampler']);
    expect(why.missing.nodeClasses).toEqual([{ classType: 'KSampler', nodes: ['1'] }]);
  });
});

describe('the pool\'s union', () => {
  test('every class of any backend; combos offer every backend\'s choices; the inputs are not changed', () => {
    const u = unionObjectInfo([b, a])!;
    expect(Object.keys(u).sort()).toEqual(['CheckpointLoaderSimple', 'KSampler', 'LoadImage', 'LoraLoader', 'SaveImage']);
    expect((u.CheckpointLoaderSimple as any).input.required.ckpt_name[0]).toEqual(['sd15.safetensors', 'sdxl.safetensors']);
    expect((b.objectInfo.CheckpointLoaderSimple as any).input.required.ckpt_name[0]).toEqual(['sd15.safetensors']);
    expect(unionFolders([a, b]).get('loras')).toEqual(['detail.safetensors']);
  });
});

describe('ROUTING_FILE', () => {
  test('labels and URLs, every problem named', () => {
    const ok = parsePins({ workflows: { txt2img: ['sdxl', 'http://gpu1:8188/'] }, models: { 'a.safetensors': ['gpu2:8188'] } }, 'f');
    expect(ok.problems).toEqual([]);
    expect(ok.pins.workflows.get('txt2img')).toEqual(['sdxl', 'http://gpu1:8188']);
    expect(ok.pins.models.get('a.safetensors')).toEqual(['http://gpu2:8188']);
    const bad = parsePins({ workflow: {}, models: { x: [], y: ['no spaces allowed'] } }, 'f');
    expect(bad.problems).toHaveLength(3);
  });
});
