// Faults caused on purpose: a backend killed mid-job, a silent event socket, a hung backend,
// a damaged job store. Every job submitted finishes once, with its own result.
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readPngText } from '../../src/sim/png.js';
import { ComfySimulator } from '../../src/sim/index.js';
import { JobStore, StoreError } from '../../src/jobs/store.js';
import { newJob } from '../../src/jobs/job.js';
import { TestClient, backendsUp, postJson, readParts, simEvent, startBridge, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';

let sims: ComfySimulator[] = [];
let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.dispose();
  bridge = undefined;
  await Promise.all(sims.map((s) => s.close().catch(() => undefined)));
  sims = [];
});

async function collect(b: TestBridge, clientId: string) {
  const res = await fetch(`${b.url}/history?clientId=${clientId}`);
  expect(res.status).toBe(200);
  return readParts(res);
}

test('a backend killed mid-job: the job runs again on another backend and its client sees no error', async () => {
  sims = await startSims(2, { stepMs: 4 });
  bridge = await startBridge(sims.map((s) => s.url), { BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
  const clientId = 'killed-backend-client';
  const client = await TestClient.connect(bridge, clientId);
  const started = Promise.race(sims.map((s) => simEvent<string>(s, 'started').then((id) => ({ id, sim: s }))));
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'txt2img', '6/text': 'survives a crash', '3/steps': 100 });
  expect(res.status).toBe(200);
  const first = await started;
  await client.next((m) => m.status === 'progress' && m.detail !== '0.00%');
  const other = sims.find((s) => s !== first.sim)!;
  const rerun = simEvent<string>(other, 'started');
  first.sim.kill();
  expect(await rerun).toBe(first.id);

  await client.next((m) => m.status === 'closed');
  expect(client.statuses()).not.toContain('error');
  const job = bridge.bridge.store.ofClient(clientId)[0];
  expect(job.state).toBe('completed');
  expect(job.attempts).toBe(2);
  expect(job.backend).toBe(other.url);
  const parts = await collect(bridge, clientId);
  expect(parts).toHaveLength(1);
  expect(JSON.parse(readPngText(parts[0].bytes).prompt)['6'].inputs.text).toBe('survives a crash');
  // It ran to the end exactly once.
  expect(other.receivedPrompts().filter((p) => p.promptId === job.id)).toHaveLength(1);
});

test('a silent event socket: completions are found by asking /history, none is missed', async () => {
  sims = await startSims(1, { stepMs: 2 });
  bridge = await startBridge(sims.map((s) => s.url));
  await backendsUp(bridge);
  sims[0].stallEvents(true);
  const ids = ['silent-socket-1', 'silent-socket-2', 'silent-socket-3'];
  for (const id of ids) expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert', '1/color': id.length * 1000 + Number(id.at(-1)) })).status).toBe(200);
  await Promise.all(ids.map((id) => waitFinal(bridge!, id)));
  for (const id of ids) {
    expect(bridge.bridge.store.ofClient(id)[0].state).toBe('completed');
    const parts = await collect(bridge, id);
    expect(JSON.parse(readPngText(parts[0].bytes).prompt)['1'].inputs.color).toBe(id.length * 1000 + Number(id.at(-1)));
  }
  expect(sims[0].stats.executed).toBe(3);
});

test('a hung backend is taken out of rotation and its job moves to a healthy one', async () => {
  sims = await startSims(2, { stepMs: 20 });
  bridge = await startBridge(sims.map((s) => s.url), { BACKEND_PREFETCH: '0', BACKEND_TIMEOUT: '0.3', HEALTH_FAILURES: '2' });
  await backendsUp(bridge);
  const clientId = 'hung-backend-client';
  const started = Promise.race(sims.map((s) => simEvent<string>(s, 'started').then((id) => ({ id, sim: s }))));
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'txt2img', '3/steps': 100 });
  const first = await started;
  const other = sims.find((s) => s !== first.sim)!;
  const rerun = simEvent<string>(other, 'started');
  const hungBackend = bridge.bridge.backend(first.sim.url)!;
  const down = once(hungBackend, 'down');
  first.sim.hang(true);
  await down;
  expect(await rerun).toBe(first.id);
  await waitFinal(bridge, clientId);
  expect(bridge.bridge.store.ofClient(clientId)[0].state).toBe('completed');
  expect((await collect(bridge, clientId))).toHaveLength(1);
  first.sim.hang(false);
});

test('a job that makes no progress for JOB_STALL_TIMEOUT moves to another backend', async () => {
  sims = await startSims(2, { stepMs: 5 });
  bridge = await startBridge(sims.map((s) => s.url), { BACKEND_PREFETCH: '0', JOB_STALL_TIMEOUT: '0.5' });
  await backendsUp(bridge);
  const clientId = 'stalled-job-client';
  // TestSleep reports progress only in its slices; a 60 s sleep on a slowed-down backend goes silent.
  const started = Promise.race(sims.map((s) => simEvent<string>(s, 'started').then((id) => ({ id, sim: s }))));
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'sleep.json', '2/seconds': 0.3 });
  const first = await started;
  first.sim.setSpeed(0.0001); // still answers HTTP, but the work practically stops
  const other = sims.find((s) => s !== first.sim)!;
  expect(await simEvent<string>(other, 'started')).toBe(first.id);
  await waitFinal(bridge, clientId);
  expect(bridge.bridge.store.ofClient(clientId)[0].state).toBe('completed');
  expect(bridge.bridge.store.ofClient(clientId)[0].backend).toBe(other.url);
  first.sim.setSpeed(1);
});

test('after the last attempt the client gets an error that says why', async () => {
  sims = await startSims(1, { stepMs: 20 });
  bridge = await startBridge(sims.map((s) => s.url), { JOB_MAX_ATTEMPTS: '1' });
  await backendsUp(bridge);
  const clientId = 'last-attempt-client';
  const client = await TestClient.connect(bridge, clientId);
  const started = simEvent<string>(sims[0], 'started');
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'txt2img', '3/steps': 200 });
  await started;
  sims[0].kill();
  const error = await client.next((m) => m.status === 'error');
  expect(error.detail).toMatch(/gave up after 1 attempt/);
  await client.next((m) => m.status === 'closed');
});

test("a restart finds a job's backend gone: the job runs again on a healthy one", async () => {
  sims = await startSims(2, { stepMs: 4 });
  bridge = await startBridge(sims.map((s) => s.url), { BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
  const clientId = 'orphaned-job-client';
  const started = Promise.race(sims.map((s) => simEvent<string>(s, 'started').then((id) => ({ id, sim: s }))));
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'txt2img', '6/text': 'orphan', '3/steps': 100 });
  const first = await started;
  await bridge.stop();
  first.sim.kill();
  const other = sims.find((s) => s !== first.sim)!;
  const rerun = simEvent<string>(other, 'started');
  bridge = await startBridge(sims.map((s) => s.url), { BACKEND_PREFETCH: '0' }, bridge.dir);
  expect(await rerun).toBe(first.id);
  await waitFinal(bridge, clientId);
  const job = bridge.bridge.store.ofClient(clientId)[0];
  expect(job.state).toBe('completed');
  expect(job.backend).toBe(other.url);
  const parts = await collect(bridge, clientId);
  expect(JSON.parse(readPngText(parts[0].bytes).prompt)['6'].inputs.text).toBe('orphan');
});

describe('the job store file', () => {
  test('a damaged file is recovered from the last good copy, never silently emptied', async () => {
    sims = await startSims(1);
    bridge = await startBridge(sims.map((s) => s.url));
    await backendsUp(bridge);
    for (const id of ['store-client-1', 'store-client-2']) await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert' });
    await Promise.all(['store-client-1', 'store-client-2'].map((id) => waitFinal(bridge!, id)));
    await bridge.stop();
    const file = path.join(bridge.dir, 'data', 'jobs.json');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.slice(0, Math.floor(good.length / 2))); // torn
    bridge = await startBridge(sims.map((s) => s.url), {}, bridge.dir);
    // The previous write's copy has both jobs (it was written before their last change).
    expect(bridge.bridge.store.ofClient('store-client-1')).toHaveLength(1);
    expect(bridge.bridge.store.ofClient('store-client-2')).toHaveLength(1);
  });

  test('damaged with no good copy: start-up stops with a clear message and changes nothing', async () => {
    const dir = await startBridgeDirOnly();
    const file = path.join(dir, 'jobs.json');
    await writeFile(file, '{"version":1,"jobs":[{"id":');
    await expect(JobStore.open(dir)).rejects.toThrow(StoreError);
    await expect(JobStore.open(dir)).rejects.toThrow(/jobs\.json is damaged .*no good copy/);
    expect(await readFile(file, 'utf8')).toBe('{"version":1,"jobs":[{"id":');
  });

  test('every accepted job is on disk before the answer, and one write carries many', async () => {
    const dir = await startBridgeDirOnly();
    const store = await JobStore.open(dir);
    const jobs = Array.from({ length: 50 }, (_, i) =>
      newJob({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, clientId: 'durable-client', workflow: 'invert', prompt: {}, uploads: [] }),
    );
    await Promise.all(jobs.map((j) => store.add(j)));
    const onDisk = JSON.parse(await readFile(path.join(dir, 'jobs.json'), 'utf8'));
    expect(onDisk.jobs.map((j: { id: string }) => j.id).sort()).toEqual(jobs.map((j) => j.id).sort());
  });
});

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function startBridgeDirOnly(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bridge-store-'));
  tempDirs.push(dir);
  return dir;
}
