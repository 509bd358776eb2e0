// The v2 API's jobs end to end over a simulated ComfyUI: submit, poll, outputs as assets, failure
// details, queue positions, cancel (queued and running), every refusal in the error envelope, keys,
// and jobs of the other doors seen by id.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { outputAssetId } from '../../src/v2/asset-ids.js';
import { startDoor } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';
import { backendsUp, call, imageGraph, jobWhen, simEvent, sleepGraph, startSims, submit } from './harness.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';
const ADMIN = 'admin-token-00000003';

let sim: ComfySimulator;
let bridge: CompatBridge;
const interrupts: (string | null)[] = [];

beforeAll(async () => {
  [sim] = await startSims(1);
  sim.on('interrupt', (id: string | null) => interrupts.push(id));
  bridge = await startDoor([sim.url], { API_KEYS: `alice:${ALICE},bob:${BOB}`, ADMIN_TOKEN: ADMIN, BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

test('a graph is submitted (201 with its links), runs, and its outputs are assets with sizes and links', async () => {
  const graph = imageGraph(0x336699, 'v2/flow');
  const created = await submit(bridge, graph, { key: ALICE });
  expect(created.status).toBe(201);
  const job = created.body;
  expect(job).toMatchObject({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    status: 'queued',
    started_at: null,
    completed_at: null,
    progress: null,
    outputs: [],
    error: null,
    urls: {
      self: `${bridge.url}/api/v2/jobs/${job.id}`,
      events: `${bridge.url}/api/v2/jobs/${job.id}/events`,
      cancel: `${bridge.url}/api/v2/jobs/${job.id}/cancel`,
    },
  });
  expect(created.headers.get('location')).toBe(job.urls.self);
  expect(created.headers.get('idempotency-replayed')).toBeNull();
  // Durably recorded before the answer, as a v2 job.
  expect(bridge.engine.get(job.id)).toMatchObject({ door: 'v2', clientId: 'v2', tenant: 'alice' });

  const done = await jobWhen(bridge, job.id, ['succeeded', 'failed'], ALICE);
  expect(done.status).toBe('succeeded');
  expect(done.progress).toEqual({ value: 1, nodes_done: 4, nodes_total: 4, current_node: null, current_node_class: null, step: null, steps: null, message: null });
  expect(Date.parse(done.expires_at) - Date.parse(done.completed_at)).toBe(24 * 3600_000);
  expect(done.metrics.queue_ms).toBeGreaterThanOrEqual(0);
  expect(done.metrics.execution_ms).toBeGreaterThanOrEqual(0);
  expect(done.error).toBeNull();
  expect(done.queue_position).toBeNull();

  // One file of the SaveImage node and one of the PreviewImage node, each an asset.
  expect(done.outputs.map((o: any) => o.node_id)).toEqual(['3', '4']);
  for (const output of done.outputs) {
    const file = bridge.engine.get(job.id)!.outputs.find((f) => f.filename === output.name)!;
    expect(output).toEqual({
      node_id: expect.any(String),
      name: file.filename,
      type: 'image',
      content_type: 'image/png',
      size_bytes: expect.any(Number),
      id: outputAssetId(job.id, file),
      hash: null,
      url: `${bridge.url}/api/v2/assets/${outputAssetId(job.id, file)}/content`,
      url_expires_at: done.expires_at,
    });
    const bytes = await fetch(`${sim.url}/view?${new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type })}`).then((r) => r.arrayBuffer());
    expect(output.size_bytes).toBe(bytes.byteLength);
  }
});

test('a node that fails: the job is failed with the node, its class, the message and the traceback', async () => {
  const graph = {
    '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0 } },
    '2': { class_type: 'TestSyncError', inputs: { value: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'v2/fail' } },
  };
  const created = await submit(bridge, graph, { key: ALICE });
  expect(created.status).toBe(201);
  const failed = await jobWhen(bridge, created.body.id, ['succeeded', 'failed'], ALICE);
  expect(failed.status).toBe('failed');
  expect(failed.error).toEqual({
    code: 'node_execution_error',
    message: 'RuntimeError: Intentional sync execution error for testing',
    node_id: '2',
    class_type: 'TestSyncError',
    traceback: expect.stringContaining('raise RuntimeError("Intentional sync execution error for testing")'),
  });
  expect(failed.outputs).toEqual([]);
});

test('queue positions while waiting; cancel of a queued job (at once) and of a running one (canceling, then canceled on its backend)', async () => {
  const started = simEvent<string>(sim, 'started');
  const running = (await submit(bridge, sleepGraph(30), { key: ALICE })).body;
  await started;
  expect((await jobWhen(bridge, running.id, ['running'], ALICE)).queue_position).toBeNull();
  const second = (await submit(bridge, sleepGraph(30), { key: ALICE })).body;
  const third = (await submit(bridge, sleepGraph(30), { key: ALICE })).body;
  expect((await call(bridge, 'GET', second.urls.self, { key: ALICE })).body).toMatchObject({ status: 'queued', queue_position: 1, progress: null });
  expect((await call(bridge, 'GET', third.urls.self, { key: ALICE })).body).toMatchObject({ status: 'queued', queue_position: 2 });

  // A queued job is cancelled at once: the backend never hears of it.
  const cancelQueued = await call(bridge, 'POST', second.urls.cancel, { key: ALICE });
  expect(cancelQueued.status).toBe(200);
  expect(cancelQueued.body).toMatchObject({ id: second.id, status: 'canceled', queue_position: null, error: null });
  expect((await call(bridge, 'GET', third.urls.self, { key: ALICE })).body.queue_position).toBe(1);

  // A running one is canceling until its backend has stopped it; only that prompt is interrupted.
  interrupts.length = 0;
  const cancelRunning = await call(bridge, 'POST', running.urls.cancel, { key: ALICE });
  expect(cancelRunning.status).toBe(200);
  expect(cancelRunning.body.status).toBe('canceling');
  const canceled = await jobWhen(bridge, running.id, ['canceled'], ALICE);
  expect(canceled).toMatchObject({ status: 'canceled', error: null });
  expect(canceled.metrics.execution_ms).toBeGreaterThanOrEqual(0);
  expect(interrupts).toEqual([running.id]);
  // Idempotent: cancelling a final job answers it as it is.
  const again = await call(bridge, 'POST', running.urls.cancel, { key: ALICE });
  expect(again.status).toBe(200);
  expect(again.body.status).toBe('canceled');

  // The third one runs next; cancel it too.
  await jobWhen(bridge, third.id, ['running'], ALICE);
  await call(bridge, 'POST', third.urls.cancel, { key: ALICE });
  expect((await jobWhen(bridge, third.id, ['canceled'], ALICE)).status).toBe('canceled');
  expect(sim.receivedPrompts().some((p) => p.promptId === second.id)).toBe(false);
});

test('another key\'s job answers exactly as a missing one, on every route; the admin token sees it', async () => {
  const job = (await submit(bridge, imageGraph(1, 'v2/alice'), { key: ALICE })).body;
  await jobWhen(bridge, job.id, ['succeeded'], ALICE);
  const missing = randomUUID();
  for (const [method, suffix] of [['GET', ''], ['POST', '/cancel'], ['GET', '/events']] as const) {
    const bob = await call(bridge, method, `/api/v2/jobs/${job.id}${suffix}`, { key: BOB });
    const none = await call(bridge, method, `/api/v2/jobs/${missing}${suffix}`, { key: BOB });
    expect(bob.status).toBe(404);
    expect(none.status).toBe(404);
    expect(bob.body.error.code).toBe('not_found');
    expect(bob.body.error.message.replace(job.id, 'ID')).toBe(none.body.error.message.replace(missing, 'ID'));
  }
  expect((await call(bridge, 'GET', `/api/v2/jobs/${job.id}`, { key: ADMIN })).body.status).toBe('succeeded');
});

test('jobs of the curated and ComfyUI doors are seen here by id, by their own key only', async () => {
  const clientId = 'curated-client-0001';
  const curated = await call(bridge, 'POST', `/generate-based-workflow?clientId=${clientId}`, { key: ALICE, body: { workflow: 'invert' } });
  expect(curated.status).toBe(200);
  const curatedJob = bridge.engine.jobsOf(clientId, undefined, 'alice')[0];
  const promptId = randomUUID();
  const comfy = await fetch(`${bridge.door}/prompt`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ALICE}` },
    body: JSON.stringify({ prompt: imageGraph(2, 'v2/comfy'), prompt_id: promptId }),
  });
  expect(comfy.status).toBe(200);
  for (const id of [curatedJob.id, promptId]) {
    const seen = await jobWhen(bridge, id, ['succeeded'], ALICE);
    expect(seen.outputs.length).toBeGreaterThan(0);
    expect((await call(bridge, 'GET', `/api/v2/jobs/${id}`, { key: BOB })).status).toBe(404);
  }
});

test('every refusal is the error envelope: 401, 404, 405, 415, 400 and the 422s of a submission', async () => {
  const unauth = await call(bridge, 'GET', `/api/v2/jobs/${randomUUID()}`);
  expect(unauth.status).toBe(401);
  expect(unauth.headers.get('www-authenticate')).toBe('Bearer');
  expect(unauth.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
  expect((await call(bridge, 'POST', '/api/v2/jobs', { key: 'not-a-key-at-all-000', body: { workflow: {} } })).body.error.code).toBe('unauthorized');

  const unknownRoute = await call(bridge, 'GET', '/api/v2/nothing/here', { key: ALICE });
  expect(unknownRoute.status).toBe(404);
  expect(unknownRoute.body.error.code).toBe('not_found');
  const wrongMethod = await call(bridge, 'DELETE', `/api/v2/jobs/${randomUUID()}`, { key: ALICE });
  expect(wrongMethod.status).toBe(405);
  expect(wrongMethod.headers.get('allow')).toContain('GET');
  expect(wrongMethod.body.error.code).toBe('method_not_allowed');
  const wrongType = await call(bridge, 'POST', '/api/v2/jobs', { key: ALICE, body: 'workflow=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  expect([wrongType.status, wrongType.body.error.code]).toEqual([415, 'unsupported_media_type']);

  const cases: [unknown, number, string, Record<string, unknown>?][] = [
    ['{"workflow": ', 400, 'invalid_request'],
    [[1, 2], 400, 'invalid_request'],
    [{}, 422, 'invalid_workflow', { field: 'workflow' }],
    [{ workflow: 'txt2img' }, 422, 'invalid_workflow', { field: 'workflow' }],
    [{ workflow: { nodes: [], links: [] } }, 422, 'workflow_format_ui'],
    [{ nodes: [{ id: 1 }], links: [] }, 422, 'workflow_format_ui'],
    [{ workflow: imageGraph(), webhook_url: 'https://example.com/hook' }, 422, 'invalid_workflow', { fields: ['webhook_url'], reserved: ['webhook_url'] }],
    [{ workflow: imageGraph(), inputs: {} }, 422, 'invalid_workflow', { fields: ['inputs'], reserved: ['inputs'] }],
    [{ workflow: imageGraph(), speed: 1 }, 422, 'invalid_workflow', { fields: ['speed'] }],
    [{ workflow: imageGraph(), priority: 1 }, 422, 'invalid_priority', { field: 'priority' }],
    [{ workflow: {} }, 422, 'invalid_workflow'],
  ];
  for (const [body, status, code, details] of cases) {
    const answer = await call(bridge, 'POST', '/api/v2/jobs', { key: ALICE, body });
    expect([JSON.stringify(body), answer.status, answer.body?.error?.code]).toEqual([JSON.stringify(body), status, code]);
    expect(answer.body.error.message).toEqual(expect.any(String));
    if (details) expect(answer.body.error.details).toMatchObject(details);
  }

  // Checked against the pool's /object_info, with details per node.
  const unknownClass = await submit(bridge, { '1': { class_type: 'NoSuchNode', inputs: {} } }, { key: ALICE });
  expect(unknownClass.status).toBe(422);
  expect(unknownClass.body.error).toMatchObject({
    code: 'invalid_workflow',
    message: 'Node 1 (NoSuchNode): Cannot execute because node NoSuchNode does not exist.',
    details: { node_errors: { '1': [{ reason: 'invalid_prompt', class_type: 'NoSuchNode' }] } },
  });
  const graph = imageGraph();
  delete graph['3'].inputs.images;
  graph['1'].inputs.width = 'wide';
  const badInputs = await submit(bridge, graph, { key: ALICE });
  expect(badInputs.status).toBe(422);
  expect(badInputs.body.error.details.node_errors).toEqual({
    '1': [expect.objectContaining({ field: 'width', reason: 'invalid_input_type', class_type: 'EmptyImage' })],
    '3': [expect.objectContaining({ field: 'images', reason: 'required_input_missing', class_type: 'SaveImage' })],
  });
  expect(badInputs.body.error.message).toMatch(/^Node \d \((EmptyImage|SaveImage)\): .* \(and 1 more problem\)$/);
  // Nothing refused was recorded.
  expect(bridge.engine.jobs('v2').filter((j) => j.tenant === 'bob')).toEqual([]);
});

test('GET /api/v2/health is open and says whether the bridge is ready', async () => {
  const health = await call(bridge, 'GET', '/api/v2/health');
  expect(health.status).toBe(200);
  expect(health.body).toEqual({ status: 'healthy', checks: { doors: true, store: true, backends: 1 } });
});
