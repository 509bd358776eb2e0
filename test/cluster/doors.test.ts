// Any door on any process: work submitted to one bridge process is followed on a second and
// collected on a third, on both doors. The roles are chosen so that the submission, the socket
// and the results each land once on a follower and once on the dispatcher.
import { randomUUID } from 'node:crypto';
import { KEYS, CuratedFollower, TestCluster, clusterTest, comfyResult, comfySocket, curatedResults, request, submitComfy, submitCurated, waitFor, within } from './harness.js';
import type { BridgeProcess } from './harness.js';

let cluster: TestCluster;
let dispatcher: BridgeProcess;
let followers: BridgeProcess[];

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 2, sim: { stepMs: 30 } });
  await cluster.start(3);
  dispatcher = await cluster.dispatcher();
  followers = cluster.processes.filter((p) => p !== dispatcher);
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

clusterTest('curated door: submit on one process, follow the websocket on another, collect on a third', 40_000, async () => {
  const [a, b] = followers;
  const c = dispatcher;
  const clientId = `doors-curated-${randomUUID().slice(0, 8)}`;
  const job = { seed: 918_273, text: `a lighthouse for ${clientId}`, steps: 10 };

  // Connected first, so the whole run is heard on B.
  const follower = await CuratedFollower.connect(b, clientId, KEYS.alice);
  const submitted = await submitCurated(a, clientId, KEYS.alice, job);
  expect(submitted.status).toBe(200);
  expect(submitted.body.detail).toMatch(/^queued \/ \d+$/);

  const statuses = await follower.untilClosed(20_000, `"closed" on ${b.name}`);
  expect(statuses).not.toContain('error');
  expect(statuses).toContain('progress');
  expect(statuses.at(-1)).toBe('closed');
  const percents = follower.messages.filter((m) => m.status === 'progress').map((m) => parseFloat(m.detail));
  expect(percents).toEqual([...percents].sort((x, y) => x - y));

  // C learns of the end from the same stream as B; a poll of C is a client's way to wait for it.
  await waitFor(`${c.name} to report the job done`, async () => (await request('GET', `${c.url}/execution-info?clientId=${clientId}`, { key: KEYS.alice })).body?.status === 'closed', 5000);
  const results = await curatedResults(c, clientId, KEYS.alice);
  expect(results).toHaveLength(1);
  expect(results[0]).toMatchObject({ seed: job.seed, text: job.text });
  // Collected on C: no process has it to give any more.
  await waitFor(`${a.name} to see the results collected`, async () => (await request('GET', `${a.url}/history?clientId=${clientId}`, { key: KEYS.alice })).status === 204, 5000);
  // Another tenant's key does not see the client on any process.
  expect((await request('GET', `${b.url}/execution-info?clientId=${clientId}`, { key: KEYS.bob })).status).toBe(404);
});

clusterTest('ComfyUI door: POST /prompt on one process, its messages on another, /history and /view on a third', 40_000, async () => {
  const [b, c] = followers;
  const a = dispatcher;
  const clientId = `doors-comfy-${randomUUID().slice(0, 8)}`;
  const promptId = randomUUID();
  const seed = 5_550_123;

  const ws = await comfySocket(b, clientId, KEYS.bob);
  try {
    const submitted = await submitComfy(a, clientId, KEYS.bob, promptId, seed, 10);
    expect(submitted.status).toBe(200);
    expect(submitted.body).toEqual({ prompt_id: promptId, number: expect.any(Number), node_errors: {} });

    await within(20_000, `execution_success of ${promptId} on ${b.name}`, ws.nextJson('execution_success', (d) => d.prompt_id === promptId));
    await within(5000, `executing null of ${promptId} on ${b.name}`, ws.done(promptId));
    const types = ws.messagesOf(promptId).map((m) => m.type);
    expect(types).toContain('execution_start');
    expect(types).toContain('executing');
    const executed = ws.messagesOf(promptId).filter((m) => m.type === 'executed');
    expect(executed.map((m) => m.data.node)).toContain('9');
    expect(executed.find((m) => m.data.node === '9')!.data.output.images).toHaveLength(1);
    // ComfyUI's order: the node outputs, then success, then executing null.
    expect(types.lastIndexOf('executed')).toBeLessThan(types.indexOf('execution_success'));
    expect(types.indexOf('execution_success')).toBeLessThan(types.lastIndexOf('executing'));

    // The history entry reaches C with the job's end; a ComfyUI client that sees {} asks again.
    await waitFor(`/history/${promptId} on ${c.name}`, async () => (await request('GET', `${c.door}/history/${promptId}`, { key: KEYS.bob })).body?.[promptId], 5000);
    expect(await comfyResult(c, promptId, KEYS.bob)).toEqual({ promptId, seed });
    // Not another tenant's to see.
    expect((await request('GET', `${c.door}/history/${promptId}`, { key: KEYS.alice })).body).toEqual({});
  } finally {
    await ws.close();
  }
});
