// Capabilities in a cluster: a follower does not schedule, yet it refuses at submission, from
// what its own backends told it, a job no backend can run; what they can run is accepted there
// and run by the dispatcher.
import { randomUUID } from 'node:crypto';
import { KEYS, TestCluster, clusterTest, request, waitFor } from './harness.js';
import type { BridgeProcess } from './harness.js';
import { imageGraph, samplerGraph } from '../compat/harness.js';

let cluster: TestCluster;
let follower: BridgeProcess;

beforeAll(async () => {
  cluster = await TestCluster.create({ sims: 2, sim: { missingNodes: ['KSampler'] } });
  await cluster.start(2);
  const dispatcher = await cluster.dispatcher();
  follower = cluster.processes.find((p) => p !== dispatcher)!;
}, 120_000);

afterAll(async () => {
  await cluster?.close();
});

clusterTest('a follower refuses on every door what no backend can run, and accepts what one can', 40_000, async () => {
  // Its backends must have described themselves first: until then nothing is refused.
  await waitFor('the follower to know its backends', async () => (await request('POST', `${follower.url}/api/v2/jobs`, { key: KEYS.alice, json: { workflow: samplerGraph(1, 1) } })).status === 422, 20_000);

  const comfy = await request('POST', `${follower.door}/prompt`, { key: KEYS.alice, json: { prompt: samplerGraph(1, 2), client_id: `caps-${randomUUID().slice(0, 8)}` } });
  // No backend has KSampler: the pool's /object_info does not list it, as ComfyUI would say.
  expect(comfy.status).toBe(400);
  expect(comfy.body.error.type).toBe('invalid_prompt');
  const curated = await request('POST', `${follower.url}/generate-based-workflow?clientId=caps-curated-01`, { key: KEYS.alice, json: { workflow: 'txt2img' } });
  expect(curated.status).toBe(422);
  expect(curated.body.detail).toContain('no backend has node class KSampler');
  const v2 = await request('POST', `${follower.url}/api/v2/jobs`, { key: KEYS.alice, json: { workflow: samplerGraph(1, 3) } });
  expect(v2.status).toBe(422);

  const ok = await request('POST', `${follower.door}/prompt`, { key: KEYS.alice, json: { prompt: imageGraph(), client_id: `caps-${randomUUID().slice(0, 8)}` } });
  expect(ok.status).toBe(200);
  const id = ok.body.prompt_id as string;
  await waitFor('the image job to finish', async () => {
    const history = await request('GET', `${follower.door}/history/${id}`, { key: KEYS.alice });
    return history.body?.[id]?.status?.completed === true;
  }, 20_000);
});
