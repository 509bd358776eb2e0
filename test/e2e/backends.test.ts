// The pool at run time: backends added, drained, resumed and removed under load through
// /admin/backends, the pool surviving a restart, and the operator's mistakes answered clearly.
import { ComfySimulator } from '../../src/sim/index.js';
import type { EngineEvent } from '../../src/engine/index.js';
import { backendsUp, engineEvent, engineUntil, getJson, postJson, readParts, simEvent, startBridge, startSims, waitFinal } from './harness.js';
import type { Json, TestBridge } from './harness.js';

const ADMIN = 'backends-admin-token-0000000001';

/** An operator request with the admin token. */
async function admin(bridge: TestBridge, method: string, path: string, body?: unknown, token = ADMIN): Promise<Json> {
  const res = await fetch(`${bridge.url}${path}`, {
    method,
    headers: { 'x-admin-token': token, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/** Executions on the simulators, from their own events: per prompt_id, where it started and how it ended. */
class Ledger {
  readonly starts = new Map<string, number[]>();
  readonly ends = new Map<string, string[]>();
  private readonly offs: (() => void)[];

  constructor(sims: ComfySimulator[]) {
    this.offs = sims.map((sim, i) => {
      const started = (id: string) => this.starts.set(id, [...(this.starts.get(id) ?? []), i]);
      const finished = (e: { promptId: string; status: string }) => this.ends.set(e.promptId, [...(this.ends.get(e.promptId) ?? []), e.status]);
      sim.on('started', started);
      sim.on('finished', finished);
      return () => {
        sim.off('started', started);
        sim.off('finished', finished);
      };
    });
  }

  /** Where each of these prompts started, in order (one entry per start). */
  runs(ids: string[]): number[][] {
    return ids.map((id) => this.starts.get(id) ?? []);
  }

  close(): void {
    this.offs.forEach((off) => off());
  }
}

/** Submit `n` sleep jobs of `seconds`, one per client; answers the client ids. */
async function submitSleeps(bridge: TestBridge, prefix: string, n: number, seconds: number): Promise<string[]> {
  const clients = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  for (const id of clients) {
    const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'sleep.json', '2/seconds': seconds });
    expect(res.status).toBe(200);
  }
  return clients;
}

const jobOf = (bridge: TestBridge, clientId: string) => bridge.engine.jobsOf(clientId)[0];

/** Engine events from now on, until `stop()`. */
function record(bridge: TestBridge): { events: EngineEvent[]; stop: () => void } {
  const events: EngineEvent[] = [];
  const stop = bridge.engine.events.subscribe((e) => void events.push(e));
  return { events, stop };
}

describe('under load', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;
  let ledger: Ledger;

  beforeEach(async () => {
    sims = await startSims(2);
    ledger = new Ledger(sims);
  });

  afterEach(async () => {
    ledger.close();
    await bridge?.dispose();
    await Promise.all(sims.map((s) => s.close()));
  });

  test('a backend added while jobs wait takes work at once; every job runs once', async () => {
    bridge = await startBridge([sims[0].url], { ADMIN_TOKEN: ADMIN });
    await backendsUp(bridge);
    const clients = await submitSleeps(bridge, 'added', 8, 0.15);
    const joined = engineEvent(bridge.engine, (e) => e.kind === 'backend' && e.backend === sims[1].url && e.reason === 'added');

    const added = await admin(bridge, 'POST', '/admin/backends', { url: sims[1].url, labels: ['late', 'sdxl'] });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ url: sims[1].url, labels: ['late', 'sdxl'], draining: false, jobs: [] });
    expect(added.body.id).toMatch(/^[0-9a-f]{12}$/);
    await joined;

    await Promise.all(clients.map((id) => waitFinal(bridge, id)));
    const ids = clients.map((c) => jobOf(bridge, c).id);
    expect(clients.map((c) => jobOf(bridge, c).state)).toEqual(clients.map(() => 'completed'));
    expect(ledger.runs(ids).every((r) => r.length === 1)).toBe(true);
    const onNew = clients.filter((c) => jobOf(bridge, c).backend === sims[1].url);
    expect(onNew.length).toBeGreaterThan(0);

    const listed = await admin(bridge, 'GET', '/admin/backends');
    expect(listed.status).toBe(200);
    expect(listed.body.map((b: { url: string }) => b.url)).toEqual([sims[0].url, sims[1].url]);
    expect(listed.body[1]).toMatchObject({ id: added.body.id, state: 'up', healthy: true, labels: ['late', 'sdxl'] });
  });

  test('a drained backend finishes what it holds and takes nothing new; the other finishes the rest; resumed, it works again', async () => {
    bridge = await startBridge(sims.map((s) => s.url), { ADMIN_TOKEN: ADMIN });
    await backendsUp(bridge);
    const id = (await admin(bridge, 'GET', '/admin/backends')).body[0].id;
    const clients = await submitSleeps(bridge, 'drained', 8, 0.3);
    await engineUntil(bridge.engine, () => bridge.engine.backendsInfo()[0].jobs.some((j) => j.state === 'running'));

    const drained = await admin(bridge, 'POST', `/admin/backends/${id}/drain`);
    const after = record(bridge);
    expect(drained.status).toBe(200);
    expect(drained.body).toMatchObject({ id, url: sims[0].url, state: 'draining', draining: true });
    const held = drained.body.jobs.map((j: { jobId: string }) => j.jobId);
    expect(held.length).toBeGreaterThan(0);
    expect((await getJson(`${bridge.url}/readyz`)).body.checks.backends).toBe(1);

    await Promise.all(clients.map((c) => waitFinal(bridge, c)));
    after.stop();
    // Nothing new went to it; what it held finished there.
    expect(after.events.filter((e) => e.kind === 'dispatched' && e.backend === sims[0].url)).toEqual([]);
    for (const jobId of held) expect(bridge.engine.get(jobId)).toMatchObject({ state: 'completed', backend: sims[0].url });
    expect(clients.map((c) => jobOf(bridge, c).state)).toEqual(clients.map(() => 'completed'));
    expect(ledger.runs(clients.map((c) => jobOf(bridge, c).id)).every((r) => r.length === 1)).toBe(true);
    expect((await admin(bridge, 'POST', `/admin/backends/${id}/drain`)).body.state).toBe('draining');

    const resumed = await admin(bridge, 'POST', `/admin/backends/${id}/resume`);
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ state: 'up', draining: false });
    expect((await getJson(`${bridge.url}/readyz`)).body.checks.backends).toBe(2);
    const again = record(bridge);
    const more = await submitSleeps(bridge, 'resumed', 6, 0.1);
    await Promise.all(more.map((c) => waitFinal(bridge, c)));
    again.stop();
    expect(again.events.filter((e) => e.kind === 'dispatched' && e.backend === sims[0].url).length).toBeGreaterThan(0);
  });

  test('a removed backend gives back the job it had not started, finishes the one it runs, then is let go; its files stay readable', async () => {
    bridge = await startBridge(sims.map((s) => s.url), { ADMIN_TOKEN: ADMIN });
    await backendsUp(bridge);
    const id = (await admin(bridge, 'GET', '/admin/backends')).body[0].id;
    // Long enough that the one it holds is still waiting there when it is removed.
    const clients = await submitSleeps(bridge, 'removed', 4, 0.8);
    // It runs one and holds the next (BACKEND_PREFETCH 1).
    await engineUntil(bridge.engine, () => sims[0].runningPromptId !== null && sims[0].queueRemaining >= 2);
    const socketClosed = simEvent(sims[0], 'ws-close');
    const deletesBefore = sims[0].stats.queueDeletes;
    const after = record(bridge);

    const removed = await admin(bridge, 'DELETE', `/admin/backends/${id}`);
    expect(removed.status).toBe(200);
    expect(removed.body).toMatchObject({ id, url: sims[0].url, removed: true, state: 'draining' });
    expect(removed.body.jobs.map((j: { state: string }) => j.state)).toContain('running');
    // Listed after the pool while it finishes what it runs.
    expect((await admin(bridge, 'GET', '/admin/backends')).body.map((b: { url: string; removed?: true }) => [b.url, b.removed])).toEqual([
      [sims[1].url, undefined],
      [sims[0].url, true],
    ]);

    await Promise.all(clients.map((c) => waitFinal(bridge, c)));
    const ids = clients.map((c) => jobOf(bridge, c).id);
    expect(clients.map((c) => jobOf(bridge, c).state)).toEqual(clients.map(() => 'completed'));
    // Every job ran once, and exactly one ran on the removed backend after it was removed: the one running then.
    expect(ledger.runs(ids).map((r) => r.length)).toEqual(ids.map(() => 1));
    expect(sims[0].stats.queueDeletes).toBeGreaterThan(deletesBefore);
    after.stop();
    const requeued = after.events.filter((e) => e.kind === 'requeued');
    expect(requeued.length).toBeGreaterThan(0);
    expect(requeued.every((e) => e.kind === 'requeued' && e.reason === `${sims[0].url} was removed from the pool`)).toBe(true);
    expect(after.events.filter((e) => e.kind === 'dispatched' && e.backend === sims[0].url)).toEqual([]);
    expect(after.events.some((e) => e.kind === 'backend' && e.backend === sims[0].url && e.reason === 'removed')).toBe(true);
    const onRemoved = clients.filter((c) => jobOf(bridge, c).backend === sims[0].url);
    expect(onRemoved.length).toBeGreaterThan(0);
    expect(onRemoved.every((c) => jobOf(bridge, c).attempts === 1)).toBe(true);

    // Let go: its event socket closed, it is no longer listed, and nothing more goes to it.
    await socketClosed;
    expect((await admin(bridge, 'GET', '/admin/backends')).body.map((b: { url: string }) => b.url)).toEqual([sims[1].url]);
    expect((await admin(bridge, 'DELETE', `/admin/backends/${id}`)).status).toBe(404);
    expect((await admin(bridge, 'GET', `/admin/backends/${id}`)).body).toMatchObject({ id, url: sims[0].url, removed: true, jobs: [] });
    const results = await fetch(`${bridge.url}/history?clientId=${onRemoved[0]}`);
    expect(results.status).toBe(200);
    expect((await readParts(results)).length).toBe(1);
  });

  test('a removed backend added again is in the pool again', async () => {
    bridge = await startBridge(sims.map((s) => s.url), { ADMIN_TOKEN: ADMIN });
    await backendsUp(bridge);
    const id = (await admin(bridge, 'GET', '/admin/backends')).body[0].id;
    expect((await admin(bridge, 'DELETE', `/admin/backends/${id}`)).status).toBe(200);
    expect((await admin(bridge, 'POST', `/admin/backends/${id}/drain`)).status).toBe(404);
    const back = await admin(bridge, 'POST', '/admin/backends', { url: sims[0].url });
    expect(back.status).toBe(201);
    expect(back.body.id).toBe(id);
    await backendsUp(bridge, 2);
    const clients = await submitSleeps(bridge, 'back', 6, 0.1);
    await Promise.all(clients.map((c) => waitFinal(bridge, c)));
    expect(clients.filter((c) => jobOf(bridge, c).backend === sims[0].url).length).toBeGreaterThan(0);
  });
});

test('a backend shows the models it holds, as learned from the prompts it ran; freed with unload, none', async () => {
  const [sim] = await startSims(1);
  const bridge = await startBridge([sim.url], { ADMIN_TOKEN: ADMIN });
  try {
    await backendsUp(bridge);
    const before = await admin(bridge, 'GET', '/admin/backends');
    expect(before.body[0].models).toBeUndefined(); // nothing ran yet: nothing known
    await postJson(`${bridge.url}/generate-based-workflow?clientId=models-shown`, { workflow: 'txt2img' });
    await waitFinal(bridge, 'models-shown');
    const after = await admin(bridge, 'GET', '/admin/backends');
    expect(after.body[0].models).toEqual(['sd15.safetensors']);
    const freed = await admin(bridge, 'POST', `/admin/backends/${after.body[0].id}/free`);
    expect(freed.status).toBe(200);
    expect((await admin(bridge, 'GET', '/admin/backends')).body[0].models).toBeUndefined();
  } finally {
    await bridge.dispose();
    await sim.close();
  }
});

describe('the pool survives a restart', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;

  beforeAll(async () => {
    sims = await startSims(3);
  });
  afterAll(async () => {
    await bridge?.dispose();
    await Promise.all(sims.map((s) => s.close()));
  });

  test('as the operator left it; COMFYUI_SERVERS only made the first pool (POOL_FROM_ENV makes it again)', async () => {
    bridge = await startBridge([sims[0].url, sims[1].url], { ADMIN_TOKEN: ADMIN });
    await backendsUp(bridge);
    const [first, second] = (await admin(bridge, 'GET', '/admin/backends')).body;
    expect((await admin(bridge, 'POST', '/admin/backends', { url: sims[2].url, labels: ['video'] })).status).toBe(201);
    expect((await admin(bridge, 'POST', `/admin/backends/${second.id}/drain`)).status).toBe(200);
    expect((await admin(bridge, 'DELETE', `/admin/backends/${first.id}`)).status).toBe(200);
    // The added one is up once it has described itself.
    await engineUntil(bridge.engine, () => bridge.engine.backendsInfo().every((b) => b.healthy));
    const before = (await admin(bridge, 'GET', '/admin/backends')).body;
    await bridge.stop();

    // Started again with another list in the environment: the stored pool stands.
    bridge = await startBridge([sims[0].url], { ADMIN_TOKEN: ADMIN }, bridge.dir);
    await engineUntil(bridge.engine, () => bridge.engine.backendsInfo().every((b) => b.healthy));
    const after = (await admin(bridge, 'GET', '/admin/backends')).body;
    const shape = (list: { url: string; labels: string[]; state: string; id: string }[]) => list.map(({ id, url, labels, state }) => ({ id, url, labels, state }));
    expect(shape(after)).toEqual(shape(before));
    expect(shape(after)).toEqual([
      { id: second.id, url: sims[1].url, labels: [], state: 'draining' },
      { id: expect.any(String), url: sims[2].url, labels: ['video'], state: 'up' },
    ]);
    await bridge.stop();

    bridge = await startBridge([sims[0].url, sims[1].url], { ADMIN_TOKEN: ADMIN, POOL_FROM_ENV: 'true' }, bridge.dir);
    const fromEnv = (await admin(bridge, 'GET', '/admin/backends')).body;
    // sims[1] stays drained: the environment names it again, and it keeps its flag.
    expect(fromEnv.map((b: { url: string; draining: boolean }) => [b.url, b.draining])).toEqual([
      [sims[1].url, true],
      [sims[0].url, false],
    ]);
  });
});

test('restarted while a removed backend still runs a job: the job is followed there and finishes once', async () => {
  const sims = await startSims(2);
  const ledger = new Ledger(sims);
  let bridge = await startBridge(sims.map((s) => s.url), { ADMIN_TOKEN: ADMIN });
  try {
    await backendsUp(bridge);
    const id = (await admin(bridge, 'GET', '/admin/backends')).body[0].id;
    const clients = await submitSleeps(bridge, 'restarted', 4, 1.5);
    await engineUntil(bridge.engine, () => sims[0].runningPromptId !== null && sims[0].queueRemaining >= 2);
    const running = sims[0].runningPromptId!;
    expect((await admin(bridge, 'DELETE', `/admin/backends/${id}`)).status).toBe(200);
    await bridge.stop();
    expect(bridge.engine.get(running)).toMatchObject({ state: 'running', backend: sims[0].url });

    bridge = await startBridge([sims[1].url], { ADMIN_TOKEN: ADMIN }, bridge.dir);
    await Promise.all(clients.map((c) => waitFinal(bridge, c)));
    expect(clients.map((c) => jobOf(bridge, c).state)).toEqual(clients.map(() => 'completed'));
    expect(bridge.engine.get(running)).toMatchObject({ state: 'completed', backend: sims[0].url, attempts: 1 });
    expect(ledger.runs(clients.map((c) => jobOf(bridge, c).id)).map((r) => r.length)).toEqual(clients.map(() => 1));
    expect(bridge.engine.backendsInfo().map((b) => b.url)).toEqual([sims[1].url]);
  } finally {
    ledger.close();
    await bridge.dispose();
    await Promise.all(sims.map((s) => s.close()));
  }
});

describe("the operator's mistakes", () => {
  let sim: ComfySimulator;
  let bridge: TestBridge;

  beforeAll(async () => {
    [sim] = await startSims(1);
    bridge = await startBridge([sim.url], { ADMIN_TOKEN: ADMIN });
  });
  afterAll(async () => {
    await bridge?.dispose();
    await sim.close();
  });

  test('without the admin token: 403, and nothing changes', async () => {
    for (const [method, path] of [['GET', '/admin/backends'], ['POST', '/admin/backends'], ['DELETE', '/admin/backends/abc'], ['POST', '/admin/backends/abc/drain']]) {
      const res = await admin(bridge, method, path, method === 'POST' && path === '/admin/backends' ? { url: 'http://10.0.0.9:8188' } : undefined, 'wrong-token-000000000000000');
      expect(res.status).toBe(403);
    }
    expect(bridge.engine.backendsInfo().map((b) => b.url)).toEqual([sim.url]);
  });

  test('a bad body: 400 naming every problem at once', async () => {
    const res = await admin(bridge, 'POST', '/admin/backends', { url: 'http://gpu9', labels: ['ok', 'not ok'], token: 'tok', username: 'u', colour: 'red' });
    expect(res.status).toBe(400);
    const detail: string = res.body.detail;
    for (const part of ['"url"', 'host:port', 'label "not ok"', 'not both', 'unknown field "colour"']) expect(detail).toContain(part);
    expect((await admin(bridge, 'POST', '/admin/backends', ['http://gpu9:8188'])).status).toBe(400);
    expect((await admin(bridge, 'POST', '/admin/backends', {})).body.detail).toContain('"url" is required');
    expect((await admin(bridge, 'POST', '/admin/backends', { url: 'ftp://gpu9:21' })).status).toBe(400);
    expect(bridge.engine.backendsInfo().map((b) => b.url)).toEqual([sim.url]);
  });

  test('a backend the pool has: 409, however it is written', async () => {
    const port = new URL(sim.url).port;
    for (const url of [sim.url, `127.0.0.1:${port}`, `${sim.url}/`, `http://someone:secret@127.0.0.1:${port}`]) {
      const res = await admin(bridge, 'POST', '/admin/backends', { url });
      expect(res.status).toBe(409);
      expect(JSON.stringify(res.body)).not.toContain('secret');
    }
  });

  test('an unknown id: 404 for each action', async () => {
    for (const [method, path] of [['GET', '/admin/backends/0123456789ab'], ['DELETE', '/admin/backends/0123456789ab'], ['POST', '/admin/backends/0123456789ab/drain'], ['POST', '/admin/backends/0123456789ab/resume']]) {
      const res = await admin(bridge, method, path);
      expect(res.status).toBe(404);
      expect(res.body.detail).toContain('GET /admin/backends');
    }
  });
});
