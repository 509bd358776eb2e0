// The cluster's parts against a real redis-server: the link that carries job records and events
// between processes' stores, the dispatcher lease and its fencing, and the start-up checks.
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import { LocalRedisServer } from '../../src/cluster/local-redis-server.js';
import { checkDurability, clusterKeys, connectOrFail } from '../../src/cluster/redis.js';
import { FencedError, RedisLink } from '../../src/cluster/redis-link.js';
import { DispatcherLease } from '../../src/cluster/lease.js';
import { JobStore } from '../../src/jobs/store.js';
import { newJob } from '../../src/jobs/job.js';
import type { Job } from '../../src/jobs/job.js';
import type { EngineEvent } from '../../src/engine/events.js';

let server: LocalRedisServer;
const open: Redis[] = [];
let prefixNo = 0;

beforeAll(async () => {
  server = await LocalRedisServer.start();
});

afterAll(async () => {
  for (const r of open) r.disconnect();
  await server.close();
});

async function connection(): Promise<Redis> {
  const r = await connectOrFail(server.url, 'test');
  open.push(r);
  return r;
}

interface Member {
  store: JobStore;
  link: RedisLink;
  events: EngineEvent[];
  /** What the store held when each event arrived. */
  seenAtEvent: (Job | undefined)[];
}

/** One process's store on the cluster's Redis, wired as the engine wires it. */
async function member(prefix: string, name: string, fence: () => string | undefined = () => undefined): Promise<Member> {
  const link = new RedisLink(await connection(), await connection(), { keys: clusterKeys(prefix), process: name, leaseMs: 2000, fence });
  const store = await JobStore.openOn(link);
  link.tracks(() => store.writtenIds());
  const events: EngineEvent[] = [];
  const seenAtEvent: (Job | undefined)[] = [];
  link.on('change', (change) => store.applyRemote(change));
  link.on('events', (list) => {
    for (const e of list) {
      events.push(e);
      seenAtEvent.push('jobId' in e ? { ...store.get(e.jobId)! } : undefined);
    }
  });
  link.follow();
  return { store, link, events, seenAtEvent };
}

function job(id: string): Job {
  return newJob({ id, clientId: 'client-0001', workflow: 'w', prompt: { '1': { class_type: 'X', inputs: {} } }, uploads: [] });
}

function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = () => {
      if (check()) return resolve();
      if (Date.now() - started > ms) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(poll, 10);
    };
    poll();
  });
}

function prefix(): string {
  return `test-${++prefixNo}:`;
}

describe('the link between stores', () => {
  test('a job written by one process reaches the other before the events about it', async () => {
    const p = prefix();
    const a = await member(p, 'a');
    const b = await member(p, 'b');
    const j = job('job-1');
    await a.store.add(j);
    a.store.announce({ kind: 'queued', jobId: j.id, seq: 1, at: Date.now(), clientId: j.clientId, tenant: '' });
    await a.store.transition(j, 'dispatching', { backend: 'http://b1' });
    a.store.announce({ kind: 'dispatched', jobId: j.id, seq: 2, at: Date.now(), clientId: j.clientId, tenant: '', backend: 'http://b1', attempt: 1 });
    await until(() => b.events.length === 2, 'both events on b');
    expect(b.events.map((e) => e.kind)).toEqual(['queued', 'dispatched']);
    // Each event found the job as it was when the event was sent, or newer.
    expect(b.seenAtEvent[0]?.id).toBe(j.id);
    expect(b.seenAtEvent[1]?.state).toBe('dispatching');
    expect(b.store.get(j.id)?.backend).toBe('http://b1');
    // The writer does not hear its own events back.
    expect(a.events).toEqual([]);
  });

  test('a removal and a side table cross too, and a late joiner loads everything', async () => {
    const p = prefix();
    const a = await member(p, 'a');
    const b = await member(p, 'b');
    const keep = job('keep');
    const drop = job('drop');
    await a.store.table<{ n: number }>('door').set(keep.id, { n: 7 });
    await Promise.all([a.store.add(keep), a.store.add(drop)]);
    await until(() => b.store.get('drop') !== undefined, 'drop on b');
    await b.store.remove([b.store.get('drop')!]);
    await until(() => a.store.get('drop') === undefined, 'drop removed on a');
    expect(b.store.table<{ n: number }>('door').get('keep')).toEqual({ n: 7 });
    const c = await member(p, 'c');
    expect([...c.store.all()].map((x) => x.id)).toEqual(['keep']);
    expect(c.store.table<{ n: number }>('door').get('keep')).toEqual({ n: 7 });
  });

  test('a process that missed commits (its subscription dropped) reloads and catches up', async () => {
    const p = prefix();
    const a = await member(p, 'a');
    const b = await member(p, 'b');
    await a.store.add(job('before'));
    await until(() => b.store.get('before') !== undefined, 'before on b');
    // Cut b's subscription: what a writes meanwhile never reaches it as a message.
    const sub = (b.link as unknown as { sub: Redis }).sub;
    sub.disconnect(true);
    await a.store.add(job('during'));
    await a.store.remove([a.store.get('before')!]);
    await until(() => b.store.get('during') !== undefined && b.store.get('before') === undefined, 'b caught up');
    // And it goes on from there.
    await a.store.add(job('after'));
    await until(() => b.store.get('after') !== undefined, 'after on b');
  });

  test('writes fenced by a lease token are refused once another process holds the lease', async () => {
    const p = prefix();
    const keys = clusterKeys(p);
    const admin = await connection();
    let token: string | undefined = 'me';
    const a = await member(p, 'a', () => token);
    const fenced = once(a.link, 'fenced');
    // Nobody holds the lease: the fenced write takes it back for its holder.
    await a.store.add(job('one'));
    expect(await admin.get(keys.lease)).toBe('me');
    await admin.set(keys.lease, 'someone-else');
    await expect(a.store.add(job('two'))).rejects.toBeInstanceOf(FencedError);
    await fenced;
    expect(await admin.hexists(keys.jobs, 'two')).toBe(0);
    // A process that does not dispatch writes unfenced.
    token = undefined;
    await a.store.add(job('three'));
    expect(await admin.hexists(keys.jobs, 'three')).toBe(1);
  });
});

describe('the dispatcher lease', () => {
  test('one holder at a time, renewing; a released lease goes to another at once', async () => {
    const key = `${prefix()}dispatcher`;
    const a = new DispatcherLease(await connection(), key, 'a', 300);
    const b = new DispatcherLease(await connection(), key, 'b', 300);
    const aGained = once(a, 'gained');
    a.start();
    await aGained;
    b.start();
    // b keeps trying every 100 ms; a renews: b never gets it while a lives.
    const bGained = once(b, 'gained');
    let bHeld = false;
    void bGained.then(() => (bHeld = true));
    await new Promise((r) => setTimeout(r, 700));
    expect(bHeld).toBe(false);
    await a.stop();
    await bGained;
    expect(b.held).toBe(true);
    await b.stop();
  });

  test('a holder that finds another process in its place says it lost the lease', async () => {
    const key = `${prefix()}dispatcher`;
    const admin = await connection();
    const a = new DispatcherLease(await connection(), key, 'a', 300);
    const gained = once(a, 'gained');
    a.start();
    await gained;
    const lost = once(a, 'lost');
    await admin.set(key, 'usurper', 'PX', 5000);
    await lost;
    expect(a.held).toBe(false);
    await a.stop();
    expect(await admin.get(key)).toBe('usurper');
  });
});

describe('start-up checks', () => {
  test('an unreachable REDIS_URL is named in the error', async () => {
    await expect(connectOrFail('redis://127.0.0.1:1', 'test')).rejects.toThrow(/REDIS_URL=redis:\/\/127\.0\.0\.1:1/);
  });

  test('a password in REDIS_URL is not shown', async () => {
    await expect(connectOrFail('redis://:sekrit-pass@127.0.0.1:1', 'test')).rejects.toThrow(/^(?!.*sekrit-pass).*REDIS_URL/);
  });

  test('a Redis without an append-only file is warned about; one with it is not', async () => {
    const r = await connection();
    expect(await checkDurability(r)).toEqual([]);
    const loose = await LocalRedisServer.start({ appendonly: false });
    try {
      const conn = await connectOrFail(loose.url, 'test');
      const warnings = await checkDurability(conn);
      conn.disconnect();
      expect(warnings).toEqual([expect.stringMatching(/appendonly/)]);
    } finally {
      await loose.close();
    }
  });
});

describe('records of a collection', () => {
  test('cross to the other process, load with a late joiner, and a claim goes to exactly one of two racing processes', async () => {
    const p = prefix();
    const a = await member(p, 'a');
    const b = await member(p, 'b');
    await a.store.collection<{ n: number }>('assets').set('x', { n: 1 });
    await until(() => b.store.collection('assets').has('x'), 'x on b');
    const claims = await Promise.all([a.store.collection('keys').claim('same', { by: 'a' }), b.store.collection('keys').claim('same', { by: 'b' })]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    const winner = claims[0] ? 'a' : 'b';
    await until(() => a.store.collection('keys').has('same') && b.store.collection('keys').has('same'), 'the claim on both');
    expect(a.store.collection('keys').get('same')).toEqual({ by: winner });
    expect(b.store.collection('keys').get('same')).toEqual({ by: winner });
    await b.store.collection('assets').delete('x');
    await until(() => !a.store.collection('assets').has('x'), 'x deleted on a');
    const c = await member(p, 'c');
    expect([...c.store.collection('keys').entries()]).toEqual([['same', { by: winner }]]);
    expect(c.store.collection('assets').size).toBe(0);
  });
});
