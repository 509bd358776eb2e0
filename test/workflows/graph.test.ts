import { isLink, readGraph } from '../../src/workflows/graph.js';

test('accepts an API-format graph', () => {
  const graph = { '1': { class_type: 'EmptyImage', inputs: { width: 8 }, _meta: { title: 'Blank' } } };
  expect(readGraph(graph)).toEqual({ ok: true, graph });
});

test.each([[[]], ['text'], [null]])('refuses %p, which is not an object of nodes', (value) => {
  expect(readGraph(value)).toEqual({
    ok: false,
    problems: ['must be a JSON object of nodes in ComfyUI API format (use "Export (API)")'],
  });
});

test('refuses a graph without nodes', () => {
  expect(readGraph({})).toEqual({ ok: false, problems: ['has no nodes'] });
});

test('names every malformed node', () => {
  expect(
    readGraph({
      '1': 'EmptyImage',
      '2': { inputs: {} },
      '3': { class_type: 'ImageInvert' },
      '4': { class_type: 'SaveImage', inputs: {}, _meta: 'x' },
      '5': { class_type: 'SaveImage', inputs: {}, _meta: { title: 5 } },
    }),
  ).toEqual({
    ok: false,
    problems: [
      'node 1 must be an object with class_type and inputs',
      'node 2 has no class_type (is this a UI-format workflow? export it with "Export (API)")',
      'node 3 must have an "inputs" object',
      'node 4: _meta must be an object',
      'node 5: _meta.title must be a string',
    ],
  });
});

test('isLink recognises [nodeId, outputIndex]', () => {
  expect(isLink(['4', 1])).toBe(true);
  expect(isLink([4, 1])).toBe(false);
  expect(isLink(['4', 1, 2])).toBe(false);
  expect(isLink('4')).toBe(false);
});
