import { planEarliestFinish } from '../../src/scheduler/policy.js';
import type { TimedBackend } from '../../src/scheduler/policy.js';
import { Estimates } from '../../src/scheduler/estimates.js';
import { workUnits } from '../../src/jobs/progress.js';

const backend = (id: string, rate: number, busySeconds = 0, free = true): TimedBackend => ({ id, rate, busySeconds, free });

describe('planEarliestFinish', () => {
  test('the head job goes to the free backend where it finishes first', () => {
    const plan = planEarliestFinish([{ units: 10 }], [backend('slow', 1), backend('fast', 0.25)]);
    expect(plan).toEqual({ job: 0, backend: 'fast' });
  });

  test('a free slow backend waits when the head job finishes sooner on a busy fast one', () => {
    // fast is full but done in 1 s; the job takes 2.5 s there (3.5 in all) against 10 s on slow.
    const plan = planEarliestFinish([{ units: 10 }], [backend('slow', 1), backend('fast', 0.25, 1, false)]);
    expect(plan).toBeUndefined();
  });

  test('a free slow backend takes a later job when the fast one has enough to do', () => {
    const jobs = Array.from({ length: 8 }, () => ({ units: 10 }));
    // fast takes jobs 0..2 (finishing at 3.5, 6, 8.5); job 3 would end at 11 there but at 10 on slow.
    const plan = planEarliestFinish(jobs, [backend('slow', 1), backend('fast', 0.25, 1, false)]);
    expect(plan).toEqual({ job: 3, backend: 'slow' });
  });

  test('short jobs are what a slow backend takes first', () => {
    const jobs = [{ units: 40 }, { units: 40 }, { units: 2 }];
    const plan = planEarliestFinish(jobs, [backend('slow', 1), backend('fast', 0.25, 0, false)]);
    expect(plan).toEqual({ job: 2, backend: 'slow' });
  });

  test('nothing to do without a free backend or without jobs', () => {
    expect(planEarliestFinish([{ units: 1 }], [backend('a', 1, 0, false)])).toBeUndefined();
    expect(planEarliestFinish([], [backend('a', 1)])).toBeUndefined();
  });

  test('ties go to the earlier backend', () => {
    expect(planEarliestFinish([{ units: 1 }], [backend('a', 1), backend('b', 1)])).toEqual({ job: 0, backend: 'a' });
  });
});

describe('Estimates', () => {
  test('learns seconds per unit and follows change smoothly', () => {
    const e = new Estimates();
    expect(e.rate('a')).toBeUndefined();
    e.record('a', 10, 5);
    expect(e.rate('a')).toBeCloseTo(0.5);
    e.record('a', 10, 10);
    expect(e.rate('a')).toBeGreaterThan(0.5);
    expect(e.rate('a')).toBeLessThan(1);
    expect(e.seconds('a', 4)).toBeCloseTo(4 * e.rate('a')!);
  });

  test('an unmeasured backend borrows the mean of the measured ones', () => {
    const e = new Estimates();
    e.record('a', 1, 1);
    e.record('b', 1, 3);
    expect(e.rate('c')).toBeCloseTo(2);
  });

  test('ignores nonsense samples', () => {
    const e = new Estimates();
    e.record('a', 0, 1);
    e.record('a', 5, Number.NaN);
    e.record('a', 5, -1);
    expect(e.rate('a')).toBeUndefined();
  });
});

test('workUnits: one per node, a sampler counts its steps', () => {
  expect(workUnits({})).toBe(1);
  expect(workUnits({ '1': { class_type: 'EmptyImage', inputs: {} }, '2': { class_type: 'KSampler', inputs: { steps: 20 } } })).toBe(21);
});
