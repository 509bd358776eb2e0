// The fair-share order over two bridge processes on one Redis: the process that does not dispatch
// computes the queue from the persisted job fields alone, and its positions are the dispatcher's,
// also once turns have been taken (dispatch times) and whichever process accepted each job.
import type { ComfySimulator } from '../../src/sim/index.js';
import { engineEvent, engineUntil, startBridgePair, startSims } from './harness.js';
import type { BridgePair, TestBridge } from './harness.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';

let pair: BridgePair;
let sims: ComfySimulator[];
let one: TestBridge;
let two: TestBridge;

beforeAll(async () => {
  sims = await startSims(1);
  pair = await startBridgePair(sims.map((s) => s.url), { API_KEYS: `alice:${ALICE},bob:${BOB}`, REDIS_PREFIX: 'fair-cluster:', BACKEND_PREFETCH: '0', CLUSTER_LEASE: '1' });
  ({ one, two } = pair);
});

afterAll(async () => {
  await pair?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
});

async function submit(bridge: TestBridge, key: string, clientId: string, seconds: number): Promise<void> {
  const res = await fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ workflow: 'sleep.json', '2/seconds': seconds }),
  });
  expect(res.status).toBe(200);
}

async function info(bridge: TestBridge, key: string, clientId: string): Promise<string> {
  const res = await fetch(`${bridge.url}/execution-info?clientId=${clientId}`, { headers: { authorization: `Bearer ${key}` } });
  return ((await res.json()) as { detail: string }).detail;
}

const queued = (bridge: TestBridge) => bridge.engine.jobs().filter((j) => j.state === 'queued').map((j) => j.id).sort();
const allFinal = (bridge: TestBridge) => bridge.engine.jobs().every((j) => ['completed', 'failed', 'cancelled'].includes(j.state));

test("a follower's queue order and positions are the dispatcher's", async () => {
  // Which process dispatches is decided by the lease: wait for one to hold it.
  while (!one.engine.isDispatcher && !two.engine.isDispatcher) await new Promise((r) => setTimeout(r, 50));
  const [dispatcher, follower] = one.engine.isDispatcher ? [one, two] : [two, one];

  // Turns taken before: alice's client "earlier-client" and bob's "before-client" have been served.
  await submit(follower, ALICE, 'earlier-client', 0);
  await submit(dispatcher, BOB, 'before-client', 0);
  await engineUntil(follower.engine, () => follower.engine.jobs().length === 2 && allFinal(follower));

  // A long job holds the one backend while the queue is built on both processes.
  // (A follower hears `started` as an event: the dispatcher writes `running` with its next commit.)
  const running = engineEvent(follower.engine, (e) => e.kind === 'started' && 'clientId' in e && e.clientId === 'blocker-client');
  await submit(follower, BOB, 'blocker-client', 120);
  await running;
  for (let i = 0; i < 4; i++) await submit(i % 2 ? follower : dispatcher, ALICE, 'flood-client', 0.01);
  await submit(follower, ALICE, 'earlier-client', 0.01);
  await submit(dispatcher, BOB, 'single-client', 0.01);
  await submit(follower, BOB, 'before-client', 0.01);
  await engineUntil(follower.engine, () => queued(follower).length === 7);
  await engineUntil(dispatcher.engine, () => queued(dispatcher).length === 7);

  const order = dispatcher.engine.waiting().map((j) => j.id);
  expect(follower.engine.waiting().map((j) => j.id)).toEqual(order);
  for (const id of order) expect(follower.engine.position(id)).toBe(dispatcher.engine.position(id));
  // Through the door of either process, the same answer.
  for (const [key, clientId] of [
    [ALICE, 'flood-client'],
    [ALICE, 'earlier-client'],
    [BOB, 'single-client'],
    [BOB, 'before-client'],
  ]) {
    expect(await info(follower, key, clientId)).toBe(await info(dispatcher, key, clientId));
  }
  // Those waiting longest for a turn first: alice's flood before her client served earlier (which came
  // back later), bob's single before his.
  const clientOf = (id: string) => dispatcher.engine.get(id)!.clientId;
  expect(order.map(clientOf).slice(0, 4)).toEqual(['flood-client', 'single-client', 'earlier-client', 'before-client']);

  const blocker = follower.engine.jobsOf('blocker-client', undefined, 'bob')[0];
  const res = await fetch(`${follower.url}/interrupt?clientId=blocker-client`, { method: 'POST', headers: { authorization: `Bearer ${BOB}` } });
  expect(res.status).toBe(200);
  await engineUntil(follower.engine, () => blocker.state === 'cancelled' || follower.engine.get(blocker.id)?.state === 'cancelled');
  await engineUntil(follower.engine, () => allFinal(follower));
  // They started in the order both processes showed.
  const started = order.map((id) => dispatcher.engine.get(id)!.dispatchedAt!);
  expect([...started].sort((a, b) => a - b)).toEqual(started);
});
