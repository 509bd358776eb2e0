// Idempotency-Key on the v2 API, end to end: Stripe's semantics per API key, a refused request
// gives its key back, a retry while the first is in flight is told to wait, and keys expire.
import type { ComfySimulator } from '../../src/sim/index.js';
import { IDEMPOTENCY, IdempotencyKeys } from '../../src/v2/idempotency.js';
import { backendsUp, call, imageGraph, jobWhen, startBridge, startSims, submit } from './harness.js';
import type { TestBridge } from './harness.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';

let sim: ComfySimulator;
let bridge: TestBridge;

beforeAll(async () => {
  [sim] = await startSims(1);
  bridge = await startBridge([sim.url], { API_KEYS: `alice:${ALICE},bob:${BOB}` });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

const v2Jobs = (b: TestBridge) => b.engine.jobs('v2').length;

test('same key and body: the recorded answer again, marked replayed, and no second job, also after the job ran', async () => {
  const before = v2Jobs(bridge);
  const headers = { 'idempotency-key': 'order-0001' };
  const first = await submit(bridge, imageGraph(10, 'v2/idem'), { key: ALICE, headers });
  expect(first.status).toBe(201);
  expect(first.headers.get('idempotency-replayed')).toBeNull();
  const again = await submit(bridge, imageGraph(10, 'v2/idem'), { key: ALICE, headers });
  expect(again.status).toBe(201);
  expect(again.headers.get('idempotency-replayed')).toBe('true');
  expect(again.body).toEqual(first.body);
  expect(again.headers.get('location')).toBe(first.body.urls.self);

  await jobWhen(bridge, first.body.id, ['succeeded'], ALICE);
  // The same body with its keys in another order is the same request.
  const graph = imageGraph(10, 'v2/idem');
  const reordered = Object.fromEntries(Object.entries(graph).reverse());
  const later = await call(bridge, 'POST', '/api/v2/jobs', { key: ALICE, headers, body: { workflow: reordered } });
  expect(later.status).toBe(201);
  expect(later.headers.get('idempotency-replayed')).toBe('true');
  expect(later.body).toEqual(first.body);
  expect(v2Jobs(bridge)).toBe(before + 1);
});

test('same key, another body: 422 idempotency_key_reuse; the same key under another API key is another key', async () => {
  const headers = { 'idempotency-key': 'order-0002' };
  expect((await submit(bridge, imageGraph(20), { key: ALICE, headers })).status).toBe(201);
  const reuse = await submit(bridge, imageGraph(21), { key: ALICE, headers });
  expect(reuse.status).toBe(422);
  expect(reuse.body.error.code).toBe('idempotency_key_reuse');
  // The path is part of the request: the key of a graph job is not one of a curated workflow's.
  const otherRoute = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: ALICE, headers, body: { inputs: {} } });
  expect([otherRoute.status, otherRoute.body.error.code]).toEqual([422, 'idempotency_key_reuse']);
  const bob = await submit(bridge, imageGraph(21), { key: BOB, headers });
  expect(bob.status).toBe(201);
  expect(bob.headers.get('idempotency-replayed')).toBeNull();
});

test('a refused request gives its key back: a corrected retry with the same key makes the job', async () => {
  const headers = { 'idempotency-key': 'order-0003' };
  const ui = await submit(bridge, { nodes: [], links: [] }, { key: ALICE, headers });
  expect(ui.body.error.code).toBe('workflow_format_ui');
  const invalid = await submit(bridge, { '1': { class_type: 'NoSuchNode', inputs: {} } }, { key: ALICE, headers });
  expect([invalid.status, invalid.body.error.code]).toEqual([422, 'invalid_workflow']);
  const good = await submit(bridge, imageGraph(30), { key: ALICE, headers });
  expect(good.status).toBe(201);
  expect(good.headers.get('idempotency-replayed')).toBeNull();
});

test('two identical requests at once make one job', async () => {
  const before = v2Jobs(bridge);
  const headers = { 'idempotency-key': 'order-0004' };
  const answers = await Promise.all([0, 1, 2].map(() => submit(bridge, imageGraph(40), { key: ALICE, headers })));
  const statuses = answers.map((a) => a.status);
  expect(statuses.every((s) => s === 201 || s === 409)).toBe(true);
  const made = answers.filter((a) => a.status === 201);
  expect(made.length).toBeGreaterThan(0);
  expect(new Set(made.map((a) => a.body.id)).size).toBe(1);
  for (const refused of answers.filter((a) => a.status === 409)) expect(refused.body.error.code).toBe('idempotency_conflict');
  expect(v2Jobs(bridge)).toBe(before + 1);
});

test('a key that is not 1–255 visible characters is refused with 400', async () => {
  for (const key of ['', 'x'.repeat(256), 'with space']) {
    const answer = await submit(bridge, imageGraph(50), { key: ALICE, headers: { 'idempotency-key': key } });
    expect([answer.status, answer.body.error.code]).toEqual([400, 'invalid_request']);
  }
});

describe('a request in flight, and keys that expire', () => {
  let slowSim: ComfySimulator;
  let slow: TestBridge;

  beforeAll(async () => {
    [slowSim] = await startSims(1);
    slow = await startBridge([slowSim.url], { BACKEND_TIMEOUT: '30', IDEMPOTENCY_TTL: '1' });
    await backendsUp(slow);
  });

  afterAll(async () => {
    await slow?.dispose();
    await slowSim?.close();
  });

  test('a retry while the first request is being decided gets 409 idempotency_conflict with Retry-After', async () => {
    // The same request under another key, to learn the fingerprint the door gives it.
    const probe = await submit(slow, imageGraph(60), { headers: { 'idempotency-key': 'probe-0001' } });
    expect(probe.status).toBe(201);
    const records = [...slow.engine.collection<{ state: string; fingerprint?: string; response?: { body: { id: string } } }>(IDEMPOTENCY).entries()];
    const print = records.map(([, r]) => r).find((r) => r.state === 'done' && r.response?.body.id === probe.body.id)!.fingerprint!;
    // A first request holds the key, as the door's does between claiming it and making its job
    // (a graph check against a slow backend could take that long).
    const first = await new IdempotencyKeys(slow.engine, 60_000).begin('', 'slow-0001', print, () => undefined);
    expect(first.kind).toBe('claimed');
    const headers = { 'idempotency-key': 'slow-0001' };
    const retry = await submit(slow, imageGraph(60), { headers });
    expect(retry.status).toBe(409);
    expect(retry.headers.get('retry-after')).toBe('1');
    expect(retry.body.error.code).toBe('idempotency_conflict');
    // The first is refused after all and gives the key back: the retry is made, once, then replayed.
    if (first.kind === 'claimed') await first.claimed.abandon();
    const made = await submit(slow, imageGraph(60), { headers });
    expect(made.status).toBe(201);
    const replay = await submit(slow, imageGraph(60), { headers });
    expect(replay.headers.get('idempotency-replayed')).toBe('true');
    expect(replay.body.id).toBe(made.body.id);
  });

  test('after IDEMPOTENCY_TTL the key is forgotten: the same request makes a new job', async () => {
    const headers = { 'idempotency-key': 'ttl-0001' };
    const first = await submit(slow, imageGraph(70), { headers });
    expect(first.status).toBe(201);
    // The time passing is what is tested here.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const later = await submit(slow, imageGraph(70), { headers });
    expect(later.status).toBe(201);
    expect(later.headers.get('idempotency-replayed')).toBeNull();
    expect(later.body.id).not.toBe(first.body.id);
  });
});
