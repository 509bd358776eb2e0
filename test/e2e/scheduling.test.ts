// Jobs spread over backends: free slots, least load, many clients at once, waiting for a backend.
import { once } from 'node:events';
import { createServer } from 'node:net';
import { readPngText } from '../../src/sim/png.js';
import { ComfySimulator } from '../../src/sim/index.js';
import { TestClient, backendsUp, getJson, postJson, readParts, simEvent, startBridge, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('two backends', () => {
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

  test('four jobs: both backends work at once, and none holds more than one running plus the prefetch', async () => {
    const maxQueued = [0, 0];
    const track = sims.map((sim, i) => {
      const on = () => (maxQueued[i] = Math.max(maxQueued[i], sim.queueRemaining));
      sim.on('queued', on);
      return on;
    });
    const firstStarts = sims.map((sim) => simEvent<string>(sim, 'started'));
    const finishedBeforeBothStarted: string[] = [];
    const onFinished = (e: { promptId: string }) => finishedBeforeBothStarted.push(e.promptId);
    sims.forEach((s) => s.on('finished', onFinished));

    const clients = ['four-jobs-a', 'four-jobs-b', 'four-jobs-c', 'four-jobs-d'];
    for (const id of clients) {
      const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'sleep.json', '2/seconds': 0.3 });
      expect(res.status).toBe(200);
    }
    await Promise.all(firstStarts);
    // Both backends started a job before any job finished: they worked at the same time.
    expect(finishedBeforeBothStarted).toEqual([]);
    sims.forEach((s) => s.off('finished', onFinished));

    await Promise.all(clients.map((id) => waitFinal(bridge, id)));
    sims.forEach((sim, i) => sim.off('queued', track[i]));
    expect(maxQueued[0]).toBeLessThanOrEqual(2);
    expect(maxQueued[1]).toBeLessThanOrEqual(2);
    const perBackend = sims.map((s) => s.receivedPrompts().filter((p) => clients.some((c) => bridge.engine.jobsOf(c)[0].id === p.promptId)).length);
    expect(perBackend[0] + perBackend[1]).toBe(4);
    expect(perBackend[0]).toBeGreaterThan(0);
    expect(perBackend[1]).toBeGreaterThan(0);
  });

  test('32 concurrent clients each get exactly their own image', async () => {
    const n = 32;
    const ids = Array.from({ length: n }, (_, i) => `many-clients-${String(i).padStart(3, '0')}`);
    const results = await Promise.all(
      ids.map(async (id, i) => {
        const client = await TestClient.connect(bridge, id);
        const color = 1000 + i * 7919;
        const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert', '1/color': color, '1/width': 16 + i });
        expect(res.status).toBe(200);
        await client.next((m) => m.status === 'closed');
        expect(client.statuses()).not.toContain('error');
        const history = await fetch(`${bridge.url}/history?clientId=${id}`);
        expect(history.status).toBe(200);
        const parts = await readParts(history);
        return { color, width: 16 + i, parts };
      }),
    );
    for (const { color, width, parts } of results) {
      expect(parts).toHaveLength(1);
      const prompt = JSON.parse(readPngText(parts[0].bytes).prompt);
      expect(prompt['1'].inputs.color).toBe(color);
      expect(prompt['1'].inputs.width).toBe(width);
    }
    // The work was spread over both backends.
    const used = new Set(ids.flatMap((id) => bridge.engine.jobsOf(id).map((j) => j.backend)));
    expect(used.size).toBe(2);
  });

  test('POST /free frees every backend; with a clientId only the backend that served it', async () => {
    const all = Promise.all(sims.map((s) => simEvent(s, 'free')));
    const res = await postJson(`${bridge.url}/free`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ detail: 'server memory free now / ALL' });
    await all;

    const id = 'free-one-client';
    await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert' });
    await waitFinal(bridge, id);
    const job = bridge.engine.jobsOf(id)[0];
    const served = sims.find((s) => s.url === job.backend)!;
    const other = sims.find((s) => s !== served)!;
    const frees = other.stats.frees;
    const freed = simEvent(served, 'free');
    const one = await postJson(`${bridge.url}/free?clientId=${id}`);
    expect(one.status).toBe(200);
    expect(one.body).toEqual({ detail: `server memory free now / ${id}` });
    await freed;
    expect(other.stats.frees).toBe(frees);

    const unknown = await postJson(`${bridge.url}/free?clientId=never-submitted`);
    expect(unknown.status).toBe(404);
  });
});

test('very short jobs get a deeper pipeline, so the backend does not wait on each hand-over', async () => {
  const [sim] = await startSims(1, { stepMs: 0, nodeMs: 3 });
  const bridge = await startBridge([sim.url]);
  try {
    await backendsUp(bridge);
    // Learn how long its jobs take.
    await postJson(`${bridge.url}/generate-based-workflow?clientId=short-learner`, { workflow: 'invert', '1/color': 1 });
    await waitFinal(bridge, 'short-learner');
    let most = 0;
    // One backend: every job on a backend is on this one.
    const stop = bridge.engine.events.subscribe(() => (most = Math.max(most, bridge.engine.counts().onBackends)));
    const ids = Array.from({ length: 20 }, (_, i) => `short-job-${String(i).padStart(2, '0')}`);
    await Promise.all(ids.map((id, i) => postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert', '1/color': 100 + i })));
    await Promise.all(ids.map((id) => waitFinal(bridge, id)));
    stop();
    expect(most).toBeGreaterThan(2); // more than one running plus BACKEND_PREFETCH=1
    expect(most).toBeLessThanOrEqual(8);
  } finally {
    await bridge.dispose();
    await sim.close();
  }
});

test('a job submitted while no backend is up waits, then runs when one comes up', async () => {
  const port = await freePort();
  const bridge = await startBridge([`127.0.0.1:${port}`]);
  let sim: ComfySimulator | undefined;
  try {
    const id = 'waits-for-backend';
    const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert' });
    expect(res.status).toBe(200);
    const info = await getJson(`${bridge.url}/execution-info?clientId=${id}`);
    expect(info.body).toEqual({ status: 'queued', detail: 'queued / 1' });
    expect(bridge.engine.jobsOf(id)[0].state).toBe('queued');

    sim = await ComfySimulator.start({ port, stepMs: 1, nodeMs: 0 });
    await waitFinal(bridge, id);
    expect(bridge.engine.jobsOf(id)[0].state).toBe('completed');
    const parts = await readParts(await fetch(`${bridge.url}/history?clientId=${id}`));
    expect(parts).toHaveLength(1);
  } finally {
    await bridge.dispose();
    await sim?.close();
  }
});

test('the generation count survives a restart', async () => {
  const [sim] = await startSims(1);
  let bridge = await startBridge([sim.url]);
  try {
    await backendsUp(bridge);
    for (const id of ['count-one-1', 'count-one-2']) {
      await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'invert' });
    }
    const count = (await getJson(`${bridge.url}/generation-count`)).body;
    expect(count).toBe(2);
    await bridge.stop();
    bridge = await startBridge([sim.url], {}, bridge.dir);
    expect((await getJson(`${bridge.url}/generation-count`)).body).toBe(2);
  } finally {
    await bridge.dispose();
    await sim.close();
  }
});
