import { Estimates } from '../../src/scheduler/estimates.js';

test('a kind of job is known only on the backends it ran on, whatever the unit rate says', () => {
  const e = new Estimates();
  e.record('a', 10, 0.02, '10:LoadImage,SaveImage');
  // The unit rate is shared with a job of another kind (a sleep has few units and takes long)...
  expect(e.seconds('a', 3)).toBeCloseTo(0.006);
  // ...but its own kind has never been measured, here or on another backend.
  expect(e.shapeSeconds('a', '3:Sleep')).toBeUndefined();
  expect(e.shapeSeconds('b', '10:LoadImage,SaveImage')).toBeUndefined();
  e.record('a', 3, 1, '3:Sleep');
  expect(e.shapeSeconds('a', '3:Sleep')).toBe(1);
  expect(e.shapeSeconds('a', '10:LoadImage,SaveImage')).toBe(0.02);
});

test('the kinds remembered are bounded', () => {
  const e = new Estimates();
  for (let i = 0; i < 5000; i++) e.record('a', 1, 0.01, `shape-${i}`);
  expect(e.shapeSeconds('a', 'shape-0')).toBeUndefined();
  expect(e.shapeSeconds('a', 'shape-4999')).toBe(0.01);
});
