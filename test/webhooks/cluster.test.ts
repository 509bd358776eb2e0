// Webhooks in a cluster (two bridges on one real redis-server): only the dispatcher makes and
// sends deliveries, and the process that takes over sends what was left pending.
import type { ComfySimulator } from '../../src/sim/index.js';
import { LocalRedisServer } from '../../src/cluster/local-redis-server.js';
import { backendsUp, postJson, startBridge, startSims, waitFinal } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { Receiver, deliveries, deliveryUntil, newSecret } from './receiver.js';

let redis: LocalRedisServer;
let sims: ComfySimulator[];
let receiver: Receiver;
let a: TestBridge | undefined;
let b: TestBridge | undefined;
let up = false;

beforeAll(async () => {
  redis = await LocalRedisServer.start({ appendonly: false });
  sims = await startSims(1);
  receiver = await Receiver.start(() => ({ status: up ? 200 : 503 }));
});

afterAll(async () => {
  await a?.dispose();
  await b?.dispose();
  await receiver?.close();
  await Promise.all(sims.map((s) => s.close()));
  await redis?.close();
});

test('the next dispatcher sends the deliveries the last one left pending', async () => {
  const env = {
    REDIS_URL: redis.url,
    REDIS_PREFIX: 'webhooks-test:',
    CLUSTER_LEASE: '1',
    WEBHOOK_SECRET: newSecret(),
    WEBHOOK_ALLOW_PRIVATE: '1',
    WEBHOOK_RETRY_WINDOW: '120',
  };
  a = await startBridge(sims.map((s) => s.url), env);
  await backendsUp(a);
  // A job run through A alone: A dispatches.
  expect((await postJson(`${a.url}/generate-based-workflow?clientId=cluster-warmup`, { workflow: 'invert' })).status).toBe(200);
  await waitFinal(a, 'cluster-warmup');
  expect(a.engine.isDispatcher).toBe(true);

  b = await startBridge(sims.map((s) => s.url), env);
  expect(b.engine.isDispatcher).toBe(false);
  // Submitted through the follower; the dispatcher runs it and makes its deliveries.
  const res = await postJson(`${b.url}/generate-based-workflow?clientId=cluster-client-1`, { workflow: 'invert' }, { headers: { 'content-type': 'application/json', 'Webhook-Url': `${receiver.url}/hook` } });
  expect(res.status).toBe(200);
  const jobId = b.engine.jobsOf('cluster-client-1')[0].id;
  await deliveryUntil(b.engine, (d) => d.id === `msg_${jobId}_started` && d.attempts >= 2);
  await deliveryUntil(b.engine, (d) => d.id === `msg_${jobId}_succeeded`);
  const tried = receiver.received.filter((r) => r.headers['webhook-id'] === `msg_${jobId}_started`).length;
  expect(tried).toBeGreaterThanOrEqual(2);

  await a.stop();
  up = true;
  for (const type of ['started', 'succeeded']) {
    const d = await deliveryUntil(b.engine, (x) => x.id === `msg_${jobId}_${type}` && x.status === 'delivered');
    expect(receiver.successes(d.id)).toBe(1);
  }
  expect(b.engine.isDispatcher).toBe(true);
  expect(deliveries(b.engine).filter((d) => d.jobId === jobId)).toHaveLength(2);
});
