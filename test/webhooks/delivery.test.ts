// Webhooks end to end: jobs submitted through the curated door with a Webhook-Url, delivered to
// real receivers on loopback; retried, given up, timed out, refused by the address guard.
import { Webhook } from 'standardwebhooks';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, getJson, postJson, startBridge, startSims, waitFinal } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { Receivers, deliveries, deliveryUntil, newSecret } from './receiver.js';
import type { Behaviour } from './receiver.js';

const SECRET = newSecret();
let sims: ComfySimulator[];
let bridge: TestBridge;
const receivers = new Receivers();
const receiver = (behaviour: Behaviour, host?: string) => receivers.start(behaviour, host);

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startBridge(
    sims.map((s) => s.url),
    { WEBHOOK_SECRET: SECRET, WEBHOOK_ALLOW_PRIVATE: '1', WEBHOOK_RETRY_WINDOW: '2', WEBHOOK_TIMEOUT: '0.5' },
  );
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await receivers.close();
  await Promise.all(sims.map((s) => s.close()));
});

let n = 0;
/** Submit an `invert` job through the curated door with these headers; answers its id. */
async function submit(headers: Record<string, string>, workflow = 'invert'): Promise<string> {
  const clientId = `webhook-client-${++n}`;
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow }, { headers: { 'content-type': 'application/json', ...headers } });
  expect(res.status).toBe(200);
  const [job] = bridge.engine.jobsOf(clientId);
  return job.id;
}

/** The webhook attempts GET /metrics has counted, by outcome. */
async function attemptsCounted(): Promise<Record<string, number>> {
  const text = await (await fetch(`${bridge.url}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const m of text.matchAll(/^comfy_bridge_webhook_deliveries_total\{outcome="(\w+)"\} (\d+)$/gm)) counts[m[1]] = Number(m[2]);
  return counts;
}

test('a receiver that fails three times, then answers 200, gets each event once, signed, in order', async () => {
  const fails = new Map<string, number>();
  const r = await receiver((req) => {
    const id = String(req.headers['webhook-id']);
    const seen = (fails.get(id) ?? 0) + 1;
    fails.set(id, seen);
    return { status: seen <= 3 ? 500 : 200 };
  });
  const counted = await attemptsCounted();
  const jobId = await submit({ 'Webhook-Url': `${r.url}/hook?x=1` });
  const done = await deliveryUntil(bridge.engine, (d) => d.id === `msg_${jobId}_succeeded` && d.status === 'delivered');
  const started = await deliveryUntil(bridge.engine, (d) => d.id === `msg_${jobId}_started` && d.status === 'delivered');
  const now = await attemptsCounted();
  expect(now.retry - counted.retry).toBe(6);
  expect(now.delivered - counted.delivered).toBe(2);

  expect(r.successes(done.id)).toBe(1);
  expect(r.successes(started.id)).toBe(1);
  expect(r.received.filter((q) => q.headers['webhook-id'] === done.id)).toHaveLength(4);
  expect(done.attempts).toBe(4);
  expect(done.log.map((a) => a.status)).toEqual([500, 500, 500, 200]);
  // The job's start is delivered before its end is first tried.
  const firstEnd = r.received.findIndex((q) => q.headers['webhook-id'] === done.id);
  const startOk = r.received.findIndex((q) => q.headers['webhook-id'] === started.id && q.status === 200);
  expect(startOk).toBeLessThan(firstEnd);

  const wh = new Webhook(SECRET);
  for (const q of r.received) {
    const headers = { 'webhook-id': String(q.headers['webhook-id']), 'webhook-timestamp': String(q.headers['webhook-timestamp']), 'webhook-signature': String(q.headers['webhook-signature']) };
    expect(() => wh.verify(q.body, headers)).not.toThrow();
    // Every attempt of one delivery sends the same bytes.
    expect(q.body).toBe(q.headers['webhook-id'] === done.id ? done.body : started.body);
  }
  expect(() => new Webhook(newSecret()).verify(done.body, { 'webhook-id': done.id, 'webhook-timestamp': String(r.received.at(-1)!.headers['webhook-timestamp']), 'webhook-signature': String(r.received.at(-1)!.headers['webhook-signature']) })).toThrow();

  const payload = JSON.parse(done.body);
  expect(payload).toMatchObject({ type: 'job.succeeded', data: { id: jobId, status: 'succeeded', error: null } });
  expect(new Date(payload.timestamp).toISOString()).toBe(payload.timestamp);
  expect(payload.data.outputs).toHaveLength(1);
  expect(payload.data.outputs[0]).toMatchObject({ node_id: '3', type: 'image', content_type: 'image/png', name: expect.stringMatching(/\.png$/), id: expect.any(String), url: expect.stringMatching(/^\/api\/v2\/assets\/.+\/content$/) });
  expect(JSON.parse(started.body)).toMatchObject({ type: 'job.started', data: { id: jobId, status: 'running', outputs: [], error: null } });
});

test('a failed job reports job.failed with the error', async () => {
  const r = await receiver(() => ({ status: 204 }));
  const jobId = await submit({ 'Webhook-Url': r.url }, 'fail.json');
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_failed` && x.status === 'delivered');
  const payload = JSON.parse(d.body);
  expect(payload).toMatchObject({ type: 'job.failed', data: { id: jobId, status: 'failed', outputs: [] } });
  expect(payload.data.error).toMatchObject({ code: 'node_execution_error', message: expect.any(String), node_id: '2', class_type: 'TestSyncError' });
});

test('a canceled job reports job.canceled', async () => {
  const r = await receiver(() => ({ status: 200 }));
  const clientId = `webhook-cancel-${++n}`;
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'sleep.json', '2/seconds': 30 }, { headers: { 'content-type': 'application/json', 'Webhook-Url': r.url } });
  expect(res.status).toBe(200);
  const jobId = bridge.engine.jobsOf(clientId)[0].id;
  await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_started` && x.status === 'delivered');
  expect((await postJson(`${bridge.url}/interrupt?clientId=${clientId}`)).status).toBe(200);
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_canceled` && x.status === 'delivered');
  expect(JSON.parse(d.body)).toMatchObject({ type: 'job.canceled', data: { id: jobId, status: 'canceled', outputs: [], error: null } });
});

test('a receiver that always fails ends dead after the retry window, and jobs go on meanwhile', async () => {
  const r = await receiver(() => ({ status: 503, body: 'down for maintenance' }));
  const jobId = await submit({ 'Webhook-Url': r.url });
  // While the deliveries are retried, the bridge serves jobs as usual.
  const other = `webhook-plain-${++n}`;
  expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=${other}`, { workflow: 'invert' })).status).toBe(200);
  await waitFinal(bridge, other);
  expect(bridge.engine.jobsOf(other)[0].state).toBe('completed');
  expect((await getJson(`${bridge.url}/execution-info?clientId=${other}`)).body.status).toBe('closed');

  const dead = await deliveryUntil(bridge.engine, (d) => d.id === `msg_${jobId}_started` && d.status === 'dead');
  expect(dead.reason).toMatch(/retry window/);
  expect(dead.finishedAt! - dead.since).toBeLessThanOrEqual(2_000 + 500);
  expect(dead.attempts).toBeGreaterThan(1);
  expect(dead.log.at(-1)).toMatchObject({ status: 503, error: 'down for maintenance' });
  expect(r.successes(dead.id)).toBe(0);
});

test('a receiver that never answers is cut off at WEBHOOK_TIMEOUT, each attempt', async () => {
  const r = await receiver(() => 'hang');
  const jobId = await submit({ 'Webhook-Url': r.url });
  const id = `msg_${jobId}_started`;
  await r.until(() => r.abandoned.some((q) => q.headers['webhook-id'] === id));
  const d = await deliveryUntil(bridge.engine, (x) => x.id === id && x.log.length > 0);
  expect(d.log[0].error).toMatch(/no answer within 0.5 s/);
  expect(d.log[0].ms).toBeGreaterThanOrEqual(450);
  expect(d.log[0].ms).toBeLessThan(2_000);
});

test('an answer that never ends is not read beyond a few KB: delivered, and the connection dropped', async () => {
  const r = await receiver(() => ({ status: 200, endless: true }));
  const jobId = await submit({ 'Webhook-Url': r.url });
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_started` && x.status === 'delivered');
  expect(d.attempts).toBe(1);
  expect(d.log[0].ms).toBeLessThan(500);
  await r.until(() => r.abandoned.some((q) => q.headers['webhook-id'] === d.id));
});

test('a failing answer that never ends is cut short too, and only its start is kept', async () => {
  const r = await receiver(() => ({ status: 500, endless: true }));
  const jobId = await submit({ 'Webhook-Url': r.url });
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_started` && x.attempts >= 2);
  expect(d.log[0]).toMatchObject({ status: 500, error: 'x'.repeat(200) });
  expect(d.log[0].ms).toBeLessThan(500);
});

test('a redirect is not followed: 3xx is a failure, and the target hears nothing', async () => {
  const target = await receiver(() => ({ status: 200 }));
  const r = await receiver(() => ({ status: 307, headers: { location: `${target.url}/stolen` } }));
  const jobId = await submit({ 'Webhook-Url': r.url });
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_started` && x.log.length >= 2);
  expect(d.status).not.toBe('delivered');
  expect(d.log[0]).toMatchObject({ status: 307, error: expect.stringContaining('not followed') });
  expect(target.received).toHaveLength(0);
});

test('Webhook-Url values that cannot be used are refused at submission with the reason', async () => {
  const bad: [string, RegExp][] = [
    ['example.com/hook', /not an absolute URL/],
    ['ftp://example.com/x', /http:\/\/ or https:\/\//],
    ['https://user:pw@example.com/x', /credentials/],
    ['https://example.com/x#frag', /fragment/],
    [`https://example.com/${'a'.repeat(2100)}`, /at most 2048/],
  ];
  for (const [url, reason] of bad) {
    const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=webhook-bad-1`, { workflow: 'invert' }, { headers: { 'content-type': 'application/json', 'Webhook-Url': url } });
    expect(res.status).toBe(400);
    expect(res.body.detail).toMatch(reason);
  }
  expect(bridge.engine.jobsOf('webhook-bad-1')).toHaveLength(0);
});

test('a job without a webhook makes no delivery', async () => {
  const before = deliveries(bridge.engine).length;
  const clientId = `webhook-none-${++n}`;
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert' });
  await waitFinal(bridge, clientId);
  const id = bridge.engine.jobsOf(clientId)[0].id;
  expect(deliveries(bridge.engine).filter((d) => d.jobId === id)).toHaveLength(0);
  expect(deliveries(bridge.engine).length).toBeGreaterThanOrEqual(before);
});
