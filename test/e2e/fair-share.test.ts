// Priorities and fair share over the three doors: one client's flood does not hold back another
// client's single job, every door reports the positions the jobs then start in, and a key asking
// for more than it may use is refused on every door. One backend taking one job at a time
// (BACKEND_PREFETCH=0), held by a long blocker while the queue is built, so the order is exact.
import { randomUUID } from 'node:crypto';
import type { ComfySimulator } from '../../src/sim/index.js';
import type { JobEvent } from '../../src/engine/index.js';
import { backendsUp, engineUntil, sleepGraph, startDoor, startSims } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';

import { jest } from '@jest/globals';

jest.setTimeout(60_000);

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';
const CAROL = 'carol-key-00000000003';
const DAVE = 'dave-key-000000000004';

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startDoor(
    sims.map((s) => s.url),
    {
      API_KEYS: `alice:${ALICE},bob:${BOB},carol:${CAROL},dave:${DAVE}`,
      KEY_LIMITS: 'alice:max_priority=high,dave:max_jobs=1',
      BACKEND_PREFETCH: '0',
    },
  );
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

async function call(base: string, method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text };
}

const curated = (key: string, clientId: string, fields: Record<string, unknown> = {}, query = '') =>
  call(bridge.url, 'POST', `/generate-based-workflow?clientId=${clientId}${query}`, key, { workflow: 'sleep.json', '2/seconds': 0.02, ...fields });
const v2 = (key: string, fields: Record<string, unknown> = {}) => call(bridge.url, 'POST', '/api/v2/workflows/sleep.json/jobs', key, { inputs: { '2/seconds': 0.02 }, ...fields });
const comfy = (key: string, fields: Record<string, unknown> = {}) =>
  call(bridge.door, 'POST', '/prompt', key, { prompt: sleepGraph(0.02), client_id: 'comfy-client', prompt_id: randomUUID(), ...fields });

/** A long job of carol's on the one backend, running; answers how to end it. */
async function blocker(): Promise<() => Promise<void>> {
  await engineUntil(bridge.engine, () => bridge.engine.counts().unfinished === 0);
  const id = randomUUID();
  expect((await call(bridge.door, 'POST', '/prompt', CAROL, { prompt: sleepGraph(120), client_id: 'blocker', prompt_id: id })).status).toBe(200);
  await engineUntil(bridge.engine, () => bridge.engine.get(id)?.state === 'running');
  return async () => {
    expect((await call(bridge.door, 'POST', '/interrupt', CAROL, { prompt_id: id })).status).toBe(200);
  };
}

/** Ids of jobs as they are dispatched, from now on. */
function dispatches(): { ids: string[]; stop: () => void } {
  const ids: string[] = [];
  const stop = bridge.engine.events.subscribe((e) => {
    if (e.kind === 'dispatched') ids.push((e as JobEvent).jobId);
  });
  return { ids, stop };
}

const idsOf = (clientId: string, tenant: string) =>
  bridge.engine
    .jobsOf(clientId, undefined, tenant)
    .sort((a, b) => a.createdAt - b.createdAt)
    .map((j) => j.id);

test("a flood does not hold back another key's single job, and every door's positions are the order jobs start in", async () => {
  const release = await blocker();
  for (let i = 0; i < 6; i++) expect((await curated(ALICE, 'flood-client')).status).toBe(200);
  expect((await comfy(ALICE)).status).toBe(200);
  expect((await comfy(ALICE)).status).toBe(200);
  expect((await curated(BOB, 'single-client')).status).toBe(200);
  const v2Job = await v2(BOB);
  expect(v2Job.status).toBe(201);

  const flood = idsOf('flood-client', 'alice');
  const [single] = idsOf('single-client', 'bob');
  const comfyJobs = idsOf('comfy-client', 'alice');
  // Keys take turns, and within alice her two clients: bob's jobs wait behind one flood job each.
  const predicted = bridge.engine.waiting().map((j) => j.id);
  expect(predicted).toEqual([flood[0], single, comfyJobs[0], v2Job.body.id, flood[1], comfyJobs[1], ...flood.slice(2)]);

  // What each door says: the curated client's first place, the v2 job's, the ComfyUI queue's order.
  const place = (id: string) => predicted.indexOf(id) + 1;
  expect((await call(bridge.url, 'GET', '/execution-info?clientId=single-client', BOB)).body.detail).toBe(`queued / ${place(single)}`);
  expect((await call(bridge.url, 'GET', '/execution-info?clientId=flood-client', ALICE)).body.detail).toBe(`queued / ${place(flood[0])}`);
  expect((await call(bridge.url, 'GET', `/api/v2/jobs/${v2Job.body.id}`, BOB)).body.queue_position).toBe(place(v2Job.body.id));
  expect(v2Job.body.queue_position).toBe(place(v2Job.body.id));
  const pending = (await call(bridge.door, 'GET', '/queue', ALICE)).body.queue_pending.map((item: unknown[]) => item[1]);
  // The ComfyUI door lists the prompts sent through it, in the same order.
  expect(pending).toEqual(predicted.filter((id) => bridge.engine.get(id)!.tenant === 'alice' && bridge.engine.get(id)!.door === 'comfy'));

  const seen = dispatches();
  await release();
  await engineUntil(bridge.engine, () => seen.ids.length >= predicted.length);
  seen.stop();
  expect(seen.ids).toEqual(predicted);
  await engineUntil(bridge.engine, () => predicted.every((id) => ['completed', 'failed', 'cancelled'].includes(bridge.engine.get(id)!.state)));
});

test('a higher tier goes first; a tier beyond what the key may use is refused on every door, as is work beyond its max_jobs', async () => {
  const release = await blocker();
  expect((await curated(BOB, 'normal-one-client')).status).toBe(200);
  // alice may use high: her job goes ahead of bob's, though it came later.
  expect((await curated(ALICE, 'urgent-client', { priority: 'high' })).status).toBe(200);
  expect((await curated(ALICE, 'background-client', {}, '&priority=low')).status).toBe(200);
  const order = bridge.engine.waiting();
  expect(order.map((j) => [j.clientId, j.tier])).toEqual([
    ['urgent-client', 'high'],
    ['normal-one-client', 'normal'],
    ['background-client', 'low'],
  ]);

  // bob may not: each door refuses, naming the bound.
  const curatedNo = await curated(BOB, 'greedy-client', { priority: 'high' });
  expect(curatedNo.status).toBe(403);
  expect(curatedNo.body.detail).toMatch(/up to normal.*not high/);
  const unknown = await curated(BOB, 'greedy-client', { priority: 'urgent' });
  expect(unknown.status).toBe(400);
  expect(unknown.body.detail).toMatch(/one of high, normal, low/);
  const v2No = await v2(BOB, { priority: 'high' });
  expect(v2No.status).toBe(403);
  expect(v2No.body.error.code).toBe('invalid_priority');
  const v2Bad = await v2(BOB, { priority: 7 });
  expect(v2Bad.status).toBe(422);
  expect(v2Bad.body.error).toMatchObject({ code: 'invalid_priority', details: { field: 'priority' } });
  const comfyNo = await comfy(BOB, { priority: 'high' });
  expect(comfyNo.status).toBe(403);
  expect(comfyNo.body.error.type).toBe('invalid_priority');
  // A ComfyUI `front` prompt goes to the highest tier the key may use: normal for bob, ahead of his own.
  const front = await comfy(BOB, { front: true });
  expect(front.status).toBe(200);
  expect(bridge.engine.get(front.body.prompt_id)!.tier).toBe('normal');
  expect(bridge.engine.get(front.body.prompt_id)!.priority).toBeLessThan(0);

  // dave may have one unfinished job.
  expect((await curated(DAVE, 'dave-client')).status).toBe(200);
  const curatedFull = await curated(DAVE, 'dave-client-2');
  expect(curatedFull.status).toBe(429);
  expect(curatedFull.body.detail).toMatch(/dave already has 1 unfinished jobs \(KEY_LIMITS max_jobs\)/);
  const v2Full = await v2(DAVE);
  expect(v2Full.status).toBe(429);
  expect(v2Full.body.error.code).toBe('key_limit');
  const comfyFull = await comfy(DAVE);
  expect(comfyFull.status).toBe(429);
  expect(comfyFull.body.error.type).toBe('key_limit');

  const seen = dispatches();
  const expected = bridge.engine.waiting().map((j) => j.id);
  await release();
  await engineUntil(bridge.engine, () => seen.ids.length >= expected.length);
  seen.stop();
  expect(seen.ids).toEqual(expected);
});
