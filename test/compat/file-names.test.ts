// Output file references carry their backend's tag in the subfolder, and /view reads it back.
import { backendTag, isBackendTag, tagNodeOutput, tagOutputs, tagSubfolder, untagSubfolder } from '../../src/compat/file-names.js';

test('a backend tag is short, stable, and differs between backends', () => {
  const a = backendTag('http://127.0.0.1:8188');
  expect(a).toMatch(/^backend-[0-9a-f]{8}$/);
  expect(backendTag('http://127.0.0.1:8188')).toBe(a);
  expect(backendTag('http://127.0.0.1:8189')).not.toBe(a);
  expect(isBackendTag(a)).toBe(true);
  expect(isBackendTag('backend-xyz')).toBe(false);
});

test('tagging and untagging a subfolder are inverse', () => {
  const tag = backendTag('http://gpu-1:8188');
  for (const sub of ['', 'bridge', 'bridge/sub/dir']) {
    expect(untagSubfolder(tagSubfolder(sub, tag))).toEqual({ tag, subfolder: sub });
  }
  expect(untagSubfolder('')).toBeUndefined();
  expect(untagSubfolder('clipspace')).toBeUndefined();
  expect(untagSubfolder('sub/backend-0123abcd')).toBeUndefined();
});

test('every file reference in an output is tagged, whatever its key; other values are kept', () => {
  const output = {
    images: [{ filename: 'a.png', subfolder: '', type: 'output' }, { filename: 'b.png', subfolder: 'x', type: 'temp' }],
    gifs: [{ filename: 'c.gif', type: 'output', format: 'image/gif' }],
    animated: [false],
    text: ['hello'],
    custom: [{ filename: 'd.glb', subfolder: '3d', type: 'output', extra: 1 }],
  };
  expect(tagNodeOutput(output, 'backend-00000001')).toEqual({
    images: [{ filename: 'a.png', subfolder: 'backend-00000001', type: 'output' }, { filename: 'b.png', subfolder: 'backend-00000001/x', type: 'temp' }],
    gifs: [{ filename: 'c.gif', subfolder: 'backend-00000001', type: 'output', format: 'image/gif' }],
    animated: [false],
    text: ['hello'],
    custom: [{ filename: 'd.glb', subfolder: 'backend-00000001/3d', type: 'output', extra: 1 }],
  });
  expect(output.images[0].subfolder).toBe('');
  expect(tagNodeOutput(null, 'backend-00000001')).toBeNull();
  expect(tagOutputs({ '3': { images: [{ filename: 'a.png', subfolder: '', type: 'output' }] }, '4': null }, 'backend-00000002')).toEqual({
    '3': { images: [{ filename: 'a.png', subfolder: 'backend-00000002', type: 'output' }] },
    '4': null,
  });
});
