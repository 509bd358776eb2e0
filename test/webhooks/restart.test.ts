// Deliveries pending when the bridge stops are sent by the next run, under the same webhook-ids.
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, postJson, startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { Receiver, deliveries, deliveryUntil, newSecret } from './receiver.js';

let sims: ComfySimulator[];
let receiver: Receiver;
let first: TestBridge | undefined;
let second: TestBridge | undefined;

beforeAll(async () => {
  sims = await startSims(1);
});

afterAll(async () => {
  await first?.stop();
  await second?.dispose();
  await receiver?.close();
  await Promise.all(sims.map((s) => s.close()));
});

test('a delivery pending at a restart is sent after it', async () => {
  let up = false;
  receiver = await Receiver.start(() => ({ status: up ? 200 : 503 }));
  const env = { WEBHOOK_SECRET: newSecret(), WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_WINDOW: '60' };
  first = await startBridge(sims.map((s) => s.url), env);
  await backendsUp(first);
  const clientId = 'restart-client-1';
  const res = await postJson(`${first.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert' }, { headers: { 'content-type': 'application/json', 'Webhook-Url': `${receiver.url}/hook` } });
  expect(res.status).toBe(200);
  const jobId = first.engine.jobsOf(clientId)[0].id;
  await deliveryUntil(first.engine, (d) => d.id === `msg_${jobId}_started` && d.attempts >= 1);
  await deliveryUntil(first.engine, (d) => d.id === `msg_${jobId}_succeeded`);
  await first.stop();
  const dir = first.dir;
  first = undefined;
  expect(receiver.received.every((r) => r.status === 503)).toBe(true);

  up = true;
  second = await startBridge(sims.map((s) => s.url), env, dir);
  const pending = deliveries(second.engine).filter((d) => d.jobId === jobId);
  expect(pending.map((d) => d.status)).toEqual(['pending', 'pending']);
  for (const type of ['started', 'succeeded']) {
    await deliveryUntil(second.engine, (d) => d.id === `msg_${jobId}_${type}` && d.status === 'delivered');
    expect(receiver.successes(`msg_${jobId}_${type}`)).toBe(1);
  }
});
