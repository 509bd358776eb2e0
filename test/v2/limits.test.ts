// The v2 API's limits and the curated workflows by alias: a body over MAX_PROMPT_BYTES (413), a
// graph's strings over the ComfyUI door's caps, a full queue (429 queue_full with Retry-After, for
// MAX_QUEUE and for MAX_JOBS_PER_CLIENT), inputs checked as on the curated door, and a job swept
// after its retention.
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, call, engineUntil, imageGraph, jobWhen, sleepGraph, startBridge, startSims, submit } from './harness.js';
import type { TestBridge } from './harness.js';

const A = 'key-a-00000000000001';
const B = 'key-b-00000000000002';
const C = 'key-c-00000000000003';

let sim: ComfySimulator;
let bridge: TestBridge;

beforeAll(async () => {
  [sim] = await startSims(1);
  bridge = await startBridge([sim.url], {
    API_KEYS: `a:${A},b:${B},c:${C}`,
    BACKEND_PREFETCH: '0',
    MAX_PROMPT_BYTES: '200000',
    MAX_QUEUE: '2',
    MAX_JOBS_PER_CLIENT: '1',
  });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

test('a body over MAX_PROMPT_BYTES is 413 in the envelope; a string over the graph caps is 422 with the node', async () => {
  const big = imageGraph();
  big['1']._meta.title = 'x'.repeat(300_000);
  const tooLarge = await submit(bridge, big, { key: A });
  expect(tooLarge.status).toBe(413);
  expect(tooLarge.body.error).toEqual({ code: 'payload_too_large', message: expect.stringContaining('MAX_PROMPT_BYTES') });

  const long = imageGraph();
  long['3'].inputs.filename_prefix = 'p'.repeat(2000);
  const capped = await submit(bridge, long, { key: A });
  expect(capped.status).toBe(422);
  expect(capped.body.error).toMatchObject({
    code: 'invalid_workflow',
    details: { node_errors: { '3': [{ field: 'filename_prefix', reason: 'value_too_long', class_type: 'SaveImage' }] } },
  });
});

test('a full queue is 429 queue_full with Retry-After: a key\'s own limit (MAX_JOBS_PER_CLIENT) and the bridge\'s (MAX_QUEUE)', async () => {
  const first = await submit(bridge, sleepGraph(30), { key: A });
  expect(first.status).toBe(201);
  const own = await submit(bridge, sleepGraph(30), { key: A });
  expect(own.status).toBe(429);
  expect(own.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(own.body.error).toEqual({ code: 'queue_full', message: expect.stringContaining('MAX_JOBS_PER_CLIENT') });

  const second = await submit(bridge, sleepGraph(30), { key: B });
  expect(second.status).toBe(201);
  const full = await submit(bridge, sleepGraph(30), { key: C });
  expect(full.status).toBe(429);
  expect(full.headers.get('retry-after')).toMatch(/^\d+$/);
  expect(full.body.error).toEqual({ code: 'queue_full', message: expect.stringContaining('MAX_QUEUE') });
  // The same through a curated workflow.
  const curated = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: C, body: { inputs: {} } });
  expect([curated.status, curated.body.error.code]).toEqual([429, 'queue_full']);

  await call(bridge, 'POST', first.body.urls.cancel, { key: A });
  await call(bridge, 'POST', second.body.urls.cancel, { key: B });
  await jobWhen(bridge, first.body.id, ['canceled'], A);
  await jobWhen(bridge, second.body.id, ['canceled'], B);
});

test('a curated workflow by alias: its inputs are checked as on the curated door, every problem in one 422', async () => {
  const made = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: A, body: { inputs: { '1/color': 255, '1/width': 64, '1/height': 32 } } });
  expect(made.status).toBe(201);
  expect(bridge.engine.get(made.body.id)).toMatchObject({ door: 'v2', workflow: 'invert', tenant: 'a' });
  const done = await jobWhen(bridge, made.body.id, ['succeeded', 'failed'], A);
  expect(done.status).toBe('succeeded');
  expect(done.outputs).toHaveLength(1);

  const bad = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: A, body: { inputs: { '1/color': 'red', '1/width': 1e9, '9/nothing': 1 } } });
  expect(bad.status).toBe(422);
  expect(bad.body.error.code).toBe('invalid_inputs');
  expect(bad.body.error.details.problems).toHaveLength(3);
  expect(bad.body.error.details.problems.join('\n')).toMatch(/"1\/color"[\s\S]*"1\/width"[\s\S]*unknown input "9\/nothing"/);

  // No body at all: the workflow's defaults.
  const defaults = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: A });
  expect(defaults.status).toBe(201);
  expect((await jobWhen(bridge, defaults.body.id, ['succeeded', 'failed'], A)).status).toBe('succeeded');

  const unknown = await call(bridge, 'POST', '/api/v2/workflows/no-such-workflow/jobs', { key: A, body: { inputs: {} } });
  expect([unknown.status, unknown.body.error.code]).toEqual([404, 'not_found']);
  const extra = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: A, body: { inputs: {}, webhook_url: 'https://example.com' } });
  expect([extra.status, extra.body.error.code, extra.body.error.details.reserved]).toEqual([422, 'invalid_inputs', ['webhook_url']]);
  const notObject = await call(bridge, 'POST', '/api/v2/workflows/invert/jobs', { key: A, body: { inputs: [1] } });
  expect([notObject.status, notObject.body.error.code]).toEqual([422, 'invalid_inputs']);
});

test('once the engine sweeps a finished job (a day after it ended), it is gone: 404', async () => {
  const made = await submit(bridge, imageGraph(7, 'v2/swept'), { key: B });
  const done = await jobWhen(bridge, made.body.id, ['succeeded'], B);
  await bridge.engine.sweep(Date.parse(done.completed_at) + 24 * 3600_000 + 1);
  const gone = await call(bridge, 'GET', made.body.urls.self, { key: B });
  expect([gone.status, gone.body.error.code]).toEqual([404, 'not_found']);
});

test('with no backend up, GET /api/v2/health is 503 unavailable in the envelope', async () => {
  const [lone] = await startSims(1);
  const alone = await startBridge([lone.url]);
  try {
    await backendsUp(alone);
    await lone.close();
    await engineUntil(alone.engine, () => alone.engine.healthyBackends().length === 0);
    const health = await call(alone, 'GET', '/api/v2/health');
    expect(health.status).toBe(503);
    expect(health.body.error).toMatchObject({ code: 'unavailable', details: { checks: { store: true, backends: 0 } } });
  } finally {
    await alone.dispose();
  }
});
