// The waiting queue sent as changes (server: queue-diff.ts) and put back together by the page
// (public/state.js): whatever the change, the page ends with the server's queue.
import { diffQueue } from '../../src/dashboard/queue-diff.js';
import { applyQueueChange } from '../../src/dashboard/public/state.js';
import type { QueueRow } from '../../src/dashboard/view.js';

function row(id: string): QueueRow {
  return { id, clientId: 'c', tenant: '', workflow: 'w', createdAt: 0, tier: 'normal', priority: 0, attempts: 0, units: 1 };
}

function roundTrip(prev: string[], next: string[]): string[] {
  const queue = { ids: [...prev], rows: new Map(prev.map((id) => [id, row(id)])) };
  const change = diffQueue(prev, next.map(row));
  if (!change) return queue.ids;
  const after = applyQueueChange(queue, change);
  expect([...after.rows.keys()].sort()).toEqual([...next].sort());
  return after.ids;
}

const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `j${from + i}`);

describe('diffQueue', () => {
  test('no change: nothing to send', () => {
    expect(diffQueue(['a', 'b'], [row('a'), row('b')])).toBeUndefined();
  });

  test('the head taken and new jobs at the tail: a few words, not the whole queue', () => {
    const prev = ids(1000);
    const next = [...ids(995, 5), ...ids(3, 1000)];
    const change = diffQueue(prev, next.map(row))!;
    expect(change).toEqual({ removed: ['j0', 'j1', 'j2', 'j3', 'j4'], inserted: [{ after: 'j999', rows: ids(3, 1000).map(row) }] });
    expect(roundTrip(prev, next)).toEqual(next);
  });

  test('a job put back at the front', () => {
    const change = diffQueue(['a', 'b'], [row('x'), row('a'), row('b')]);
    expect(change).toEqual({ removed: [], inserted: [{ after: null, rows: [row('x')] }] });
    expect(roundTrip(['a', 'b'], ['x', 'a', 'b'])).toEqual(['x', 'a', 'b']);
  });

  test('a front prompt placed among others keeps its place', () => {
    expect(roundTrip(['a', 'b', 'c'], ['a', 'n1', 'n2', 'b', 'c', 'n3'])).toEqual(['a', 'n1', 'n2', 'b', 'c', 'n3']);
  });

  test('a reorder is sent whole', () => {
    const change = diffQueue(['a', 'b', 'c'], [row('c'), row('a'), row('b')]);
    expect(change).toEqual({ reset: ['c', 'a', 'b'].map(row) });
    expect(roundTrip(['a', 'b', 'c'], ['c', 'a', 'b'])).toEqual(['c', 'a', 'b']);
  });

  test('emptied and refilled', () => {
    expect(roundTrip(ids(10), [])).toEqual([]);
    expect(roundTrip([], ids(10))).toEqual(ids(10));
    expect(roundTrip(ids(10), ids(10, 50))).toEqual(ids(10, 50));
  });

  test('random changes always end in the server\'s queue', () => {
    // A small fixed-seed generator: the same cases every run.
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    let prev = ids(30);
    let fresh = 100;
    for (let round = 0; round < 300; round++) {
      const next = prev.filter(() => rand(5) !== 0);
      for (let k = rand(4); k > 0; k--) next.splice(rand(next.length + 1), 0, `j${fresh++}`);
      if (rand(10) === 0 && next.length > 1) next.reverse();
      expect(roundTrip(prev, next)).toEqual(next);
      prev = next;
    }
  });
});
