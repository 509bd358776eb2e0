// The Range header of asset content the bridge serves itself.
import { byteRange } from '../../src/v2/byte-range.js';

test('one range is served as asked, clipped to the content', () => {
  expect(byteRange('bytes=0-9', 100)).toEqual({ kind: 'part', start: 0, end: 9 });
  expect(byteRange('bytes=90-', 100)).toEqual({ kind: 'part', start: 90, end: 99 });
  expect(byteRange('bytes=90-500', 100)).toEqual({ kind: 'part', start: 90, end: 99 });
  expect(byteRange('bytes=-10', 100)).toEqual({ kind: 'part', start: 90, end: 99 });
  expect(byteRange('bytes=-500', 100)).toEqual({ kind: 'part', start: 0, end: 99 });
  expect(byteRange('Bytes = 5 - 5', 100)).toEqual({ kind: 'part', start: 5, end: 5 });
});

test('a range past the end, or an empty suffix, cannot be satisfied', () => {
  expect(byteRange('bytes=100-', 100)).toEqual({ kind: 'unsatisfiable' });
  expect(byteRange('bytes=200-300', 100)).toEqual({ kind: 'unsatisfiable' });
  expect(byteRange('bytes=-0', 100)).toEqual({ kind: 'unsatisfiable' });
  expect(byteRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
});

test('no header, another unit, several ranges or a backwards one: the whole content', () => {
  expect(byteRange(undefined, 100)).toEqual({ kind: 'whole' });
  expect(byteRange('items=0-1', 100)).toEqual({ kind: 'whole' });
  expect(byteRange('bytes=0-1,5-6', 100)).toEqual({ kind: 'whole' });
  expect(byteRange('bytes=9-3', 100)).toEqual({ kind: 'whole' });
  expect(byteRange('bytes=-', 100)).toEqual({ kind: 'whole' });
});
