// The pool at run time over a cluster: a backend added, drained or removed through one process
// is so on every process (the records travel through Redis), work goes only where the pool
// says, and the pool is the same after every process restarts.
import { randomUUID } from 'node:crypto';
import { ADMIN_TOKEN, KEYS, SimLedger, TestCluster, clusterTest, request, submitCurated, waitFor } from './harness.js';
import type { BridgeProcess } from './harness.js';

let cluster: TestCluster;
let ledger: SimLedger;

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 3, sim: { stepMs: 10, previews: false } });
  await cluster.start(2, { COMFYUI_SERVERS: cluster.sims.slice(0, 2).map((s) => s.url).join(',') });
  ledger = new SimLedger(cluster.sims);
}, 150_000);

afterAll(async () => {
  ledger?.close();
  await cluster?.close();
});

interface Listed {
  id: string;
  url: string;
  state: string;
  labels: string[];
  removed?: true;
}

async function pool(p: BridgeProcess): Promise<Listed[]> {
  const res = await request('GET', `${p.url}/admin/backends`, { key: ADMIN_TOKEN });
  if (res.status !== 200) throw new Error(`GET /admin/backends on ${p.name}: ${res.status} ${res.text}`);
  return res.body;
}

const shape = (list: Listed[]) => list.filter((b) => !b.removed).map(({ url, state, labels }) => ({ url, state, labels }));

clusterTest('a change made on either process applies on both; work follows it; both restarted, the pool is as left', 150_000, async () => {
  const sims = cluster.sims;
  const [a, b] = cluster.processes;
  const [first] = await pool(a);

  const added = await request('POST', `${a.url}/admin/backends`, { key: ADMIN_TOKEN, json: { url: sims[2].url, labels: ['third'] } });
  expect(added.status).toBe(201);
  await waitFor(`${b.name} to list ${sims[2].url} up`, async () => (await pool(b)).some((x) => x.url === sims[2].url && x.state === 'up'), 20_000);

  const second = (await pool(b)).find((x) => x.url === sims[1].url)!;
  expect((await request('POST', `${b.url}/admin/backends/${second.id}/drain`, { key: ADMIN_TOKEN })).status).toBe(200);
  expect((await request('DELETE', `${a.url}/admin/backends/${first.id}`, { key: ADMIN_TOKEN })).status).toBe(200);
  const expected = [
    { url: sims[1].url, state: 'draining', labels: [] },
    { url: sims[2].url, state: 'up', labels: ['third'] },
  ];
  for (const p of [a, b]) await waitFor(`${p.name} to list the changed pool`, async () => JSON.stringify(shape(await pool(p))) === JSON.stringify(expected), 20_000);
  for (const p of [a, b]) expect((await p.readyz())?.body.checks.backends).toBe(1);

  // Jobs through both processes all run on the one backend that takes work.
  const jobs = Array.from({ length: 6 }, (_, i) => ({ process: i % 2 ? b : a, clientId: `pool-${i}-${randomUUID().slice(0, 6)}`, seed: 90_000 + i }));
  const answers = await Promise.all(jobs.map((j) => submitCurated(j.process, j.clientId, KEYS.alice, { seed: j.seed, text: `pool ${j.seed}`, steps: 4 })));
  expect(answers.map((r) => r.status)).toEqual(jobs.map(() => 200));
  await ledger.until('6 executions finished', () => ledger.finished() >= 6, 40_000);
  expect(ledger.perSim()).toEqual([0, 0, 6]);
  expect(ledger.duplicates()).toEqual([]);

  // Both restarted, with COMFYUI_SERVERS naming another pool: the stored one stands.
  await Promise.all([a.stop(), b.stop()]);
  const [c, d] = await cluster.start(2, { COMFYUI_SERVERS: sims[0].url });
  for (const p of [c, d]) {
    await waitFor(`${p.name} to list the pool as left`, async () => JSON.stringify(shape(await pool(p))) === JSON.stringify(expected), 20_000);
  }
});
