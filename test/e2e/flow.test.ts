// The curated door end to end: list, describe, submit, follow, collect, over two simulated backends.
import { readPngText } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { TestClient, backendsUp, engineEvent, engineUntil, getJson, postJson, readParts, startBridge, startSims } from './harness.js';
import type { TestBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: TestBridge;

beforeAll(async () => {
  sims = await startSims(2);
  bridge = await startBridge(sims.map((s) => s.url));
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

test('GET /workflow-list names the shipped workflows', async () => {
  const res = await getJson(`${bridge.url}/workflow-list`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual(expect.arrayContaining(['invert', 'txt2img', 'img2img']));
});

test('GET /workflow-info describes the exposed inputs only', async () => {
  const res = await getJson(`${bridge.url}/workflow-info?workflow=txt2img`);
  expect(res.status).toBe(200);
  const entries = Object.entries(res.body as Record<string, any>);
  expect(entries.length).toBeGreaterThan(0);
  for (const [key, info] of entries) {
    expect(key).toMatch(/^[^/]+\/[^/]+$/);
    expect(['str', 'int', 'float', 'bool']).toContain(info.type);
    expect(typeof info.title).toBe('string');
    expect(typeof info.class).toBe('string');
    expect(info).toHaveProperty('default');
  }
  const cfg = entries.find(([k]) => k.endsWith('/cfg'));
  expect(cfg?.[1].type).toBe('float');
  const seed = entries.find(([k]) => k.endsWith('/seed'));
  expect(seed?.[1].type).toBe('int');
});

test('GET /workflow-info of an unknown workflow is a 404 that names the known ones', async () => {
  const res = await getJson(`${bridge.url}/workflow-info?workflow=nope`);
  expect(res.status).toBe(404);
  expect(res.body.detail).toContain('invert');
});

test('a job runs end to end: progress on the socket, closed, results as multipart, then 204', async () => {
  const clientId = 'flow-client-1';
  const before = (await getJson(`${bridge.url}/generation-count`)).body as number;
  const client = await TestClient.connect(bridge, clientId);
  const info = await getJson(`${bridge.url}/workflow-info?workflow=invert`);
  const colorKey = Object.keys(info.body).find((k) => k.endsWith('/color'))!;

  const submit = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert', [colorKey]: 1234567 });
  expect(submit.status).toBe(200);
  expect(submit.body.detail).toMatch(/^queued \/ \d+$/);

  const closed = await client.next((m) => m.status === 'closed');
  expect(closed.detail).toBe('Execution is done');
  expect(await client.closed).toBe(1000);

  // progress: percentages, never backwards
  const percents = client.messages.filter((m) => m.status === 'progress').map((m) => m.detail);
  expect(percents.length).toBeGreaterThan(0);
  for (const p of percents) expect(p).toMatch(/^\d{1,3}\.\d{2}%$/);
  const values = percents.map((p) => parseFloat(p));
  expect(values).toEqual([...values].sort((a, b) => a - b));
  expect(client.statuses()).not.toContain('error');

  const status = await getJson(`${bridge.url}/execution-info?clientId=${clientId}`);
  expect(status.body).toEqual({ status: 'closed', detail: 'Execution is done' });

  const collected = engineEvent(bridge.engine, (e) => e.kind === 'collected' && e.clientId === clientId);
  const res = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
  const parts = await readParts(res);
  expect(parts).toHaveLength(1);
  expect(parts[0].name).toBe('result_0');
  expect(parts[0].type).toBe('image/png');
  expect(parts[0].filename).toMatch(/\.png$/);
  const text = readPngText(parts[0].bytes);
  expect(JSON.parse(text.prompt)['1'].inputs.color).toBe(1234567);

  // Collected: forgotten here, and deleted from the backend's history.
  await collected;
  const again = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  expect(again.status).toBe(204);
  const job = bridge.engine.jobsOf(clientId)[0];
  const sim = sims.find((s) => s.url === job.backend)!;
  const backendHistory = await getJson(`${sim.url}/history/${job.id}`);
  expect(backendHistory.body).toEqual({});

  expect((await getJson(`${bridge.url}/generation-count`)).body).toBe(before + 1);
});

test('a polling client sees queued or progress, then closed, from the moment its job is accepted', async () => {
  const clientId = 'flow-poller-1';
  const submit = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'txt2img' });
  expect(submit.status).toBe(200);
  const first = await getJson(`${bridge.url}/execution-info?clientId=${clientId}`);
  expect(first.status).toBe(200);
  expect(['queued', 'progress', 'closed']).toContain(first.body.status);
  // Follow the job's own state changes instead of sleeping.
  const job = bridge.engine.jobsOf(clientId)[0];
  if (job.state !== 'completed') {
    await engineUntil(bridge.engine, () => job.state === 'completed');
  }
  const last = await getJson(`${bridge.url}/execution-info?clientId=${clientId}`);
  expect(last.body).toEqual({ status: 'closed', detail: 'Execution is done' });
  const res = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  const parts = await readParts(res);
  expect(parts).toHaveLength(1);
});

test('execution-info of a client with no job is a 404', async () => {
  const res = await getJson(`${bridge.url}/execution-info?clientId=nobody-here`);
  expect(res.status).toBe(404);
  expect(res.body.detail).toContain('nobody-here');
});

test('history of a client with nothing to collect answers 204', async () => {
  const res = await fetch(`${bridge.url}/history?clientId=nobody-here`);
  expect(res.status).toBe(204);
});

test('a client that reuses its clientId after collecting starts a new session on a new socket', async () => {
  const clientId = 'flow-reuser-01';
  const first = await TestClient.connect(bridge, clientId);
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert', '1/color': 111 });
  await first.next((m) => m.status === 'closed');
  const collected = engineEvent(bridge.engine, (e) => e.kind === 'collected' && e.clientId === clientId);
  expect((await readParts(await fetch(`${bridge.url}/history?clientId=${clientId}`))).length).toBe(1);
  await collected;

  const second = await TestClient.connect(bridge, clientId);
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert', '1/color': 222 });
  await second.next((m) => m.status === 'closed');
  // The new socket was not closed by the old, collected session: it saw the new job's progress.
  expect(second.statuses().filter((s) => s === 'closed')).toHaveLength(1);
  expect(second.statuses()).toContain('progress');
  const parts = await readParts(await fetch(`${bridge.url}/history?clientId=${clientId}`));
  expect(JSON.parse(readPngText(parts[0].bytes).prompt)['1'].inputs.color).toBe(222);
});

test('a waiting client hears `listening` heartbeats until its work is done', async () => {
  const own = await startBridge(sims.map((s) => s.url), { HEARTBEAT_INTERVAL: '0.05' });
  try {
    await backendsUp(own);
    const client = await TestClient.connect(own, 'heartbeat-client');
    const beat = await client.next((m) => m.status === 'listening');
    expect(beat.detail).toBe('server is listening');
    await postJson(`${own.url}/generate-based-workflow?clientId=heartbeat-client`, { workflow: 'invert' });
    await client.next((m) => m.status === 'closed');
    // Nothing follows `closed`: the socket is closed by the bridge.
    expect(await client.closed).toBe(1000);
    expect(client.messages.at(-1)?.status).toBe('closed');
  } finally {
    await own.dispose();
  }
});
