import type { FairJob, Tier } from '../../src/scheduler/fair-queue.js';
import { FairQueue, ServedTimes, fairOrder, lowerTier, tierRank } from '../../src/scheduler/fair-queue.js';
import { limitsOf, parseKeyLimits, priorityProblems } from '../../src/engine/key-limits.js';

type J = FairJob & { state?: string };

let clock = 1_000;
function job(clientId: string, fields: Partial<J> = {}): J {
  clock += 10;
  return { id: `${clientId}-${clock}`, clientId, tenant: '', tier: 'normal', priority: 0, createdAt: clock, ...fields };
}

const clients = (jobs: readonly J[]) => jobs.map((j) => j.clientId);
const none = ServedTimes.of([]);

/** Dispatch the head as the scheduler does: it leaves the queue and its client's turn is now. */
function dispatchHead(waiting: J[], history: J[], at: number): J {
  const order = fairOrder(waiting, ServedTimes.of(history));
  const head = order[0];
  waiting.splice(waiting.indexOf(head), 1);
  head.dispatchedAt = at;
  return head;
}

describe('fair share within a tier', () => {
  test('a flood takes one place per round: single jobs of other clients wait behind one of its jobs at most', () => {
    const flood = Array.from({ length: 500 }, () => job('flood'));
    const singles = Array.from({ length: 10 }, (_, i) => job(`c${i}`));
    const order = fairOrder([...flood, ...singles], none);
    // Nobody has been served: the oldest first job goes first, then every other client's first.
    expect(clients(order.slice(0, 11))).toEqual(['flood', ...singles.map((j) => j.clientId)]);
    expect(clients(order.slice(11)).every((c) => c === 'flood')).toBe(true);
  });

  test('a client served after another began to wait goes after it', () => {
    const flood = Array.from({ length: 5 }, () => job('flood'));
    const single = job('single');
    // The flood had a job dispatched after the single one arrived: the single one is next.
    const servedAfter = [{ ...job('flood'), dispatchedAt: clock + 5 }];
    expect(clients(fairOrder([...flood, single], ServedTimes.of(servedAfter)))).toEqual(['single', 'flood', 'flood', 'flood', 'flood', 'flood']);
    // Served before it arrived: the flood's next job waited longer for its turn.
    const servedBefore = [{ ...job('flood'), dispatchedAt: single.createdAt - 1 }];
    expect(clients(fairOrder([...flood, single], ServedTimes.of(servedBefore)))).toEqual(['flood', 'single', 'flood', 'flood', 'flood', 'flood']);
  });

  test('a client served before and coming back later waits behind those already waiting: nobody starves', () => {
    // "old" was served long ago, then sends a job after "new" sent its.
    const served = [{ ...job('old'), dispatchedAt: 500 }];
    const fresh = job('new');
    const back = job('old');
    expect(clients(fairOrder([back, fresh], ServedTimes.of(served)))).toEqual(['new', 'old']);
    // A stream of new clients never keeps a waiting one out: it goes before anyone who came after it.
    const waiting = [job('steady'), job('steady')];
    const history: J[] = [...waiting];
    const started: string[] = [];
    for (let i = 0; i < 6; i++) {
      const newcomer = job(`n${i}`);
      waiting.push(newcomer);
      history.push(newcomer);
      started.push(dispatchHead(waiting, history, (clock += 10)).clientId);
    }
    // steady, n0 (waiting since before steady's turn ended), steady again, then the newcomers in turn.
    expect(started).toEqual(['steady', 'n0', 'steady', 'n1', 'n2', 'n3']);
  });

  test('clients alternate as jobs are dispatched, and the predicted order is the order they start in', () => {
    const waiting = [...Array.from({ length: 4 }, () => job('a')), ...Array.from({ length: 2 }, () => job('b')), job('c')];
    const history = [...waiting];
    const predicted = fairOrder(waiting, ServedTimes.of(history)).map((j) => j.id);
    const started: string[] = [];
    for (let t = 1; waiting.length; t++) started.push(dispatchHead(waiting, history, 10_000 + t).id);
    expect(started).toEqual(predicted);
    expect(started.map((id) => id[0])).toEqual(['a', 'b', 'c', 'a', 'b', 'a', 'a']);
  });

  test('tenants take turns first, then the clients within each', () => {
    // Tenant x sends from 3 clients, tenant y from one: y gets every other place.
    const x = [job('x1', { tenant: 'x' }), job('x1', { tenant: 'x' }), job('x2', { tenant: 'x' }), job('x3', { tenant: 'x' })];
    const y = [job('y1', { tenant: 'y' }), job('y1', { tenant: 'y' }), job('y1', { tenant: 'y' })];
    const order = fairOrder([...x, ...y], none);
    expect(order.map((j) => `${j.tenant}/${j.clientId}`)).toEqual(['x/x1', 'y/y1', 'x/x2', 'y/y1', 'x/x3', 'y/y1', 'x/x1']);
  });

  test("a client's own jobs keep their order: priority (ComfyUI's front / number), then arrival", () => {
    const a = job('a');
    const b = job('a');
    const front = job('a', { priority: -5 });
    expect(fairOrder([a, b, front], none).map((j) => j.id)).toEqual([front.id, a.id, b.id]);
  });

  test('an arriving job goes behind its own client and keeps other clients in their relative order', () => {
    const waiting = [job('a'), job('a'), job('b'), job('c'), job('c')];
    const before = fairOrder(waiting, none).map((j) => j.id);
    const arrival = job('a');
    const after = fairOrder([...waiting, arrival], none).map((j) => j.id);
    expect(after.filter((id) => id !== arrival.id)).toEqual(before);
    expect(after.indexOf(arrival.id)).toBeGreaterThan(Math.max(...waiting.filter((j) => j.clientId === 'a').map((j) => after.indexOf(j.id))));
    // A new client's first job goes into the first round, ahead of the others' second jobs.
    const newcomer = job('d');
    const withNew = fairOrder([...waiting, newcomer], none).map((j) => j.id);
    expect(withNew.indexOf(newcomer.id)).toBe(3);
    expect(withNew.filter((id) => id !== newcomer.id)).toEqual(before);
  });

  test('deterministic: the same facts in any input order give the same order', () => {
    const jobs = [job('a'), job('b', { tenant: 't' }), job('a'), job('c', { tier: 'high' }), job('b', { tenant: 't' }), job('d', { tier: 'low' }), job('e', { dispatchedAt: 3 })];
    const history = [...jobs, { ...job('a'), dispatchedAt: 50 }];
    const expected = fairOrder(jobs, ServedTimes.of(history)).map((j) => j.id);
    for (let i = 0; i < 20; i++) {
      const shuffled = [...jobs].sort(() => Math.random() - 0.5);
      expect(fairOrder(shuffled, ServedTimes.of([...history].reverse())).map((j) => j.id)).toEqual(expected);
    }
    // Ties of arrival are broken by name, never by input order.
    const t1 = { ...job('zed'), createdAt: 1 };
    const t2 = { ...job('amy'), createdAt: 1 };
    expect(clients(fairOrder([t1, t2], none))).toEqual(['amy', 'zed']);
    expect(clients(fairOrder([t2, t1], none))).toEqual(['amy', 'zed']);
  });
});

describe('tiers and returned jobs', () => {
  test('high before normal before low, whoever sent them and however many', () => {
    const low = job('a', { tier: 'low' });
    const normals = Array.from({ length: 3 }, () => job('b'));
    const high = job('c', { tier: 'high' });
    const old = { ...job('d'), tier: undefined }; // stored before tiers: normal
    const order = fairOrder([low, ...normals, high, old], none);
    expect(order[0]).toBe(high);
    expect(order[order.length - 1]).toBe(low);
    expect(order.slice(1, 5)).toEqual(expect.arrayContaining([...normals, old]));
  });

  test('a job back from a lost backend goes to the front of its tier, whatever its turn', () => {
    const waiting = [job('b'), job('c')];
    const back = job('a', { dispatchedAt: 99_000 });
    const order = fairOrder([...waiting, back, job('h', { tier: 'high' })], ServedTimes.of([back]));
    expect(clients(order)).toEqual(['h', 'a', 'b', 'c']);
  });

  test('fair share off: first come, first served within a tier', () => {
    const flood = Array.from({ length: 3 }, () => job('flood'));
    const single = job('single');
    const front = job('x', { priority: -1 });
    expect(clients(fairOrder([single, ...flood, front], none, { fair: false }))).toEqual(['x', 'flood', 'flood', 'flood', 'single']);
  });

  test('tier helpers', () => {
    expect(['high', 'normal', 'low', undefined].map((t) => tierRank(t as Tier | undefined))).toEqual([0, 1, 2, 1]);
    expect(lowerTier('high', 'normal')).toBe('normal');
    expect(lowerTier('low', 'normal')).toBe('low');
  });
});

describe('FairQueue', () => {
  test('positions follow the order and are computed again after a change', () => {
    const history: J[] = [];
    const queue = new FairQueue<J>(() => history, { fair: true });
    const a1 = job('a');
    const a2 = job('a');
    const b1 = job('b');
    for (const j of [a1, a2, b1]) {
      history.push(j);
      queue.add(j);
    }
    expect([a1, a2, b1].map((j) => queue.position(j.id))).toEqual([1, 3, 2]);
    queue.delete(a1);
    a1.dispatchedAt = 20_000;
    queue.changed();
    expect(queue.order().map((j) => j.id)).toEqual([b1.id, a2.id]);
    expect(queue.position(a1.id)).toBeUndefined();
    expect(queue.size).toBe(2);
    // Sent back while it seemed to wait (heard in one commit): it is first of its tier.
    a2.dispatchedAt = 21_000;
    queue.changed();
    expect(queue.order().map((j) => j.id)).toEqual([a2.id, b1.id]);
  });
});

test('FairQueue keeps the order fairOrder gives, through arrivals, dispatches, cancels and returns', () => {
  let seed = 7;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  for (const fair of [true, false]) {
    const history: J[] = [];
    const queue = new FairQueue<J>(() => history, { fair });
    const members = new Set<J>();
    let at = 100_000;
    for (let step = 0; step < 600; step++) {
      const op = rand(10);
      if (op < 5 || members.size === 0) {
        const tiers: Tier[] = ['high', 'normal', 'normal', 'normal', 'low'];
        const j = job(`c${rand(6)}`, { tenant: ['', 'x', 'y'][rand(3)], tier: tiers[rand(5)], priority: rand(4) === 0 ? -rand(3) : 0 });
        history.push(j);
        members.add(j);
        queue.add(j);
      } else if (op < 8) {
        // The head is dispatched; now and then it comes back (its backend was lost).
        const head = queue.order()[0];
        queue.delete(head);
        members.delete(head);
        head.dispatchedAt = ++at;
        queue.dispatched(head);
        if (rand(4) === 0) {
          members.add(head);
          queue.add(head);
        }
      } else if (op < 9) {
        const victim = [...members][rand(members.size)];
        queue.delete(victim);
        members.delete(victim);
      } else {
        // A finished job leaves the store: the turns are read again.
        const gone = history.findIndex((j) => !members.has(j));
        if (gone >= 0) history.splice(gone, 1);
        queue.changed();
      }
      const expected = fairOrder(members, ServedTimes.of(history), { fair }).map((j) => j.id);
      if (step % 2) expect(queue.head()?.id).toBe(expected[0]);
      expect(queue.order().map((j) => j.id)).toEqual(expected);
    }
  }
});

describe('key limits', () => {
  const settings = (keys: string) => {
    const problems: string[] = [];
    const parsed = parseKeyLimits(keys, ['alice', 'bob'], problems);
    return { settings: { defaultPriority: 'normal' as Tier, maxPriority: 'normal' as Tier, keys: parsed }, problems };
  };

  test('per key, else *, else the general settings', () => {
    const { settings: s, problems } = settings('alice:max_priority=high;max_jobs=5, *:max_priority=low;default_priority=low;max_jobs_per_client=3');
    expect(problems).toEqual([]);
    expect(limitsOf(s, 100, 'alice')).toEqual({ defaultPriority: 'normal', maxPriority: 'high', maxJobs: 5, maxJobsPerClient: 100 });
    expect(limitsOf(s, 100, 'bob')).toEqual({ defaultPriority: 'low', maxPriority: 'low', maxJobs: 0, maxJobsPerClient: 3 });
    expect(priorityProblems(s, ['alice', 'bob'])).toEqual([]);
  });

  test('every problem is named', () => {
    const { problems } = settings('carol:max_jobs=1,alice:max_priority=top;max_jobs=-1;speed=9,bob,alice:max_jobs=2');
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/carol.*no API key/);
    expect(problems.join('\n')).toMatch(/max_priority="top" is not one of high, normal, low/);
    expect(problems.join('\n')).toMatch(/max_jobs="-1"/);
    expect(problems.join('\n')).toMatch(/unknown option "speed"/);
    expect(problems.join('\n')).toMatch(/"bob" is not name:option=value/);
    expect(problems.join('\n')).toMatch(/names "alice" twice/);
  });

  test('a default above the highest allowed tier is a problem', () => {
    const { settings: s } = settings('bob:default_priority=high');
    expect(priorityProblems(s, ['alice', 'bob'])).toEqual([expect.stringMatching(/KEY_LIMITS \(bob\).*default to high, above the highest priority allowed \(normal\)/)]);
  });
});
