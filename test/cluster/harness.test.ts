// The cluster harness itself, on what it needs of the product: a local redis-server that keeps
// its data across a stop and a launch, a bridge spawned as its own process from the sources (its
// log kept, its end reported), and the helpers that submit, follow and count work. (A process
// that never gets ready is reported with its log: startup.test.ts.)
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { KEYS, CuratedFollower, SimLedger, TestCluster, clusterTest, comfyResult, comfySocket, curatedResults, submitComfy, submitCurated, waitFor, within } from './harness.js';
import type { BridgeProcess } from './harness.js';

let cluster: TestCluster;
let plain: BridgeProcess;

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 1, sim: { stepMs: 5 } });
  // Without REDIS_URL: one process on its own files, as before the cluster existed.
  plain = await cluster.spawn({ REDIS_URL: undefined }, 'plain');
  await plain.waitAnswering();
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

clusterTest('the local redis-server keeps its data across stop and launch, on the same port', 20_000, async () => {
  const redis = cluster.redis;
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.set('harness:kept', 'yes');
    await redis.stop();
    expect(redis.running).toBe(false);
    await expect(client.ping()).rejects.toThrow();
    await redis.launch();
    expect(redis.running).toBe(true);
    const value = await waitFor('the key back after the launch', () => client.get('harness:kept').then((v) => v ?? undefined), 5000);
    expect(value).toBe('yes');
  } finally {
    client.disconnect();
  }
});

clusterTest('a spawned bridge takes work on both doors; the helpers follow it, read its results and count executions', 40_000, async () => {
  const ledger = new SimLedger(cluster.sims);
  try {
    const clientId = `harness-curated-${randomUUID().slice(0, 8)}`;
    const follower = await CuratedFollower.connect(plain, clientId, KEYS.alice);
    const submitted = await submitCurated(plain, clientId, KEYS.alice, { seed: 4242, text: 'a harness check', steps: 3 });
    expect(submitted.status).toBe(200);
    const statuses = await follower.untilClosed(15_000);
    expect(statuses.at(-1)).toBe('closed');
    const [result, ...more] = await curatedResults(plain, clientId, KEYS.alice);
    expect(more).toEqual([]);
    expect(result).toMatchObject({ seed: 4242, text: 'a harness check' });

    const ws = await comfySocket(plain, 'harness-comfy', KEYS.bob);
    const promptId = randomUUID();
    expect((await submitComfy(plain, 'harness-comfy', KEYS.bob, promptId, 777, 3)).status).toBe(200);
    await within(15_000, 'execution_success', ws.nextJson('execution_success', (d) => d.prompt_id === promptId));
    expect(await comfyResult(plain, promptId, KEYS.bob)).toEqual({ promptId, seed: 777 });
    await ws.close();

    await ledger.until('both executions ended', () => ledger.finished() === 2, 5000);
    expect(ledger.runs(result.promptId)).toBe(1);
    expect(ledger.runs(promptId)).toBe(1);
    expect(ledger.perSim()).toEqual([2]);
    expect(ledger.duplicates()).toEqual([]);
    expect(ledger.mostHeld[0]).toBeGreaterThanOrEqual(1);
  } finally {
    ledger.close();
  }
  expect(plain.logRecords().some((r) => r.level === 'info' && /listening on/.test(r.msg ?? ''))).toBe(true);
  const exit = await plain.kill('SIGKILL');
  expect(exit).toEqual({ code: null, signal: 'SIGKILL' });
});
