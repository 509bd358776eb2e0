// The v2 API on two bridge processes sharing one Redis (a real redis-server): an Idempotency-Key
// claimed on one process holds on the other, so two identical requests at once make one job; a
// job made through one is seen, followed and cancelled through the other.
import type { ComfySimulator } from '../../src/sim/index.js';
import { SseReader, call, engineUntil, imageGraph, jobWhen, sleepGraph, startSims, submit } from './harness.js';
import { startBridgePair } from '../e2e/harness.js';
import type { BridgePair } from '../e2e/harness.js';
import type { TestBridge } from './harness.js';

let pair: BridgePair;
let sim: ComfySimulator;
let one: TestBridge;
let two: TestBridge;

beforeAll(async () => {
  [sim] = await startSims(1);
  pair = await startBridgePair([sim.url], { REDIS_PREFIX: `v2-test-${process.pid}:`, BACKEND_PREFETCH: '0' });
  ({ one, two } = pair);
  await engineUntil(one.engine, () => one.engine.isDispatcher || two.engine.isDispatcher);
}, 60_000);

afterAll(async () => {
  await pair?.dispose();
  await sim?.close();
});

test('two identical requests at once, one to each process, make one job', async () => {
  const before = one.engine.jobs('v2').length;
  const headers = { 'idempotency-key': 'cluster-order-0001' };
  const answers = await Promise.all([submit(one, imageGraph(90), { headers }), submit(two, imageGraph(90), { headers })]);
  expect(answers.map((a) => a.status).every((s) => s === 201 || s === 409)).toBe(true);
  const made = answers.filter((a) => a.status === 201);
  expect(made.length).toBeGreaterThan(0);
  expect(new Set(made.map((a) => a.body.id)).size).toBe(1);
  const id = made[0].body.id;
  await jobWhen(one, id, ['succeeded']);
  await engineUntil(two.engine, () => two.engine.get(id)?.state === 'completed');
  expect(one.engine.jobs('v2').length).toBe(before + 1);
  expect(two.engine.jobs('v2').length).toBe(before + 1);
  // A retry on either process replays the first answer.
  for (const bridge of [one, two]) {
    const replay = await submit(bridge, imageGraph(90), { headers });
    expect([replay.status, replay.headers.get('idempotency-replayed'), replay.body.id]).toEqual([201, 'true', id]);
  }
}, 60_000);

test('a job made through one process is polled, streamed and cancelled through the other', async () => {
  const follower = one.engine.isDispatcher ? two : one;
  const dispatcher = follower === one ? two : one;
  const job = (await submit(dispatcher, sleepGraph(30))).body;
  const stream = await SseReader.open(`${follower.url}/api/v2/jobs/${job.id}/events`);
  await stream.next((f) => f.event === 'status' && f.data.status === 'running');
  const cancel = await call(follower, 'POST', `/api/v2/jobs/${job.id}/cancel`);
  expect(cancel.status).toBe(200);
  expect(['canceling', 'canceled']).toContain(cancel.body.status);
  expect(await stream.ended).toBe(true);
  expect(stream.frames.at(-1)!.data.status).toBe('canceled');
  expect((await jobWhen(dispatcher, job.id, ['canceled'])).status).toBe('canceled');
}, 60_000);
