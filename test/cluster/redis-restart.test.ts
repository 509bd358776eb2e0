// Redis stopped and started again under load: while it is down, new work is refused with 503 and
// Retry-After and /readyz answers 503, on every process; once it is back, every job accepted
// before finishes exactly once, /readyz is 200 again and new work is taken.
import { randomUUID } from 'node:crypto';
import { KEYS, SimLedger, TestCluster, clusterTest, comfyResult, curatedResults, request, submitComfy, submitCurated, waitFor } from './harness.js';
import type { BridgeProcess } from './harness.js';

const STEPS = 15; // 15 × 20 ms: jobs of about 0.3 s

let cluster: TestCluster;
let ledger: SimLedger;
let a: BridgeProcess;
let b: BridgeProcess;

beforeAll(async () => {
  cluster = await TestCluster.create({
    sims: 2,
    sim: { stepMs: 20, previews: false },
    // The outage here is far shorter than the lease, so the dispatcher keeps its place through
    // it; losing the dispatcher is the fail-over test's subject.
    env: { CLUSTER_LEASE: '5' },
  });
  [a, b] = await cluster.start(2);
  ledger = new SimLedger(cluster.sims);
}, 120_000);

afterAll(async () => {
  ledger?.close();
  await cluster?.close();
});

/** Poll until the process is known (or no longer known) to answer this status on /readyz. */
async function readyzBecomes(p: BridgeProcess, status: number, timeoutMs: number) {
  return waitFor(`${p.name} /readyz ${status}`, async () => {
    const r = await p.readyz();
    return r?.status === status ? r : undefined;
  }, timeoutMs);
}

clusterTest('redis-server stopped under load: 503 with Retry-After meanwhile; every accepted job finishes once after it returns', 75_000, async () => {
  const redis = cluster.redis;
  const processes = [a, b];
  // 6 curated clients (one job each) and 6 ComfyUI prompts, through both processes.
  const curated = Array.from({ length: 6 }, (_, i) => ({ clientId: `outage-curated-${i}-${randomUUID().slice(0, 6)}`, seed: 30_000 + i, key: i % 2 ? KEYS.bob : KEYS.alice }));
  const comfy = Array.from({ length: 6 }, (_, i) => ({ id: randomUUID(), seed: 40_000 + i, key: i % 2 ? KEYS.alice : KEYS.bob }));
  const answers = await Promise.all([
    ...curated.map((c, i) => submitCurated(processes[i % 2], c.clientId, c.key, { seed: c.seed, text: `outage ${c.seed}`, steps: STEPS })),
    ...comfy.map((c, i) => submitComfy(processes[(i + 1) % 2], `outage-comfy-${i}`, c.key, c.id, c.seed, STEPS)),
  ]);
  expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));

  // Under load: jobs are running when Redis goes.
  await ledger.until('2 executions started', () => ledger.starts.size >= 2, 20_000);
  await redis.stop();
  expect(ledger.finished()).toBeLessThan(12 - 4);

  // Every process says it is not ready, and why.
  for (const p of processes) {
    const reply = await readyzBecomes(p, 503, 10_000);
    expect(reply.body).toMatchObject({ status: 'unready', checks: { redis: false } });
  }
  // New work is refused with a time to come back, on both doors, at once rather than held.
  // (A request held until Redis returns would fail here on the request's own timeout.)
  const refusedClient = `outage-refused-${randomUUID().slice(0, 6)}`;
  const curatedRefusal = await submitCurated(a, refusedClient, KEYS.alice, { seed: 1, text: 'refused', steps: STEPS });
  expect(curatedRefusal.status).toBe(503);
  expect(Number(curatedRefusal.headers.get('retry-after'))).toBeGreaterThan(0);
  const refusedId = randomUUID();
  const comfyRefusal = await submitComfy(b, 'outage-refused-comfy', KEYS.bob, refusedId, 2, STEPS);
  expect(comfyRefusal.status).toBe(503);
  expect(Number(comfyRefusal.headers.get('retry-after'))).toBeGreaterThan(0);
  // The processes themselves stay up.
  expect(a.alive && b.alive).toBe(true);

  await redis.launch();
  for (const p of processes) {
    const reply = await readyzBecomes(p, 200, 20_000);
    expect(reply.body).toMatchObject({ status: 'ready', checks: { redis: true } });
  }

  // Every job accepted before the outage finishes, on whichever process one asks.
  const ids: string[] = [];
  for (const [i, c] of curated.entries()) {
    const p = processes[(i + 1) % 2];
    await waitFor(`${c.clientId} done on ${p.name}`, async () => (await request('GET', `${p.url}/execution-info?clientId=${c.clientId}`, { key: c.key })).body?.status === 'closed', 30_000);
    const results = await curatedResults(p, c.clientId, c.key);
    expect(results.map((r) => r.seed)).toEqual([c.seed]);
    ids.push(results[0].promptId);
  }
  for (const [i, c] of comfy.entries()) {
    const p = processes[i % 2];
    const result = await waitFor(`${c.id} done on ${p.name}`, () => comfyResult(p, c.id, c.key), 30_000);
    expect(result).toEqual({ promptId: c.id, seed: c.seed });
    ids.push(c.id);
  }
  expect(new Set(ids).size).toBe(12);
  expect(ids.filter((id) => ledger.runs(id) !== 1)).toEqual([]);
  expect(ledger.duplicates()).toEqual([]);

  // What was refused left nothing behind: never run, unknown on every process.
  expect(ledger.runs(refusedId)).toBe(0);
  for (const p of processes) {
    expect((await request('GET', `${p.url}/execution-info?clientId=${refusedClient}`, { key: KEYS.alice })).status).toBe(404);
    expect((await request('GET', `${p.door}/history/${refusedId}`, { key: KEYS.bob })).body).toEqual({});
  }

  // New work is taken again, on both processes and doors (the refused prompt_id is free to use).
  const again = `outage-after-${randomUUID().slice(0, 6)}`;
  expect((await submitCurated(b, again, KEYS.alice, { seed: 50_000, text: 'after the outage', steps: STEPS })).status).toBe(200);
  expect((await submitComfy(a, 'outage-after-comfy', KEYS.bob, refusedId, 50_001, STEPS)).status).toBe(200);
  await waitFor(`${again} done`, async () => (await request('GET', `${a.url}/execution-info?clientId=${again}`, { key: KEYS.alice })).body?.status === 'closed', 20_000);
  expect((await curatedResults(a, again, KEYS.alice)).map((r) => r.seed)).toEqual([50_000]);
  expect(await waitFor(`${refusedId} done`, () => comfyResult(b, refusedId, KEYS.bob), 20_000)).toEqual({ promptId: refusedId, seed: 50_001 });
  expect(ledger.duplicates()).toEqual([]);
});
