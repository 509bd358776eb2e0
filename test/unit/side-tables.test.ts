// Side tables: a door's own record of each job, written with the job and gone with it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JobStore } from '../../src/jobs/store.js';
import { newJob } from '../../src/jobs/job.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'side-tables-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const job = (id: string) => newJob({ id, clientId: 'c', workflow: '', prompt: {}, uploads: [] });

test('values survive a restart, through the journal and through a compaction, and stay out of the job', async () => {
  const store = await JobStore.open(dir);
  const table = store.table<{ number: number }>('comfy');
  await table.set('a', { number: 1 }); // before the job exists: written with it
  await store.add(job('a'));
  await store.add(job('b'));
  await table.set('b', { number: 2 });
  await store.close();

  const again = await JobStore.open(dir);
  expect(again.table('comfy').get('a')).toEqual({ number: 1 });
  expect(again.table('comfy').get('b')).toEqual({ number: 2 });
  expect(again.get('a')).not.toHaveProperty('tables');
  expect(again.table('other').get('a')).toBeUndefined();
  await again.compact();
  await again.close();

  const compacted = await JobStore.open(dir);
  expect(compacted.table('comfy').get('b')).toEqual({ number: 2 });
  await compacted.close();
});

test('a value is dropped with its job, and deleting one is written too', async () => {
  const store = await JobStore.open(dir);
  const table = store.table<string>('door');
  await store.add(job('a'));
  await store.add(job('b'));
  await table.set('a', 'x');
  await table.set('b', 'y');
  await store.remove([store.get('a')!]);
  expect(table.get('a')).toBeUndefined();
  await table.delete('b');
  await store.close();

  const again = await JobStore.open(dir);
  expect(again.get('a')).toBeUndefined();
  expect(again.get('b')).toBeDefined();
  expect(again.table('door').get('b')).toBeUndefined();
  await again.close();
});

test('event numbers and progress noted lazily are written by the next write or at close', async () => {
  const store = await JobStore.open(dir);
  const a = job('a');
  await store.add(a);
  store.touch(a, { seq: 5, progress: { value: 0.5, node: '3' } });
  await store.close();
  const again = await JobStore.open(dir);
  expect(again.get('a')).toMatchObject({ seq: 5, progress: { value: 0.5, node: '3' } });
  await again.close();
});

test('records of a collection survive a restart and a compaction; a claim takes an id once', async () => {
  const store = await JobStore.open(dir);
  const keys = store.collection<{ job: string }>('idempotency');
  await keys.set('k1', { job: 'a' });
  await keys.set('k2', { job: 'b' });
  await keys.delete('k2');
  expect(await keys.claim('k3', { job: 'c' })).toBe(true);
  expect(await keys.claim('k3', { job: 'd' })).toBe(false);
  await store.close();

  const again = await JobStore.open(dir);
  const back = again.collection<{ job: string }>('idempotency');
  expect([...back.entries()]).toEqual([
    ['k1', { job: 'a' }],
    ['k3', { job: 'c' }],
  ]);
  await again.compact();
  await back.set('k4', { job: 'e' });
  await again.close();

  const compacted = await JobStore.open(dir);
  expect([...compacted.collection('idempotency').entries()].map(([id]) => id)).toEqual(['k1', 'k3', 'k4']);
  expect(compacted.collection('other').size).toBe(0);
  await compacted.close();
});
