import type { BackendLoad } from '../../src/scheduler/policy.js';
import { chooseBackend, withFreeSlot } from '../../src/scheduler/policy.js';

function load(id: string, fields: Partial<Omit<BackendLoad, 'id'>> = {}): BackendLoad {
  return { id, ours: 0, slots: 2, foreign: 0, ...fields };
}

describe('withFreeSlot', () => {
  test('keeps backends with room, in their order', () => {
    const loads = [load('a', { ours: 2 }), load('b', { ours: 1 }), load('c', { ours: 3 }), load('d')];
    expect(withFreeSlot(loads).map((b) => b.id)).toEqual(['b', 'd']);
  });

  test('a backend with no slots is never free', () => {
    expect(withFreeSlot([load('a', { slots: 0 })])).toEqual([]);
  });

  test('foreign work does not take our slots', () => {
    expect(withFreeSlot([load('a', { ours: 1, foreign: 50 })]).map((b) => b.id)).toEqual(['a']);
  });

  test('does not modify its input', () => {
    const loads = [load('a', { ours: 2 }), load('b')];
    const copy = structuredClone(loads);
    withFreeSlot(loads);
    expect(loads).toEqual(copy);
  });
});

describe('chooseBackend by queue count', () => {
  test('no backends → undefined', () => {
    expect(chooseBackend([])).toBeUndefined();
  });

  test('all full → undefined', () => {
    expect(chooseBackend([load('a', { ours: 2 }), load('b', { ours: 2 })])).toBeUndefined();
  });

  test('the least loaded wins', () => {
    expect(chooseBackend([load('a', { ours: 1 }), load('b', { ours: 0 }), load('c', { ours: 1 })])).toBe('b');
  });

  test('full backends are skipped even when they look lighter', () => {
    // a is "lighter" by count (1 < 3) but has no free slot.
    expect(chooseBackend([load('a', { ours: 1, slots: 1 }), load('b', { ours: 0, foreign: 3 })])).toBe('b');
  });

  test('ties go to the first in the list', () => {
    expect(chooseBackend([load('x', { ours: 1 }), load('y', { ours: 1 }), load('z', { ours: 1 })])).toBe('x');
    expect(chooseBackend([load('z', { ours: 1 }), load('y', { ours: 1 }), load('x', { ours: 1 })])).toBe('z');
  });

  test('rotating the list rotates the winner among equals', () => {
    const a = load('a');
    const b = load('b');
    const c = load('c');
    expect([chooseBackend([a, b, c]), chooseBackend([b, c, a]), chooseBackend([c, a, b])]).toEqual(['a', 'b', 'c']);
  });

  test('foreign load counts', () => {
    expect(chooseBackend([load('a', { foreign: 2 }), load('b', { ours: 1 })])).toBe('b');
    expect(chooseBackend([load('a', { ours: 1, foreign: 0 }), load('b', { ours: 0, foreign: 1 })])).toBe('a');
  });

  test('ours and foreign add up', () => {
    // a: 1 + 2 = 3, b: 2 + 0 = 2
    expect(chooseBackend([load('a', { ours: 1, foreign: 2, slots: 4 }), load('b', { ours: 2, slots: 4 })])).toBe('b');
  });

  test('a single free backend is chosen however busy it is', () => {
    expect(chooseBackend([load('a', { ours: 3, slots: 3 }), load('b', { ours: 1, foreign: 100 })])).toBe('b');
  });
});

describe('chooseBackend by expected seconds', () => {
  test('uses time when every candidate has both durations', () => {
    const loads = [
      load('a', { ours: 0, foreign: 0, expectedSeconds: 100, jobSeconds: 10 }),
      load('b', { ours: 1, foreign: 3, expectedSeconds: 20, jobSeconds: 10 }),
    ];
    expect(chooseBackend(loads)).toBe('b');
  });

  test('a faster backend can win over an idle slower one', () => {
    const loads = [
      load('slow', { expectedSeconds: 0, jobSeconds: 60 }),
      load('fast', { ours: 1, expectedSeconds: 20, jobSeconds: 15 }),
    ];
    expect(chooseBackend(loads)).toBe('fast');
  });

  test('zero durations still count as known', () => {
    const loads = [
      load('a', { ours: 0, expectedSeconds: 5, jobSeconds: 1 }),
      load('b', { ours: 1, foreign: 4, expectedSeconds: 0, jobSeconds: 0 }),
    ];
    expect(chooseBackend(loads)).toBe('b');
  });

  test('falls back to counts when one candidate lacks expectedSeconds', () => {
    const loads = [
      load('a', { ours: 0, jobSeconds: 10 }),
      load('b', { ours: 1, expectedSeconds: 0, jobSeconds: 1 }),
    ];
    expect(chooseBackend(loads)).toBe('a');
  });

  test('falls back to counts when one candidate lacks jobSeconds', () => {
    const loads = [
      load('a', { ours: 1, expectedSeconds: 0, jobSeconds: 1 }),
      load('b', { ours: 0, expectedSeconds: 500 }),
    ];
    expect(chooseBackend(loads)).toBe('b');
  });

  test('only candidates with a free slot decide the mode', () => {
    const loads = [
      // Full and untimed: must not force counting.
      load('full', { ours: 2, slots: 2 }),
      load('a', { ours: 0, expectedSeconds: 90, jobSeconds: 10 }),
      load('b', { ours: 1, foreign: 2, expectedSeconds: 10, jobSeconds: 10 }),
    ];
    expect(chooseBackend(loads)).toBe('b');
  });

  test('ties in time go to the first', () => {
    const loads = [
      load('a', { expectedSeconds: 10, jobSeconds: 5 }),
      load('b', { expectedSeconds: 5, jobSeconds: 10 }),
    ];
    expect(chooseBackend(loads)).toBe('a');
    expect(chooseBackend([...loads].reverse())).toBe('b');
  });
});
