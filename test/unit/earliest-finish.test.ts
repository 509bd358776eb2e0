import { planEarliestFinish } from '../../src/scheduler/policy.js';
import type { TimedBackend } from '../../src/scheduler/policy.js';
import { Estimates } from '../../src/scheduler/estimates.js';
import { workUnits } from '../../src/jobs/progress.js';

const backend = (id: string, rate: number, busySeconds = 0, free = true): TimedBackend => ({ id, rate, busySeconds, free });

describe('planEarliestFinish', () => {
  test('the head job goes to the free backend where it finishes first', () => {
    const plan = planEarliestFinish([{ units: 10 }], [backend('slow', 1), backend('fast', 0.25)]);
    expect(plan).toMatchObject({ job: 0, backend: 'fast' });
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
    expect(plan).toMatchObject({ job: 3, backend: 'slow' });
  });

  test('short jobs are what a slow backend takes first', () => {
    const jobs = [{ units: 40 }, { units: 40 }, { units: 2 }];
    const plan = planEarliestFinish(jobs, [backend('slow', 1), backend('fast', 0.25, 0, false)]);
    expect(plan).toMatchObject({ job: 2, backend: 'slow' });
  });

  test('nothing to do without a free backend or without jobs', () => {
    expect(planEarliestFinish([{ units: 1 }], [backend('a', 1, 0, false)])).toBeUndefined();
    expect(planEarliestFinish([], [backend('a', 1)])).toBeUndefined();
  });

  test('an idle backend never waits while a job it can run waits, whatever the estimates say', () => {
    const idle = { ...backend('slow', 1), idle: true };
    const plan = planEarliestFinish([{ units: 10 }], [idle, backend('fast', 0.25, 1, false)]);
    expect(plan).toMatchObject({ job: 0, backend: 'slow', rule: 'idle' });
  });

  test('a job goes only where it can run, and waits when no such backend is free', () => {
    const onlyB = { units: 1, runsOn: (id: string) => id === 'b' };
    expect(planEarliestFinish([onlyB], [{ ...backend('a', 0.1), idle: true }, backend('b', 1)])).toMatchObject({ job: 0, backend: 'b' });
    expect(planEarliestFinish([onlyB, { units: 1 }], [{ ...backend('a', 0.1), idle: true }, backend('b', 1, 5, false)])).toMatchObject({ job: 1, backend: 'a' });
  });

  test('ties go to the earlier backend', () => {
    expect(planEarliestFinish([{ units: 1 }], [backend('a', 1), backend('b', 1)])).toMatchObject({ job: 0, backend: 'a' });
  });
});

describe('planEarliestFinish with model affinity', () => {
  const load = (seconds: number) => () => seconds;
  const holding = (id: string, held: string[], extra: Partial<TimedBackend> = {}): TimedBackend => ({ ...backend(id, 0.1), held, keeps: 2, loadSeconds: load(3), ...extra });

  test('a job goes to the backend that holds its model when loading would cost more than waiting', () => {
    const jobs = [{ units: 10, models: ['m2'] }];
    const plan = planEarliestFinish(jobs, [holding('a', ['m1']), holding('b', ['m2'], { busySeconds: 1, free: true })]);
    expect(plan).toMatchObject({ backend: 'b', switchSeconds: 0 });
  });

  test('an idle backend takes a later job whose model it holds before the head, until the head has waited as long as a load', () => {
    const jobs = [{ units: 10, models: ['m1'], waitedSeconds: 1 }, { units: 10, models: ['m2'] }];
    const backends = [holding('a', ['m2'], { idle: true }), holding('b', ['m1'], { busySeconds: 5, free: false })];
    expect(planEarliestFinish(jobs, backends)).toMatchObject({ job: 1, backend: 'a', rule: 'idle' });
    // The head has now waited longer than the 3 s its model takes to load: it goes first.
    jobs[0].waitedSeconds = 4;
    expect(planEarliestFinish(jobs, backends)).toMatchObject({ job: 0, backend: 'a', rule: 'idle', switchSeconds: 3 });
  });

  test('a head that waited long is still overtaken while a backend holding its model would finish it sooner than a load', () => {
    // b holds m1 and is nearly done: the head goes there when b has a slot; a, idle, works meanwhile.
    const jobs = [{ units: 10, models: ['m1'], waitedSeconds: 60 }, { units: 10, models: ['m2'] }];
    const backends = [holding('a', ['m2'], { idle: true }), holding('b', ['m1'], { busySeconds: 0.5, free: false })];
    expect(planEarliestFinish(jobs, backends)).toMatchObject({ job: 1, backend: 'a', rule: 'idle' });
    // Only m1 jobs wait: a loads m1 rather than stand idle.
    expect(planEarliestFinish([jobs[0]], backends)).toMatchObject({ job: 0, backend: 'a', rule: 'idle', switchSeconds: 3 });
  });

  test('the plan counts what a backend will hold after the jobs it was given', () => {
    // Both want m2: the first goes to b (holds it); the second would queue on b rather than load on a.
    const jobs = [{ units: 10, models: ['m2'] }, { units: 10, models: ['m2'] }];
    const plan = planEarliestFinish(jobs, [holding('a', ['m1']), holding('b', ['m2'], { free: false })]);
    expect(plan).toBeUndefined();
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
