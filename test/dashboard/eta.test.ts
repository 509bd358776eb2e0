// The dashboard's queue estimates (a browser module, pure): when each waiting job starts and ends.
import { busySeconds, costModel, queueEtas } from '../../src/dashboard/public/eta.js';
import type { EtaBackend } from '../../src/dashboard/public/eta.js';

function backend(id: string, fields: Partial<EtaBackend> = {}): EtaBackend {
  return { id, usable: true, held: [], foreign: 0, ...fields };
}

describe('queueEtas', () => {
  test('nothing measured yet: no estimate for anyone', () => {
    expect(queueEtas([backend('a'), backend('b')], [{ units: 10 }, { units: 10 }])).toEqual([undefined, undefined]);
  });

  test('no backend takes new work: no estimate', () => {
    const etas = queueEtas([backend('a', { usable: false, meanJobSeconds: 2 })], [{}]);
    expect(etas).toEqual([undefined]);
  });

  test('one idle backend works through the queue in order', () => {
    const etas = queueEtas([backend('a', { meanJobSeconds: 2 })], [{}, {}, {}]);
    expect(etas).toEqual([
      { startsIn: 0, finishesIn: 2, backend: 'a' },
      { startsIn: 2, finishesIn: 4, backend: 'a' },
      { startsIn: 4, finishesIn: 6, backend: 'a' },
    ]);
  });

  test('jobs go where they finish earliest: a backend twice as fast takes two of every three', () => {
    const etas = queueEtas([backend('slow', { secondsPerUnit: 0.2 }), backend('fast', { secondsPerUnit: 0.1 })], Array.from({ length: 6 }, () => ({ units: 10 })));
    expect(etas.map((e) => e!.backend)).toEqual(['fast', 'slow', 'fast', 'fast', 'slow', 'fast']);
    expect(etas.map((e) => e!.finishesIn)).toEqual([1, 2, 2, 3, 4, 4]);
  });

  test('a job is sized by its units when the speed per unit is known', () => {
    const [small, big] = queueEtas([backend('a', { secondsPerUnit: 0.5, meanJobSeconds: 100 })], [{ units: 2 }, { units: 20 }]);
    expect(small).toEqual({ startsIn: 0, finishesIn: 1, backend: 'a' });
    expect(big).toEqual({ startsIn: 1, finishesIn: 11, backend: 'a' });
  });

  test('what a backend holds comes first: the rest of its running job, jobs it queued, others\' prompts', () => {
    const b = backend('a', {
      meanJobSeconds: 4,
      held: [
        { running: true, progress: 0.75 },
        { running: false },
      ],
      foreign: 2,
    });
    // 1 s left of the running job, 4 s of the queued one, 8 s of others' prompts.
    expect(queueEtas([b], [{}])).toEqual([{ startsIn: 13, finishesIn: 17, backend: 'a' }]);
  });

  test('a draining or down backend takes nothing, but its speed still informs the others', () => {
    const etas = queueEtas([backend('measured', { usable: false, secondsPerUnit: 0.1, meanJobSeconds: 3 }), backend('new')], [{ units: 10 }, {}]);
    expect(etas).toEqual([
      { startsIn: 0, finishesIn: 1, backend: 'new' },
      { startsIn: 1, finishesIn: 4, backend: 'new' },
    ]);
  });

  test('only the first `limit` jobs are estimated', () => {
    const waiting = Array.from({ length: 1000 }, () => ({ units: 5 }));
    expect(queueEtas([backend('a', { secondsPerUnit: 1 })], waiting, 3)).toHaveLength(3);
  });

  test('1,000 waiting jobs over 50 backends spread evenly', () => {
    const backends = Array.from({ length: 50 }, (_, i) => backend(`b${i}`, { meanJobSeconds: 10 }));
    const etas = queueEtas(backends, Array.from({ length: 1000 }, () => ({})));
    // Twenty rounds of fifty: the last starts after 19 jobs' time on its backend.
    expect(etas[999]).toMatchObject({ startsIn: 190, finishesIn: 200 });
    const per = new Map<string, number>();
    for (const e of etas) per.set(e!.backend, (per.get(e!.backend) ?? 0) + 1);
    expect([...per.values()].every((n) => n === 20)).toBe(true);
  });
});

describe('costModel and busySeconds', () => {
  test('a backend never measured borrows the pool mean', () => {
    const bs = [backend('a', { secondsPerUnit: 1, meanJobSeconds: 10 }), backend('b', { secondsPerUnit: 3, meanJobSeconds: 30 }), backend('c')];
    const cost = costModel(bs)!;
    expect(cost(bs[2], 5)).toBe(10);
    expect(cost(bs[2], undefined)).toBe(20);
  });

  test('progress outside 0–1 is clamped', () => {
    const b = backend('a', { meanJobSeconds: 10, held: [{ running: true, progress: 1.5 }, { running: true, progress: -1 }] });
    expect(busySeconds(b, costModel([b])!)).toBe(10);
  });
});
