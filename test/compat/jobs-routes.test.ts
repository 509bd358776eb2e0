// ComfyUI's jobs API on the door: list, detail, cancel one, cancel many, over the caller's own
// prompts. One backend taking one prompt at a time, so the rest wait; two keys and an admin.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, call, get, imageGraph, jobReaches, post, sleepGraph, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';
const ADMIN = 'admin-token-00000003';
const asAlice = { authorization: `Bearer ${ALICE}` };
const asBob = { authorization: `Bearer ${BOB}` };
const asAdmin = { 'x-admin-token': ADMIN };

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url), { API_KEYS: `alice:${ALICE},bob:${BOB}`, ADMIN_TOKEN: ADMIN, BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

async function queue(prompt: Record<string, unknown>, extra: Record<string, unknown> = {}, as = asAlice): Promise<string> {
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt, client_id: 'jobs-client', prompt_id: promptId, ...extra }, as);
  expect(res.status).toBe(200);
  return promptId;
}

const jobs = (query = '', as: Record<string, string> = asAlice) => get(`${bridge.door}/api/jobs${query}`, as);
const ids = (reply: { body: any }) => reply.body.jobs.map((j: { id: string }) => j.id);

test('list and detail: running, pending and a front prompt in its place; another key sees none of it', async () => {
  const running = await queue(sleepGraph(60, 'jobs-running'));
  await jobReaches(bridge, running, ['running']);
  const pending = await queue(imageGraph(7001, 'door/jobs'));
  const front = await queue(imageGraph(7002, 'door/jobs'), { front: true, extra_data: { extra_pnginfo: { workflow: { id: 'wf-front' } } } });

  // /queue runs the front prompt first; the jobs API shows it with ComfyUI's negative number.
  expect((await get(`${bridge.door}/queue`, asAlice)).body.queue_pending.map((i: unknown[]) => i[1])).toEqual([front, pending]);
  const list = await jobs();
  expect(list.status).toBe(200);
  const byId = Object.fromEntries(list.body.jobs.map((j: { id: string }) => [j.id, j]));
  expect(byId[running]).toMatchObject({ status: 'in_progress', outputs_count: 0, previewable_outputs_count: 0 });
  expect(byId[pending]).toMatchObject({ status: 'pending', priority: expect.any(Number) });
  expect(byId[front]).toMatchObject({ status: 'pending', workflow_id: 'wf-front' });
  expect(byId[front].priority).toBeLessThan(0);
  expect(byId[front]).not.toHaveProperty('workflow');
  expect(list.body.pagination).toEqual({ offset: 0, limit: null, total: 3, has_more: false });
  // Newest first; among equal times, ComfyUI's own order (running, then pending in run order).
  expect(ids(await jobs('?sort_order=asc'))[0]).toBe(running);
  expect(ids(await jobs('?status=pending'))).toEqual(expect.arrayContaining([front, pending]));
  expect(ids(await jobs('?status=pending&limit=1&offset=1'))).toHaveLength(1);
  expect((await jobs('?status=in_progress&workflow_id=nope')).body.jobs).toEqual([]);
  expect(ids(await jobs('?workflow_id=wf-front'))).toEqual([front]);

  const detail = await get(`${bridge.door}/api/jobs/${front}`, asAlice);
  expect(detail.status).toBe(200);
  expect(detail.body).toMatchObject({ id: front, status: 'pending', create_time: expect.any(Number) });
  expect(detail.body.workflow.prompt).toEqual(imageGraph(7002, 'door/jobs'));
  expect(detail.body.workflow.extra_data).toMatchObject({ client_id: 'jobs-client' });

  // Like every route of the door, the jobs API is at /jobs too.
  expect((await get(`${bridge.door}/jobs`, asAlice)).body.pagination.total).toBe(3);
  expect((await get(`${bridge.door}/jobs/${front}`, asAlice)).status).toBe(200);

  // Bob: nothing listed, 404 for each, and his cancels touch nothing.
  expect((await jobs('', asBob)).body).toEqual({ jobs: [], pagination: { offset: 0, limit: null, total: 0, has_more: false } });
  for (const id of [running, pending, front]) {
    const reply = await get(`${bridge.door}/api/jobs/${id}`, asBob);
    expect(reply.status).toBe(404);
    expect(reply.body).toEqual({ error: 'Job not found' });
    expect((await post(`${bridge.door}/api/jobs/${id}/cancel`, undefined, asBob)).body).toEqual({ cancelled: false });
  }
  expect((await post(`${bridge.door}/api/jobs/cancel`, { job_ids: [running, pending] }, asBob)).body).toEqual({ cancelled: false });
  expect(bridge.engine.get(running)!.state).toBe('running');
  // The admin sees every key's.
  expect(ids(await jobs('', asAdmin))).toEqual(expect.arrayContaining([running, pending, front]));

  // Cancel the running one: interrupted, then the front prompt runs before the one queued ahead of it.
  expect((await post(`${bridge.door}/api/jobs/${running}/cancel`, undefined, asAlice)).body).toEqual({ cancelled: true });
  await Promise.all([jobReaches(bridge, running, ['cancelled']), jobReaches(bridge, pending, ['completed']), jobReaches(bridge, front, ['completed'])]);
  expect(bridge.engine.get(front)!.startedAt!).toBeLessThan(bridge.engine.get(pending)!.startedAt!);
  expect((await post(`${bridge.door}/api/jobs/${running}/cancel`, undefined, asAlice)).body).toEqual({ cancelled: false });

  const interrupted = (await get(`${bridge.door}/api/jobs/${running}`, asAlice)).body;
  expect(interrupted).toMatchObject({ status: 'cancelled', execution_start_time: expect.any(Number), execution_end_time: expect.any(Number) });
  expect(interrupted.execution_status.messages.map((m: [string]) => m[0])).toContain('execution_interrupted');

  const done = (await get(`${bridge.door}/api/jobs/${front}`, asAlice)).body;
  expect(done).toMatchObject({ status: 'completed', outputs_count: 2, previewable_outputs_count: 2, workflow_id: 'wf-front' });
  expect(done.execution_end_time).toBeGreaterThanOrEqual(done.execution_start_time);
  // The preview is the saved image, fetchable as it is shown.
  expect(done.preview_output).toMatchObject({ type: 'output', nodeId: '3', mediaType: 'images' });
  const { filename, subfolder, type } = done.preview_output;
  const view = await fetch(`${bridge.door}/view?${new URLSearchParams({ filename, subfolder, type })}`, { headers: asAlice });
  expect(view.status).toBe(200);
  expect(Object.keys(done.outputs).sort()).toEqual(['3', '4']);
  expect(done.execution_status.status_str).toBe('success');

  expect(ids(await jobs('?status=completed'))).toEqual(expect.arrayContaining([front, pending]));
  expect(ids(await jobs('?status=cancelled'))).toEqual([running]);
  // Longest run first (the default order is descending), whichever that was on this machine.
  const byDuration = (await jobs('?status=completed,cancelled&sort_by=execution_duration')).body.jobs as { id: string; execution_start_time: number; execution_end_time: number }[];
  expect(byDuration.map((j) => j.id).sort()).toEqual([running, pending, front].sort());
  const durations = byDuration.map((j) => j.execution_end_time - j.execution_start_time);
  expect(durations).toEqual([...durations].sort((a, b) => b - a));
});

test('cancel: a pending prompt is dequeued and forgotten (404 after, as in ComfyUI); a batch cancels the running one too', async () => {
  const running = await queue(sleepGraph(60, 'jobs-batch'));
  await jobReaches(bridge, running, ['running']);
  const pending = await queue(imageGraph(7101, 'door/jobs'));
  const other = await queue(imageGraph(7102, 'door/jobs'));

  expect((await post(`${bridge.door}/api/jobs/${pending}/cancel`, undefined, asAlice)).body).toEqual({ cancelled: true });
  expect(bridge.engine.get(pending)!.state).toBe('cancelled');
  expect((await get(`${bridge.door}/api/jobs/${pending}`, asAlice)).status).toBe(404);
  expect(ids(await jobs())).not.toContain(pending);
  // Unknown and malformed single ids are no-ops, not errors.
  expect((await post(`${bridge.door}/api/jobs/${randomUUID()}/cancel`, undefined, asAlice)).body).toEqual({ cancelled: false });
  expect((await post(`${bridge.door}/api/jobs/not-a-uuid/cancel`, undefined, asAlice)).body).toEqual({ cancelled: false });

  const batch = await post(`${bridge.door}/api/jobs/cancel`, { job_ids: [running, other, randomUUID()] }, asAlice);
  expect(batch).toMatchObject({ status: 200, body: { cancelled: true } });
  await Promise.all([jobReaches(bridge, running, ['cancelled']), jobReaches(bridge, other, ['cancelled'])]);
  expect((await post(`${bridge.door}/jobs/cancel`, { job_ids: [running, other] }, asAlice)).body).toEqual({ cancelled: false });
  expect((await post(`${bridge.door}/api/jobs/cancel`, { job_ids: [] }, asAlice)).body).toEqual({ cancelled: false });
});

test('a failed prompt carries its execution_error', async () => {
  const failing = await queue({
    '1': { class_type: 'TestSyncError', inputs: { value: 'x' } },
    '2': { class_type: 'PreviewAny', inputs: { source: ['1', 0] } },
  });
  await jobReaches(bridge, failing, ['failed']);
  const job = (await get(`${bridge.door}/api/jobs/${failing}`, asAlice)).body;
  expect(job).toMatchObject({ status: 'failed', execution_error: { prompt_id: failing, node_id: '1', exception_type: 'RuntimeError' } });
  expect(ids(await jobs('?status=failed'))).toEqual([failing]);
});

test('what ComfyUI refuses, refused with its status and {"error": reason}', async () => {
  const refusals: [string, string][] = [
    ['?status=done', 'Invalid status value(s): done. Valid values: pending, in_progress, completed, failed, cancelled'],
    ['?sort_by=size', "sort_by must be 'created_at' or 'execution_duration'"],
    ['?sort_order=down', "sort_order must be 'asc' or 'desc'"],
    ['?limit=0', 'limit must be a positive integer'],
    ['?limit=many', 'limit must be an integer'],
    ['?offset=1.5', 'offset must be an integer'],
  ];
  for (const [query, error] of refusals) {
    const reply = await jobs(query);
    expect({ query, status: reply.status, body: reply.body }).toEqual({ query, status: 400, body: { error } });
  }
  const batch = (body: unknown) => call('POST', `${bridge.door}/api/jobs/cancel`, body, asAlice);
  expect(await batch('{not json')).toMatchObject({ status: 400, body: { error: 'Request body must be valid JSON' } });
  expect(await batch(undefined)).toMatchObject({ status: 400, body: { error: 'Request body must be valid JSON' } });
  expect(await batch({ job_ids: 'x' })).toMatchObject({ status: 400, body: { error: 'job_ids must be a list' } });
  expect(await batch([randomUUID()])).toMatchObject({ status: 400, body: { error: 'job_ids must be a list' } });
  const id = randomUUID();
  expect(await batch({ job_ids: [id, id.toUpperCase(), 7] })).toMatchObject({
    status: 400,
    body: { error: 'job_ids contains invalid id(s)', invalid_ids: [id.toUpperCase(), '7'] },
  });
  // Without a key: the door's own 401, as for every route.
  expect((await get(`${bridge.door}/api/jobs`)).status).toBe(401);
});
