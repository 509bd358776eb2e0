// Webhooks with API keys: a key's default URL and its own secret, and the operator's routes
// (admin token) to list, show and redeliver deliveries.
import { Webhook } from 'standardwebhooks';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, postJson, startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { Receiver, deliveryUntil, newSecret } from './receiver.js';
import type { Received } from './receiver.js';

const ALICE = 'alice-key-0123456789abcdef';
const BOB = 'bob-key-0123456789abcdef00';
const ADMIN = 'admin-token-0123456789abcdef';
const ALICE_SECRET = newSecret();
const SHARED_SECRET = newSecret();

let sims: ComfySimulator[];
let bridge: TestBridge;
let aliceHooks: Receiver;
let bobHooks: Receiver;
/** What bob's receiver answers, per request. */
let bobAnswer = 500;

beforeAll(async () => {
  sims = await startSims(1);
  aliceHooks = await Receiver.start(() => ({ status: 200 }));
  bobHooks = await Receiver.start(() => ({ status: bobAnswer }));
  bridge = await startBridge(sims.map((s) => s.url), {
    API_KEYS: `alice:${ALICE},bob:${BOB}`,
    ADMIN_TOKEN: ADMIN,
    WEBHOOK_SECRET: SHARED_SECRET,
    WEBHOOK_SECRETS: `alice:${ALICE_SECRET}`,
    WEBHOOKS: `alice:${aliceHooks.url}/alice`,
    WEBHOOK_ALLOW_PRIVATE: '1',
    WEBHOOK_RETRY_WINDOW: '600',
  });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all([aliceHooks, bobHooks].map((r) => r?.close()));
  await Promise.all(sims.map((s) => s.close()));
});

let n = 0;
async function submit(key: string, headers: Record<string, string> = {}): Promise<string> {
  const clientId = `operator-client-${++n}`;
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert' }, { headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, ...headers } });
  expect(res.status).toBe(200);
  return bridge.engine.jobs().find((j) => j.clientId === clientId)!.id;
}

async function admin(path: string, init: RequestInit = {}, token = ADMIN): Promise<{ status: number; body: any }> {
  const res = await fetch(`${bridge.url}/admin/webhooks${path}`, { ...init, headers: { 'x-admin-token': token } });
  return { status: res.status, body: await res.json() };
}

function verified(secret: string, r: Received): unknown {
  return new Webhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });
}

test("a key's default URL hears of its jobs, signed with the key's own secret", async () => {
  const jobId = await submit(ALICE);
  await deliveryUntil(bridge.engine, (d) => d.id === `msg_${jobId}_succeeded` && d.status === 'delivered');
  const mine = aliceHooks.received.filter((r) => String(r.headers['webhook-id']).includes(jobId));
  expect(mine.map((r) => r.headers['webhook-id'])).toEqual([`msg_${jobId}_started`, `msg_${jobId}_succeeded`]);
  for (const r of mine) {
    expect(verified(ALICE_SECRET, r)).toMatchObject({ data: { id: jobId } });
    expect(() => verified(SHARED_SECRET, r)).toThrow();
  }
});

test('the operator routes need the admin token', async () => {
  expect((await admin('', {}, ALICE)).status).toBe(403);
  const res = await fetch(`${bridge.url}/admin/webhooks`);
  expect(res.status).toBe(401);
  expect((await admin('')).status).toBe(200);
});

test('with API keys and no ADMIN_TOKEN, no key is the operator of deliveries', async () => {
  const keysOnly = await startBridge(sims.map((s) => s.url), { API_KEYS: `alice:${ALICE}` });
  try {
    const res = await fetch(`${keysOnly.url}/admin/webhooks`, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { detail: string }).detail).toMatch(/set ADMIN_TOKEN/);
  } finally {
    await keysOnly.dispose();
  }
});

test('list by status, page by cursor, show one with its attempts', async () => {
  bobAnswer = 500;
  const failing = await submit(BOB, { 'Webhook-Url': `${bobHooks.url}/bob` });
  await deliveryUntil(bridge.engine, (d) => d.id === `msg_${failing}_started` && d.attempts >= 2);

  const pending = await admin('?status=pending');
  expect(pending.status).toBe(200);
  expect(pending.body.deliveries.map((d: any) => d.id)).toContain(`msg_${failing}_started`);
  for (const d of pending.body.deliveries) expect(d.status).toBe('pending');

  const delivered = await admin('?status=delivered');
  expect(delivered.body.deliveries.length).toBeGreaterThanOrEqual(2);
  for (const d of delivered.body.deliveries) expect(d).toMatchObject({ status: 'delivered', attempts: 1, last_attempt: { status_code: 200 } });

  // Every delivery once, newest first, one per page.
  const all = (await admin('?limit=500')).body.deliveries.map((d: any) => d.id);
  const paged: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: any } = await admin(`?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.body.deliveries.length).toBeLessThanOrEqual(1);
    paged.push(...page.body.deliveries.map((d: any) => d.id));
    cursor = page.body.next_cursor;
  } while (cursor);
  expect(paged).toEqual(all);
  expect(all.length).toBeGreaterThanOrEqual(4);

  const one = await admin(`/msg_${failing}_started`);
  expect(one.status).toBe(200);
  expect(one.body).toMatchObject({ id: `msg_${failing}_started`, type: 'job.started', job_id: failing, tenant: 'bob', url: `${bobHooks.url}/bob`, status: 'pending', payload: { type: 'job.started', data: { id: failing } } });
  expect(one.body.attempts_shown.length).toBeGreaterThanOrEqual(2);
  expect(one.body.attempts_shown[0]).toMatchObject({ status_code: 500, at: expect.any(String), duration_ms: expect.any(Number) });

  expect((await admin('?status=lost')).status).toBe(400);
  expect((await admin('?limit=0')).status).toBe(400);
  expect((await admin('?cursor=garbage')).status).toBe(400);
  expect((await admin('/msg_nope')).status).toBe(404);
  // A pending delivery is not sent again by hand.
  expect((await admin(`/msg_${failing}_started/redeliver`, { method: 'POST' })).status).toBe(409);
  bobAnswer = 200;
  await deliveryUntil(bridge.engine, (d) => d.id === `msg_${failing}_succeeded` && d.status === 'delivered');
});

test('redeliver: a dead delivery is sent again with the same webhook-id, then a delivered one', async () => {
  // 410 Gone: given up at once.
  bobAnswer = 410;
  const jobId = await submit(BOB, { 'Webhook-Url': `${bobHooks.url}/gone` });
  const id = `msg_${jobId}_started`;
  const dead = await deliveryUntil(bridge.engine, (d) => d.id === id && d.status === 'dead');
  expect(dead.reason).toMatch(/410/);
  expect((await admin('?status=dead')).body.deliveries.map((d: any) => d.id)).toContain(id);

  bobAnswer = 200;
  const again = await admin(`/${id}/redeliver`, { method: 'POST' });
  expect(again.status).toBe(202);
  expect(again.body).toMatchObject({ id, status: 'pending', reason: null });
  const delivered = await deliveryUntil(bridge.engine, (d) => d.id === id && d.status === 'delivered');
  expect(delivered.attempts).toBe(2);

  expect((await admin(`/${id}/redeliver`, { method: 'POST' })).status).toBe(202);
  await deliveryUntil(bridge.engine, (d) => d.id === id && d.status === 'delivered' && d.attempts === 3);
  const sent = bobHooks.received.filter((r) => r.headers['webhook-id'] === id);
  expect(sent.map((r) => r.status)).toEqual([410, 200, 200]);
  expect(new Set(sent.map((r) => r.body)).size).toBe(1);
  for (const r of sent) expect(verified(SHARED_SECRET, r)).toMatchObject({ type: 'job.started', data: { id: jobId } });
});
