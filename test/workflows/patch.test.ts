import { patchWorkflow, replaceInputValues } from '../../src/workflows/index.js';
import { sampleGraph } from './sample-graph.js';

describe('patchWorkflow', () => {
  test('sets values on a copy and leaves the original alone', () => {
    const graph = sampleGraph();
    const before = structuredClone(graph);
    const patched = patchWorkflow(graph, { '6/text': 'a dog', '3/seed': 7, '9/enabled': false });
    expect(patched['6']!.inputs.text).toBe('a dog');
    expect(patched['3']!.inputs.seed).toBe(7);
    expect(patched['9']!.inputs.enabled).toBe(false);
    expect(patched['3']!.inputs.steps).toBe(20);
    expect(graph).toEqual(before);
    expect(patched['3']!.inputs.model).not.toBe(graph['3']!.inputs.model);
  });

  test('works on a frozen graph, as the catalog keeps them', () => {
    const graph = sampleGraph();
    for (const node of Object.values(graph)) Object.freeze(node.inputs);
    const patched = patchWorkflow(Object.freeze(graph), { '6/text': 'a dog' });
    expect(patched['6']!.inputs.text).toBe('a dog');
    expect(graph['6']!.inputs.text).toBe('a cat');
  });

  test('no values gives an equal copy', () => {
    const graph = sampleGraph();
    const patched = patchWorkflow(graph, {});
    expect(patched).toEqual(graph);
    expect(patched).not.toBe(graph);
  });

  test.each(['6/nope', '99/text', 'text', '6/', '/text', '__proto__/text'])('refuses key %s that names no node input', (key) => {
    expect(() => patchWorkflow(sampleGraph(), { [key]: 'x' })).toThrow(`cannot patch "${key}"`);
  });
});

describe('replaceInputValues', () => {
  test('replaces string inputs found in the mapping, on a copy', () => {
    const graph = {
      '1': { class_type: 'LoadImage', inputs: { image: 'up-1.png' } },
      '2': { class_type: 'LoadImage', inputs: { image: 'up-2.png' } },
      '3': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: 1.0 } },
      '4': { class_type: 'CLIPTextEncode', inputs: { text: 'up-1.png as text', clip: ['9', 1] } },
    };
    const before = structuredClone(graph);
    const replaced = replaceInputValues(graph, { 'up-1.png': 'up-1 (1).png', '1': 'never' });
    expect(replaced).toEqual({
      '1': { class_type: 'LoadImage', inputs: { image: 'up-1 (1).png' } },
      '2': { class_type: 'LoadImage', inputs: { image: 'up-2.png' } },
      '3': { class_type: 'ImageBlur', inputs: { image: ['1', 0], blur_radius: 1, sigma: 1.0 } },
      '4': { class_type: 'CLIPTextEncode', inputs: { text: 'up-1.png as text', clip: ['9', 1] } },
    });
    expect(graph).toEqual(before);
  });

  test('ignores names inherited from Object.prototype', () => {
    const graph = { '1': { class_type: 'LoadImage', inputs: { image: 'constructor' } } };
    expect(replaceInputValues(graph, {})).toEqual(graph);
  });
});
