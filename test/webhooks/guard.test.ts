// The address guard at work: with WEBHOOK_ALLOW_PRIVATE naming only 127.0.0.2 (standing in for a
// public receiver), loopback 127.0.0.1 is refused however it is reached: named in the URL, behind
// a host name, or as a redirect's target.
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, postJson, startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { Receivers, deliveryUntil, newSecret } from './receiver.js';
import type { Behaviour } from './receiver.js';

let sims: ComfySimulator[];
let bridge: TestBridge;
const receivers = new Receivers();
const receiver = (behaviour: Behaviour, host?: string) => receivers.start(behaviour, host);

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startBridge(
    sims.map((s) => s.url),
    { WEBHOOK_SECRET: newSecret(), WEBHOOK_ALLOW_PRIVATE: '127.0.0.2', WEBHOOK_RETRY_WINDOW: '60' },
  );
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await receivers.close();
  await Promise.all(sims.map((s) => s.close()));
});

let n = 0;
async function submit(url: string): Promise<{ status: number; detail?: string; jobId?: string }> {
  const clientId = `guard-client-${++n}`;
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert' }, { headers: { 'content-type': 'application/json', 'Webhook-Url': url } });
  return { status: res.status, detail: res.body?.detail, jobId: bridge.engine.jobsOf(clientId)[0]?.id };
}

test('an allowed address is delivered to', async () => {
  const r = await receiver(() => ({ status: 200 }), '127.0.0.2');
  const { jobId } = await submit(`${r.url}/ok`);
  await deliveryUntil(bridge.engine, (d) => d.id === `msg_${jobId}_succeeded` && d.status === 'delivered');
  expect(r.received.length).toBe(2);
});

test('a loopback address in the URL is refused at submission', async () => {
  const target = await receiver(() => ({ status: 200 }));
  for (const url of [target.url, 'http://[::1]:9/x', 'http://[::ffff:127.0.0.1]:9/x', 'http://169.254.169.254/latest/meta-data', 'http://10.1.2.3/x', 'http://0.0.0.0:9/']) {
    const res = await submit(url);
    expect(res.status).toBe(400);
    expect(res.detail).toMatch(/address is refused: .* is (loopback|link-local|private|unspecified)/);
  }
  expect(target.received).toHaveLength(0);
});

test('a host name that resolves to loopback is refused when connecting, and given up at once', async () => {
  const target = await receiver(() => ({ status: 200 }));
  const { status, jobId } = await submit(target.url.replace('127.0.0.1', 'localhost'));
  expect(status).toBe(200);
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_started` && x.status === 'dead');
  expect(d.attempts).toBe(1);
  expect(d.reason).toMatch(/refused by the address guard: localhost resolves to no public address \(127\.0\.0\.1 is loopback/);
  expect(target.received).toHaveLength(0);
});

test('a redirect to 127.0.0.1 is not followed', async () => {
  const target = await receiver(() => ({ status: 200 }));
  const r = await receiver(() => ({ status: 302, headers: { location: `${target.url}/internal` } }), '127.0.0.2');
  const { jobId } = await submit(`${r.url}/hook`);
  const d = await deliveryUntil(bridge.engine, (x) => x.id === `msg_${jobId}_started` && x.attempts >= 2);
  expect(d.status).toBe('pending');
  expect(d.log.map((a) => a.status)).toEqual([302, 302]);
  expect(d.log[0].error).toBe(`redirect to ${target.url}/internal not followed`);
  expect(target.received).toHaveLength(0);
});
