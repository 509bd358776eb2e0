// SIGKILL of the dispatcher under load: three processes, thirty jobs from several clients of both
// doors submitted through every process, the dispatcher killed while jobs wait and run. Another
// process takes over within the lease, every job finishes exactly once with its own result, and
// clients following on the surviving processes see their work finish.
import { randomUUID } from 'node:crypto';
import { KEYS, LEASE_S, CuratedFollower, SimLedger, TestCluster, clusterTest, comfyResult, comfySocket, curatedResults, submitComfy, submitCurated, waitFor, within } from './harness.js';
import type { BridgeProcess } from './harness.js';
import type { ComfyWs } from '../compat/harness.js';

/** The lease expires, then a process notices within a renewal period (lease/3); plus a margin for a busy machine. */
const TAKEOVER_MS = LEASE_S * 1000 * (4 / 3) + 2000;
const STEPS = 15; // 15 × 20 ms: jobs of about 0.3 s

let cluster: TestCluster;
let ledger: SimLedger;

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 2, sim: { stepMs: 20, previews: false } });
  await cluster.start(3);
  ledger = new SimLedger(cluster.sims);
}, 120_000);

afterAll(async () => {
  ledger?.close();
  await cluster?.close();
});

interface CuratedClient {
  clientId: string;
  key: string;
  seeds: number[];
  follower?: CuratedFollower;
  on?: BridgeProcess;
}

interface ComfyClient {
  clientId: string;
  key: string;
  prompts: { id: string; seed: number }[];
  ws?: ComfyWs;
  on?: BridgeProcess;
}

clusterTest('the dispatcher is SIGKILLed mid-run: another takes over within the lease, every job finishes once with its own result', 75_000, async () => {
  const dispatcher = await cluster.dispatcher();
  const all = cluster.processes;
  const survivors = all.filter((p) => p !== dispatcher);

  // 6 curated clients × 2 jobs and 6 ComfyUI clients × 3 prompts, over two tenants.
  const curated: CuratedClient[] = Array.from({ length: 6 }, (_, i) => ({
    clientId: `failover-curated-${i}-${randomUUID().slice(0, 6)}`,
    key: i % 2 ? KEYS.bob : KEYS.alice,
    seeds: [10_000 + i * 10, 10_000 + i * 10 + 1],
  }));
  const comfy: ComfyClient[] = Array.from({ length: 6 }, (_, i) => ({
    clientId: `failover-comfy-${i}`,
    key: i % 2 ? KEYS.alice : KEYS.bob,
    prompts: [0, 1, 2].map((j) => ({ id: randomUUID(), seed: 20_000 + i * 10 + j })),
  }));

  // ComfyUI clients listen on a surviving process from before their first prompt.
  for (const [i, client] of comfy.entries()) {
    client.on = survivors[i % survivors.length];
    client.ws = await comfySocket(client.on, client.clientId, client.key);
  }
  try {
    // Every job through some process, the dispatcher included, interleaving the doors.
    const submissions: Promise<void>[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [i, client] of curated.entries()) {
        const seed = client.seeds[round];
        if (seed === undefined) continue;
        const through = all[(i + round) % all.length];
        submissions.push(submitCurated(through, client.clientId, client.key, { seed, text: `job ${seed}`, steps: STEPS }).then((r) => {
          if (r.status !== 200) throw new Error(`curated ${client.clientId} on ${through.name}: ${r.status} ${r.text}`);
        }));
      }
      for (const [i, client] of comfy.entries()) {
        const { id, seed } = client.prompts[round];
        const through = all[(i + round + 1) % all.length];
        submissions.push(submitComfy(through, client.clientId, client.key, id, seed, STEPS).then((r) => {
          if (r.status !== 200) throw new Error(`comfy ${id} on ${through.name}: ${r.status} ${r.text}`);
        }));
      }
    }
    await Promise.all(submissions);
    const total = curated.reduce((n, c) => n + c.seeds.length, 0) + comfy.reduce((n, c) => n + c.prompts.length, 0);
    expect(total).toBe(30);

    // Curated clients follow on a surviving process once all their work is in ("closed" ends it all).
    for (const [i, client] of curated.entries()) {
      client.on = survivors[(i + 1) % survivors.length];
      client.follower = await CuratedFollower.connect(client.on, client.clientId, client.key);
    }

    // Mid-run: some jobs done, most still waiting or running.
    await ledger.until('8 executions finished', () => ledger.finished() >= 8, 30_000);
    const killedAt = Date.now();
    const exit = await dispatcher.kill('SIGKILL');
    expect(exit.signal).toBe('SIGKILL');
    expect(ledger.finished()).toBeLessThan(total - 10);

    const successor = await waitFor(
      'a surviving process to become the dispatcher',
      async () => {
        const roles = await Promise.all(survivors.map((p) => p.role()));
        return survivors.find((_, i) => roles[i] === 'dispatcher');
      },
      TAKEOVER_MS + 10_000,
      25,
    );
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThanOrEqual(TAKEOVER_MS);
    // One dispatcher, not two; both survivors ready.
    expect(await cluster.dispatcher(survivors)).toBe(successor);
    await Promise.all(survivors.map((p) => p.waitReady(10_000)));

    // Every client, following on a survivor, sees all its work finish.
    await Promise.all([
      ...curated.map(async (client) => {
        const statuses = await client.follower!.untilClosed(40_000, `"closed" for ${client.clientId} on ${client.on!.name}`);
        expect(statuses).not.toContain('error');
        expect(statuses.at(-1)).toBe('closed');
      }),
      ...comfy.flatMap((client) =>
        client.prompts.map(async ({ id }) => {
          await within(40_000, `execution_success of ${id} on ${client.on!.name}`, client.ws!.nextJson('execution_success', (d) => d.prompt_id === id));
          await within(5000, `executing null of ${id}`, client.ws!.done(id));
        }),
      ),
    ]);
    for (const client of comfy) {
      const errors = client.ws!.frames.filter((f) => f.kind === 'json' && ['execution_error', 'execution_interrupted'].includes(f.type));
      expect(errors).toEqual([]);
    }

    // Each with its own result.
    const ids: string[] = [];
    for (const client of curated) {
      const results = await curatedResults(client.on!, client.clientId, client.key);
      expect(results.map((r) => r.seed).sort()).toEqual([...client.seeds].sort());
      for (const r of results) expect(r.text).toBe(`job ${r.seed}`);
      ids.push(...results.map((r) => r.promptId));
    }
    for (const client of comfy) {
      for (const { id, seed } of client.prompts) {
        // A ComfyUI client that finds no entry yet asks again.
        const result = await waitFor(`/history/${id} on ${client.on!.name}`, () => comfyResult(client.on!, id, client.key), 5000);
        expect(result).toEqual({ promptId: id, seed });
        ids.push(id);
      }
    }

    // Exactly once: every job executed once on the simulators, nothing executed twice, nothing else.
    expect(new Set(ids).size).toBe(total);
    expect(ledger.duplicates()).toEqual([]);
    expect(ids.filter((id) => ledger.runs(id) !== 1)).toEqual([]);
    expect(ledger.starts.size).toBe(total);
    expect([...ledger.ends.values()].flat().every((status) => status === 'success')).toBe(true);
    process.stderr.write(`fail-over: ${successor.name} took over ${takeoverMs} ms after the SIGKILL (lease ${LEASE_S} s); executions per simulator ${ledger.perSim().join(', ')}\n`);
  } finally {
    for (const client of comfy) await client.ws?.close();
    for (const client of curated) client.follower?.close();
  }
});
