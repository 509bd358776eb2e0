// Metrics over two processes: each process exposes its own, every job is counted once (by the
// dispatcher, whichever process took it), and a process's own traffic is counted where it happened.
import { randomUUID } from 'node:crypto';
import { ADMIN_TOKEN, KEYS, TestCluster, clusterTest, comfyResult, curatedResults, request, submitComfy, submitCurated, waitFor } from './harness.js';
import type { BridgeProcess } from './harness.js';
import { scrape, select, value } from '../metrics/scrape.js';
import type { Scrape } from '../metrics/scrape.js';

const P = 'comfy_bridge_';

let cluster: TestCluster;

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 2, sim: { stepMs: 5, previews: false } });
  await cluster.start(2);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

const metricsOf = (p: BridgeProcess): Promise<Scrape> => scrape(p.url, { authorization: `Bearer ${ADMIN_TOKEN}` });

clusterTest('jobs through both processes are counted once, by the dispatcher; bytes where they were served', 90_000, async () => {
  const dispatcher = await cluster.dispatcher();
  const follower = cluster.live().find((p) => p !== dispatcher)!;

  // Curated jobs through each process, ComfyUI prompts through each process.
  const curated = [dispatcher, follower, follower].map((p, i) => ({ p, clientId: `metrics-cluster-${i}-${randomUUID().slice(0, 8)}`, seed: 9000 + i }));
  const prompts = [dispatcher, follower].map((p, i) => ({ p, id: randomUUID(), seed: 9100 + i }));
  const answers = await Promise.all([
    ...curated.map((c) => submitCurated(c.p, c.clientId, KEYS.alice, { seed: c.seed, text: `metrics ${c.seed}`, steps: 4 })),
    ...prompts.map((c, i) => submitComfy(c.p, `metrics-cluster-comfy-${i}`, KEYS.bob, c.id, c.seed, 4)),
  ]);
  expect(answers.map((r) => r.status)).toEqual(answers.map(() => 200));
  for (const c of curated) {
    await waitFor(`${c.clientId} done`, async () => (await request('GET', `${follower.url}/execution-info?clientId=${c.clientId}`, { key: KEYS.alice })).body?.status === 'closed', 20_000);
  }
  for (const c of prompts) await waitFor(`${c.id} done`, () => comfyResult(c.p, c.id, KEYS.bob), 20_000);
  // The results of every curated job, collected through the follower.
  for (const c of curated) expect(await curatedResults(follower, c.clientId, KEYS.alice)).toHaveLength(1);

  const [d, f] = await Promise.all([metricsOf(dispatcher), metricsOf(follower)]);
  expect(value(d, `${P}dispatcher`)).toBe(1);
  expect(value(f, `${P}dispatcher`)).toBe(0);

  // Each job once over the cluster: all on the dispatcher, none on the follower.
  const submitted = (s: Scrape, labels: Record<string, string>) => value(s, `${P}jobs_submitted_total`, labels);
  expect(submitted(d, { workflow: 'txt2img', door: 'curated' })).toBe(3);
  expect(submitted(d, { workflow: 'prompt', door: 'comfy' })).toBe(2);
  expect(select(f, `${P}jobs_submitted_total`)).toEqual([]);
  expect(value(d, `${P}jobs_finished_total`, { outcome: 'succeeded' })).toBe(5);
  expect(select(f, `${P}jobs_finished_total`)).toEqual([]);
  expect(value(d, `${P}job_run_seconds_count`)).toBe(5);
  expect(value(f, `${P}job_run_seconds_count`)).toBe(0);
  // The shared queue's gauges on the dispatcher only; each process's own view of the backends.
  expect(select(d, `${P}queue_depth`).length).toBe(3);
  expect(select(f, `${P}queue_depth`)).toEqual([]);
  expect(select(f, `${P}backend_in_flight`)).toEqual([]);
  for (const s of [d, f]) expect(value(s, `${P}backend_up`)).toBe(2);

  // The follower served every curated result.
  expect(value(f, `${P}result_bytes_total`, { door: 'curated' })).toBeGreaterThan(0);
  expect(value(d, `${P}result_bytes_total`, { door: 'curated' })).toBe(0);
});
