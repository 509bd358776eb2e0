// Placement over the whole cluster: sixteen jobs of about 0.4 s, half submitted through each of
// two processes, spread evenly over two backends, and no backend ever holds more than its slots
// (one running plus BACKEND_PREFETCH) counted over both processes: one dispatcher places them all.
import { randomUUID } from 'node:crypto';
import { KEYS, SimLedger, TestCluster, clusterTest, comfyResult, request, submitComfy, submitCurated, waitFor } from './harness.js';

const PREFETCH = 1;
const STEPS = 20; // 20 × 20 ms: jobs of about 0.4 s

let cluster: TestCluster;
let ledger: SimLedger;

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 2, sim: { stepMs: 20, previews: false }, env: { BACKEND_PREFETCH: String(PREFETCH) } });
  await cluster.start(2);
  ledger = new SimLedger(cluster.sims);
}, 120_000);

afterAll(async () => {
  ledger?.close();
  await cluster?.close();
});

clusterTest('16 jobs through two processes: each backend runs about half, none holds more than its slots', 60_000, async () => {
  const [a, b] = cluster.processes;
  // A burst: 8 curated jobs through A and 8 ComfyUI prompts through B, all at once.
  const curated = Array.from({ length: 8 }, (_, i) => ({ clientId: `balance-curated-${i}-${randomUUID().slice(0, 6)}`, seed: 60_000 + i }));
  const comfy = Array.from({ length: 8 }, (_, i) => ({ id: randomUUID(), seed: 70_000 + i }));
  const answers = await Promise.all([
    ...curated.map((c) => submitCurated(a, c.clientId, KEYS.alice, { seed: c.seed, text: `balance ${c.seed}`, steps: STEPS })),
    ...comfy.map((c, i) => submitComfy(b, `balance-comfy-${i}`, KEYS.bob, c.id, c.seed, STEPS)),
  ]);
  expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));

  await ledger.until('16 executions finished', () => ledger.finished() >= 16, 40_000);
  const perSim = ledger.perSim();
  process.stderr.write(`balance: executions per backend ${perSim.join(', ')}; most held at once ${ledger.mostHeld.join(', ')}\n`);
  expect(ledger.duplicates()).toEqual([]);
  expect(ledger.starts.size).toBe(16);
  for (const n of perSim) {
    expect(n).toBeGreaterThanOrEqual(6);
    expect(n).toBeLessThanOrEqual(10);
  }
  for (const held of ledger.mostHeld) expect(held).toBeLessThanOrEqual(1 + PREFETCH);

  // And finished as far as the bridge is concerned, whichever process one asks.
  for (const c of curated) {
    await waitFor(`${c.clientId} done`, async () => (await request('GET', `${b.url}/execution-info?clientId=${c.clientId}`, { key: KEYS.alice })).body?.status === 'closed', 10_000);
  }
  for (const c of comfy) {
    expect(await waitFor(`${c.id} done`, () => comfyResult(a, c.id, KEYS.bob), 10_000)).toEqual({ promptId: c.id, seed: c.seed });
  }
});
