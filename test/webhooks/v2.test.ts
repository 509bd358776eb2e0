// Webhooks on the v2 door: the Webhook-Url header on POST /api/v2/jobs (and on a curated workflow by
// alias), refusals in the v2 envelope, Idempotency-Key counting the header, and a payload whose
// outputs are those of the job object.
import { Webhook } from 'standardwebhooks';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, call, imageGraph, jobWhen, startBridge, startSims, submit } from '../v2/harness.js';
import type { TestBridge } from '../v2/harness.js';
import { Receiver, deliveryUntil, newSecret } from './receiver.js';

const SECRET = newSecret();
let sims: ComfySimulator[];
let bridge: TestBridge;
let receiver: Receiver;

beforeAll(async () => {
  sims = await startSims(1);
  receiver = await Receiver.start(() => ({ status: 200 }));
  bridge = await startBridge(sims.map((s) => s.url), { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE: '1' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await receiver?.close();
  await Promise.all(sims.map((s) => s.close()));
});

test('a v2 job with Webhook-Url: delivered, signed, with the outputs of its job object', async () => {
  const res = await submit(bridge, imageGraph(123, 'v2/webhook'), { headers: { 'Webhook-Url': `${receiver.url}/v2` } });
  expect(res.status).toBe(201);
  const id = res.body.id as string;
  const done = await deliveryUntil(bridge.engine, (d) => d.id === `msg_${id}_succeeded` && d.status === 'delivered');
  const job = await jobWhen(bridge, id, ['succeeded']);
  const sent = receiver.received.find((r) => r.headers['webhook-id'] === done.id)!;
  const payload = new Webhook(SECRET).verify(sent.body, {
    'webhook-id': String(sent.headers['webhook-id']),
    'webhook-timestamp': String(sent.headers['webhook-timestamp']),
    'webhook-signature': String(sent.headers['webhook-signature']),
  }) as any;
  expect(payload).toMatchObject({ type: 'job.succeeded', data: { id, status: 'succeeded', error: null } });
  // The job object's outputs, but for what only a request or a backend can say (host, size).
  const strip = (o: any) => ({ ...o, url: new URL(o.url, 'http://x').pathname, size_bytes: null, url_expires_at: undefined });
  expect(payload.data.outputs.map(strip)).toEqual(job.outputs.map(strip));
  expect(payload.data.outputs.length).toBeGreaterThan(0);
});

test('a curated workflow by alias takes Webhook-Url too', async () => {
  const res = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { body: { inputs: {} }, headers: { 'Webhook-Url': `${receiver.url}/alias` } });
  expect(res.status).toBe(201);
  await deliveryUntil(bridge.engine, (d) => d.id === `msg_${res.body.id}_succeeded` && d.status === 'delivered' && d.url === `${receiver.url}/alias`);
});

test('a bad Webhook-Url is 422 invalid_webhook_url in the v2 envelope, and no job is made', async () => {
  const before = bridge.engine.jobs('v2').length;
  const res = await submit(bridge, imageGraph(7), { headers: { 'Webhook-Url': 'https://user:pw@example.com/x' } });
  expect(res.status).toBe(422);
  expect(res.body).toEqual({ error: { code: 'invalid_webhook_url', message: expect.stringMatching(/credentials/) } });
  expect(bridge.engine.jobs('v2').length).toBe(before);
});

test('Idempotency-Key: the same key with another Webhook-Url is another request', async () => {
  const key = `webhook-${Date.now()}`;
  const first = await submit(bridge, imageGraph(9), { headers: { 'Idempotency-Key': key, 'Webhook-Url': `${receiver.url}/a` } });
  expect(first.status).toBe(201);
  const again = await submit(bridge, imageGraph(9), { headers: { 'Idempotency-Key': key, 'Webhook-Url': `${receiver.url}/a` } });
  expect(again.headers.get('idempotency-replayed')).toBe('true');
  expect(again.body.id).toBe(first.body.id);
  const other = await submit(bridge, imageGraph(9), { headers: { 'Idempotency-Key': key, 'Webhook-Url': `${receiver.url}/b` } });
  expect(other.status).toBe(422);
  expect(other.body.error.code).toBe('idempotency_key_reuse');
});
