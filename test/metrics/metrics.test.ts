// GET /metrics over simulated backends: the counters, gauges and histograms move as jobs run on
// both doors, bytes in and out are counted, and no label names a client, key, tenant or job.
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { previewPng } from '../../src/sim/png.js';
import { DURATION_BUCKETS } from '../../src/metrics/metrics.js';
import { backendsUp, engineEvent, engineUntil, postJson, simEvent, startSims, waitFinal } from '../e2e/harness.js';
import { ComfyWs, get, imageGraph, jobReaches, post, startDoor } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';
import { parseExposition, scrape, select, value } from './scrape.js';
import type { Scrape } from './scrape.js';

const KEY = 'metrics-test-key-0123456789';
const TENANT = 'acmetenant';
const ADMIN = 'metrics-admin-token-0123456789';
const auth = { authorization: `Bearer ${KEY}` };
const admin = { authorization: `Bearer ${ADMIN}` };
const P = 'comfy_bridge_';

let sims: ComfySimulator[];
let bridge: CompatBridge;
/** Every clientId, job id and credential the tests use: none may appear in a label. */
const secrets = new Set<string>([KEY, TENANT, ADMIN]);

beforeAll(async () => {
  sims = await startSims(2, { stepMs: 2 });
  bridge = await startDoor(
    sims.map((s) => s.url),
    { API_KEYS: `${TENANT}:${KEY}`, ADMIN_TOKEN: ADMIN },
  );
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close().catch(() => undefined)));
});

const metrics = () => scrape(bridge.url, admin);

async function submit(clientId: string, body: Record<string, unknown>): Promise<void> {
  secrets.add(clientId);
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, body, { headers: { 'content-type': 'application/json', ...auth } });
  expect(res.status).toBe(200);
}

function expectNoSecretIn(s: Scrape): void {
  for (const job of bridge.engine.jobs()) secrets.add(job.id);
  for (const sample of s.samples) {
    for (const v of Object.values(sample.labels)) {
      for (const secret of secrets) expect(v.includes(secret) ? `${sample.name} ${v}` : '').toBe('');
    }
  }
}

test('jobs are counted by workflow, door and outcome, and timed from queue to start and from start to end', async () => {
  const before = await metrics();
  await submit('metrics-invert-1', { workflow: 'invert', '1/color': 100 });
  await submit('metrics-invert-2', { workflow: 'invert', '1/color': 200 });
  await submit('metrics-fail-1', { workflow: 'fail.json' });
  const promptId = randomUUID();
  secrets.add('metrics-comfy-client');
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(123), client_id: 'metrics-comfy-client', prompt_id: promptId }, auth)).status).toBe(200);
  await Promise.all(['metrics-invert-1', 'metrics-invert-2', 'metrics-fail-1'].map((id) => waitFinal(bridge, id, TENANT)));
  await jobReaches(bridge, promptId, ['completed']);
  const after = await metrics();
  const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);

  expect(after.types.get(`${P}jobs_submitted_total`)).toBe('counter');
  expect(delta(`${P}jobs_submitted_total`, { workflow: 'invert', door: 'curated' })).toBe(2);
  expect(delta(`${P}jobs_submitted_total`, { workflow: 'fail.json', door: 'curated' })).toBe(1);
  // A raw prompt is "prompt", whatever its graph.
  expect(delta(`${P}jobs_submitted_total`, { workflow: 'prompt', door: 'comfy' })).toBe(1);
  expect(delta(`${P}jobs_finished_total`, { workflow: 'invert', door: 'curated', outcome: 'succeeded' })).toBe(2);
  expect(delta(`${P}jobs_finished_total`, { workflow: 'fail.json', door: 'curated', outcome: 'failed' })).toBe(1);
  expect(delta(`${P}jobs_finished_total`, { workflow: 'prompt', door: 'comfy', outcome: 'succeeded' })).toBe(1);
  expect(new Set(select(after, `${P}jobs_finished_total`).map((s) => s.labels.outcome))).toEqual(new Set(['succeeded', 'failed']));

  // Histograms: the buckets from 10 ms to 30 min, cumulative, +Inf equal to the count.
  expect(after.types.get(`${P}job_wait_seconds`)).toBe('histogram');
  expect(after.types.get(`${P}job_run_seconds`)).toBe('histogram');
  for (const name of [`${P}job_wait_seconds`, `${P}job_run_seconds`]) {
    const labels: Record<string, string> = name.endsWith('wait_seconds') ? { workflow: 'invert' } : { workflow: 'invert', outcome: 'succeeded' };
    const buckets = select(after, `${name}_bucket`, labels);
    expect(buckets.map((b) => b.labels.le)).toEqual([...DURATION_BUCKETS.map(String), '+Inf']);
    expect(buckets[0].labels.le).toBe('0.01');
    expect(buckets.at(-2)!.labels.le).toBe('1800');
    for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
    expect(buckets.at(-1)!.value).toBe(value(after, `${name}_count`, labels));
    expect(value(after, `${name}_count`, labels) - value(before, `${name}_count`, labels)).toBe(2);
    expect(value(after, `${name}_sum`, labels)).toBeGreaterThan(0);
  }
  expect(delta(`${P}job_run_seconds_count`, { workflow: 'fail.json', outcome: 'failed' })).toBe(1);
  expect(delta(`${P}job_wait_seconds_count`, { workflow: 'prompt' })).toBe(1);

  // The scraped text says what the registry in the process holds.
  const wait = await bridge.metrics.registry.getSingleMetric(`${P}job_wait_seconds`)!.get();
  // A histogram's values name their series (the typings leave metricName out).
  const count = wait.values.find((v) => (v as { metricName?: string }).metricName === `${P}job_wait_seconds_count` && v.labels.workflow === 'invert')!;
  expect(count.value).toBe(value(after, `${P}job_wait_seconds_count`, { workflow: 'invert' }));

  // Gauges read at scrape time.
  expect(value(after, `${P}dispatcher`)).toBe(1);
  for (const sim of sims) {
    expect(value(after, `${P}backend_up`, { backend: sim.url })).toBe(1);
    expect(value(after, `${P}backend_in_flight`, { backend: sim.url })).toBe(0);
    expect(select(after, `${P}backend_ws_reconnects_total`, { backend: sim.url })).toHaveLength(1);
  }
  const speeds = select(after, `${P}backend_seconds_per_unit`);
  expect(speeds.length).toBeGreaterThan(0);
  for (const s of speeds) expect(s.value).toBeGreaterThanOrEqual(0);
  expect(select(after, `${P}queue_depth`).map((s) => [s.labels.priority, s.value])).toEqual([
    ['high', 0],
    ['normal', 0],
    ['low', 0],
  ]);
  // Node's own, with the prefix.
  expect(after.types.get(`${P}process_cpu_user_seconds_total`)).toBe('counter');
  expect(value(after, `${P}nodejs_heap_size_used_bytes`)).toBeGreaterThan(0);
  expectNoSecretIn(after);
});

test('queue depth and our jobs on a backend while work waits and runs', async () => {
  // Long jobs fill every backend's slots; the rest wait in the bridge.
  const started = Promise.all(sims.map((s) => simEvent(s, 'started')));
  for (let i = 0; i < 6; i++) await submit(`metrics-busy-${i}`, { workflow: 'sleep.json', '2/seconds': 1 });
  await started;
  const busy = await metrics();
  const inFlight = value(busy, `${P}backend_in_flight`);
  const waiting = value(busy, `${P}queue_depth`, { priority: 'normal' });
  // Each backend runs one, and may hold one more (BACKEND_PREFETCH 1); the rest wait. None is done yet.
  for (const sim of sims) expect(value(busy, `${P}backend_in_flight`, { backend: sim.url })).toBeGreaterThanOrEqual(1);
  expect(inFlight).toBeLessThanOrEqual(4);
  expect(waiting).toBeGreaterThanOrEqual(2);
  expect(inFlight + waiting).toBe(6);
  await Promise.all(Array.from({ length: 6 }, (_, i) => waitFinal(bridge, `metrics-busy-${i}`, TENANT)));
  const idle = await metrics();
  expect(value(idle, `${P}queue_depth`)).toBe(0);
  expect(value(idle, `${P}backend_in_flight`)).toBe(0);
  expectNoSecretIn(idle);
});

test('a drained backend is still up, and draining says it takes nothing new', async () => {
  const list = await fetch(`${bridge.url}/admin/backends`, { headers: admin });
  const [first] = (await list.json()) as { id: string; url: string }[];
  const drained = await fetch(`${bridge.url}/admin/backends/${first.id}/drain`, { method: 'POST', headers: admin });
  expect(drained.status).toBe(200);
  const during = await metrics();
  expect(value(during, `${P}backend_up`, { backend: first.url })).toBe(1);
  expect(value(during, `${P}backend_draining`, { backend: first.url })).toBe(1);
  expect(value(during, `${P}backend_draining`)).toBe(1); // the other one takes work
  const resumed = await fetch(`${bridge.url}/admin/backends/${first.id}/resume`, { method: 'POST', headers: admin });
  expect(resumed.status).toBe(200);
  expect(value(await metrics(), `${P}backend_draining`)).toBe(0);
});

test('upload bytes and result bytes are counted per door', async () => {
  const before = await metrics();
  // Curated: POST /upload, then a job's results through GET /history.
  const image = previewPng([40, 80, 120]);
  const form = new FormData();
  form.append('image', new Blob([image], { type: 'image/png' }), 'up.png');
  expect((await fetch(`${bridge.url}/upload`, { method: 'POST', body: form, headers: auth })).status).toBe(200);
  await submit('metrics-results', { workflow: 'invert', '1/color': 321 });
  await waitFinal(bridge, 'metrics-results', TENANT);
  const history = await fetch(`${bridge.url}/history?clientId=metrics-results`, { headers: auth });
  expect(history.status).toBe(200);
  const served = (await history.arrayBuffer()).byteLength;

  // ComfyUI door: POST /upload/image, then /view of a result.
  const comfyForm = new FormData();
  comfyForm.append('image', new Blob([image], { type: 'image/png' }), 'metrics-up.png');
  expect((await fetch(`${bridge.door}/upload/image`, { method: 'POST', body: comfyForm, headers: auth })).status).toBe(200);
  const promptId = randomUUID();
  expect((await post(`${bridge.door}/prompt`, { prompt: imageGraph(77), client_id: 'metrics-comfy-client', prompt_id: promptId }, auth)).status).toBe(200);
  await jobReaches(bridge, promptId, ['completed']);
  const entry = (await get(`${bridge.door}/history/${promptId}`, auth)).body[promptId];
  const view = await fetch(`${bridge.door}/view?${new URLSearchParams(entry.outputs['3'].images[0])}`, { headers: auth });
  expect(view.status).toBe(200);
  const viewed = (await view.arrayBuffer()).byteLength;

  const after = await metrics();
  const delta = (name: string, door: string) => value(after, name, { door }) - value(before, name, { door });
  expect(delta(`${P}upload_bytes_total`, 'curated')).toBe(image.length);
  expect(delta(`${P}upload_bytes_total`, 'comfy')).toBe(image.length);
  expect(delta(`${P}result_bytes_total`, 'curated')).toBe(served);
  expect(delta(`${P}result_bytes_total`, 'comfy')).toBe(viewed);
  expect(after.types.get(`${P}upload_bytes_total`)).toBe('counter');
  expectNoSecretIn(after);
});

test('the v2 door: its asset uploads and downloads are counted as door v2, and so are the jobs it submits', async () => {
  const before = await metrics();
  expect(value(before, `${P}upload_bytes_total`, { door: 'v2' })).toBe(0);
  const image = previewPng([10, 20, 30]);
  const form = new FormData();
  form.append('file', new Blob([image], { type: 'image/png' }), 'v2-up.png');
  form.append('content_type', 'image/png');
  form.append('file_path', 'v2-up.png');
  const uploaded = await fetch(`${bridge.url}/api/v2/assets`, { method: 'POST', body: form, headers: auth });
  expect(uploaded.status).toBe(201);
  const asset = (await uploaded.json()) as { url: string };
  const content = await fetch(asset.url);
  expect(content.status).toBe(200);
  const downloaded = (await content.arrayBuffer()).byteLength;
  expect(downloaded).toBe(image.length);

  const job = await postJson(`${bridge.url}/api/v2/workflows/invert/jobs`, { inputs: { '1/color': 55 } }, { headers: { 'content-type': 'application/json', ...auth } });
  expect(job.status).toBe(201);
  await engineUntil(bridge.engine, () => bridge.engine.get((job.body as { id: string }).id)?.state === 'completed');

  const after = await metrics();
  const delta = (name: string, labels: Record<string, string>) => value(after, name, labels) - value(before, name, labels);
  expect(delta(`${P}upload_bytes_total`, { door: 'v2' })).toBe(image.length);
  expect(delta(`${P}result_bytes_total`, { door: 'v2' })).toBe(downloaded);
  // Not counted twice under the curated door, whose middleware the v2 door's requests never reach.
  expect(delta(`${P}upload_bytes_total`, { door: 'curated' })).toBe(0);
  expect(delta(`${P}jobs_submitted_total`, { workflow: 'invert', door: 'v2' })).toBe(1);
  expect(delta(`${P}jobs_finished_total`, { workflow: 'invert', door: 'v2', outcome: 'succeeded' })).toBe(1);
  expectNoSecretIn(after);
});

test('client websockets open, per door', async () => {
  secrets.add('metrics-ws-curated');
  secrets.add('metrics-ws-comfy');
  const before = await metrics();
  const curated = new WebSocket(`${bridge.wsUrl}/ws?clientId=metrics-ws-curated&token=${KEY}`);
  const closed = once(curated, 'close');
  await once(curated, 'message');
  const comfy = await ComfyWs.connect(bridge, 'metrics-ws-comfy', { headers: auth });
  const open = await metrics();
  expect(value(open, `${P}client_websockets`, { door: 'curated' }) - value(before, `${P}client_websockets`, { door: 'curated' })).toBe(1);
  expect(value(open, `${P}client_websockets`, { door: 'comfy' }) - value(before, `${P}client_websockets`, { door: 'comfy' })).toBe(1);
  expect(open.types.get(`${P}client_websockets`)).toBe('gauge');
  expectNoSecretIn(open);
  curated.close();
  await closed;
  await comfy.close();
});

test('a job moved off a dead backend counts one requeue, by kind of reason', async () => {
  const before = await metrics();
  const clientId = 'metrics-requeue';
  const first = Promise.race(sims.map((s) => simEvent<string>(s, 'started').then(() => s)));
  const requeued = engineEvent(bridge.engine, (e) => e.kind === 'requeued');
  await submit(clientId, { workflow: 'sleep.json', '2/seconds': 1 });
  const victim = await first;
  victim.kill();
  const event = await requeued;
  await waitFinal(bridge, clientId, TENANT);
  const after = await metrics();
  expect(after.types.get(`${P}job_requeues_total`)).toBe('counter');
  expect(value(after, `${P}job_requeues_total`) - value(before, `${P}job_requeues_total`)).toBe(1);
  expect(value(after, `${P}job_requeues_total`, { reason: 'backend_down' }) - value(before, `${P}job_requeues_total`, { reason: 'backend_down' })).toBe(1);
  // The label is the kind, never the sentence (which names the backend and the cause).
  expect(select(after, `${P}job_requeues_total`).map((s) => s.labels.reason)).not.toContain((event as { reason: string }).reason);
  expect(value(after, `${P}backend_up`, { backend: victim.url })).toBe(0);
  expectNoSecretIn(after);
});

test('webhook delivery outcomes are exposed from the start and count what the outbox reports', async () => {
  const before = await metrics();
  expect(select(before, `${P}webhook_deliveries_total`).map((s) => s.labels.outcome).sort()).toEqual(['dead', 'delivered', 'retry']);
  bridge.metrics.webhookDelivery('retry');
  bridge.metrics.webhookDelivery('delivered');
  const after = await metrics();
  expect(value(after, `${P}webhook_deliveries_total`, { outcome: 'delivered' }) - value(before, `${P}webhook_deliveries_total`, { outcome: 'delivered' })).toBe(1);
  expect(value(after, `${P}webhook_deliveries_total`, { outcome: 'retry' }) - value(before, `${P}webhook_deliveries_total`, { outcome: 'retry' })).toBe(1);
});

test('the parser reads what prom-client writes (a check of the test helper itself)', () => {
  const parsed = parseExposition('# HELP a_total x\n# TYPE a_total counter\na_total{door="curated"} 3\n');
  expect(parsed.samples).toEqual([{ name: 'a_total', labels: { door: 'curated' }, value: 3 }]);
});
