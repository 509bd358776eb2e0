// Faults caused on purpose: a backend killed mid-job, a silent event socket, a hung backend,
// a damaged job store. Every job submitted finishes once, with its own result.
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readPngText } from '../../src/sim/png.js';
import { ComfySimulator } from '../../src/sim/index.js';
import { JobStore, StoreError } from '../../src/jobs/store.js';
import { newJob } from '../../src/jobs/job.js';
import { TestClient, backendsUp, engineEvent, postJson, readParts, simEvent, startBridge, startSims, waitFinal } from './harness.js';
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
  const job = bridge.engine.jobsOf(clientId)[0];
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
    expect(bridge.engine.jobsOf(id)[0].state).toBe('completed');
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
  const down = engineEvent(bridge.engine, (e) => e.kind === 'backend' && e.backend === first.sim.url && !e.healthy);
  first.sim.hang(true);
  await down;
  expect(await rerun).toBe(first.id);
  await waitFinal(bridge, clientId);
  expect(bridge.engine.jobsOf(clientId)[0].state).toBe('completed');
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
  expect(bridge.engine.jobsOf(clientId)[0].state).toBe('completed');
  expect(bridge.engine.jobsOf(clientId)[0].backend).toBe(other.url);
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
  const job = bridge.engine.jobsOf(clientId)[0];
  expect(job.state).toBe('completed');
  expect(job.backend).toBe(other.url);
  const parts = await collect(bridge, clientId);
  expect(JSON.parse(readPngText(parts[0].bytes).prompt)['6'].inputs.text).toBe('orphan');
});

describe('the job store files', () => {
  const job = (i: number, clientId = 'durable-client') =>
    newJob({ id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, clientId, workflow: 'invert', prompt: { '1': { class_type: 'EmptyImage', inputs: { color: i } } }, uploads: [] });

  test('every accepted job is on disk before the answer, and one write carries many', async () => {
    const dir = await tempDir();
    const store = await JobStore.open(dir);
    const jobs = Array.from({ length: 50 }, (_, i) => job(i));
    await Promise.all(jobs.map((j) => store.add(j)));
    // Another process reading the files now sees every job (the first store was not closed).
    const reader = await JobStore.open(dir);
    expect([...reader.all()].map((j) => j.id).sort()).toEqual(jobs.map((j) => j.id).sort());
    await Promise.all([store.close(), reader.close()]);
  });

  test('a damaged snapshot is rebuilt from the last good one and the journals, never silently emptied', async () => {
    sims = await startSims(1);
    bridge = await startBridge(sims.map((s) => s.url));
    await backendsUp(bridge);
    const ids = ['store-client-1', 'store-client-2', 'store-client-3'];
    await postJson(`${bridge.url}/generate-based-workflow?clientId=${ids[0]}`, { workflow: 'invert' });
    await waitFinal(bridge, ids[0]);
    await bridge.engine.compact(); // a snapshot exists; the next changes go to the journal
    await bridge.engine.compact(); // and a good previous one is kept
    for (const id of ids.slice(1)) await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert' });
    await Promise.all(ids.map((id) => waitFinal(bridge!, id)));
    await bridge.stop();
    const file = path.join(bridge.dir, 'data', 'jobs.json');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.slice(0, Math.floor(good.length / 2))); // torn
    bridge = await startBridge(sims.map((s) => s.url), {}, bridge.dir);
    for (const id of ids) expect(bridge.engine.jobsOf(id).map((j) => j.state)).toEqual(['completed']);
  });

  test('the generation count is recovered from the job store when its file lags behind', async () => {
    sims = await startSims(1);
    bridge = await startBridge(sims.map((s) => s.url));
    await backendsUp(bridge);
    for (const id of ['counted-client-1', 'counted-client-2', 'counted-client-3']) {
      expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert' })).status).toBe(200);
    }
    await bridge.stop();
    // As if the process died before the lazily written count reached the file.
    await writeFile(path.join(bridge.dir, 'current_state.json'), JSON.stringify({ generation_count: 1 }));
    bridge = await startBridge(sims.map((s) => s.url), {}, bridge.dir);
    expect(bridge.engine.generationCount.value).toBe(3);
  });

  test('a journal line torn by a crash is dropped; the store goes on and reopens cleanly', async () => {
    const dir = await tempDir();
    const store = await JobStore.open(dir);
    await store.add(job(1));
    await store.close();
    const journal = path.join(dir, 'jobs.journal');
    const whole = JSON.stringify({ put: job(2) });
    await writeFile(journal, (await readFile(journal, 'utf8')) + whole.slice(0, 40)); // cut mid-line
    const reopened = await JobStore.open(dir);
    expect([...reopened.all()].map((j) => j.id)).toEqual([job(1).id]);
    await reopened.add(job(3));
    await reopened.close();
    const again = await JobStore.open(dir);
    expect([...again.all()].map((j) => j.id).sort()).toEqual([job(1).id, job(3).id]);
    await again.close();
  });

  test('damage in the middle of the journal stops start-up with a message and changes nothing', async () => {
    const dir = await tempDir();
    const store = await JobStore.open(dir);
    await store.add(job(1));
    await store.add(job(2));
    await store.close();
    const journal = path.join(dir, 'jobs.journal');
    const lines = (await readFile(journal, 'utf8')).split('\n');
    lines[0] = lines[0].slice(0, 20);
    const damaged = lines.join('\n');
    await writeFile(journal, damaged);
    await expect(JobStore.open(dir)).rejects.toThrow(/jobs\.journal line 1 is damaged/);
    expect(await readFile(journal, 'utf8')).toBe(damaged);
  });

  test('damaged with no good copy: start-up stops with a clear message and changes nothing', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'jobs.json');
    await writeFile(file, '{"version":1,"jobs":[{"id":');
    await expect(JobStore.open(dir)).rejects.toThrow(StoreError);
    await expect(JobStore.open(dir)).rejects.toThrow(/jobs\.json is damaged .*no good copy/);
    expect(await readFile(file, 'utf8')).toBe('{"version":1,"jobs":[{"id":');
  });

  test('a compaction cut short (snapshot moved aside, new one not written) loses nothing', async () => {
    const dir = await tempDir();
    const store = await JobStore.open(dir);
    await store.add(job(1));
    await store.compact();
    await store.add(job(2));
    await store.close();
    // What a crash between the renames and the new snapshot leaves behind.
    await rename(path.join(dir, 'jobs.json'), path.join(dir, 'jobs.json.bak'));
    await rename(path.join(dir, 'jobs.journal'), path.join(dir, 'jobs.journal.bak'));
    const reopened = await JobStore.open(dir);
    expect([...reopened.all()].map((j) => j.id).sort()).toEqual([job(1).id, job(2).id]);
    await reopened.close();
  });
});

const tempDirs: string[] = [];
afterAll(async () => {
  await Promise.all(tempDirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bridge-store-'));
  tempDirs.push(dir);
  return dir;
}
