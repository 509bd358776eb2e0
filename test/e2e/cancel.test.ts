// Interrupting and going away: a client's own jobs stop, everyone else's carry on.
import { ComfySimulator } from '../../src/sim/index.js';
import { TestClient, backendsUp, getJson, postJson, readParts, simEvent, startBridge, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';

let sim: ComfySimulator;
let bridge: TestBridge;

beforeAll(async () => {
  [sim] = await startSims(1);
  // One job per backend at a time, so the others visibly wait in the bridge.
  bridge = await startBridge([sim.url], { BACKEND_PREFETCH: '0' });
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

const jobOf = (clientId: string, i = 0) => bridge.engine.jobsOf(clientId)[i];

test('POST /interrupt stops the running job and drops the waiting one of that client only', async () => {
  const a = await TestClient.connect(bridge, 'interrupt-me-a');
  const started = simEvent<string>(sim, 'started');
  await postJson(`${bridge.url}/generate-based-workflow?clientId=interrupt-me-a`, { workflow: 'sleep.json', '2/seconds': 30 });
  const runningId = await started;
  expect(runningId).toBe(jobOf('interrupt-me-a').id);
  // A second job of the same client and one of another client wait in the bridge.
  await postJson(`${bridge.url}/generate-based-workflow?clientId=interrupt-me-a`, { workflow: 'sleep.json', '2/seconds': 30 });
  await postJson(`${bridge.url}/generate-based-workflow?clientId=bystander-b`, { workflow: 'invert', '1/color': 4242 });
  // a's second job waited for a's next turn before the bystander came: the bystander is second.
  expect((await getJson(`${bridge.url}/execution-info?clientId=bystander-b`)).body).toEqual({ status: 'queued', detail: 'queued / 2' });

  const interrupted = simEvent<string | null>(sim, 'interrupt');
  const res = await postJson(`${bridge.url}/interrupt?clientId=interrupt-me-a`);
  expect(res.status).toBe(200);
  expect(res.body).toEqual({ detail: 'interrupted that clientId will be ignored. / interrupt-me-a' });
  // Targeted by prompt_id: never a global interrupt.
  expect(await interrupted).toBe(runningId);

  const error = await a.next((m) => m.status === 'error');
  expect(error.detail).toMatch(/interrupted/);
  await a.next((m) => m.status === 'closed');
  await waitFinal(bridge, 'interrupt-me-a');
  expect(bridge.engine.jobsOf('interrupt-me-a').map((j) => j.state)).toEqual(['cancelled', 'cancelled']);
  // The waiting one never reached the backend.
  const second = jobOf('interrupt-me-a', 1).id;
  expect(sim.receivedPrompts().map((p) => p.promptId)).not.toContain(second);

  // The bystander runs and gets its own result.
  await waitFinal(bridge, 'bystander-b');
  expect(jobOf('bystander-b').state).toBe('completed');
  const parts = await readParts(await fetch(`${bridge.url}/history?clientId=bystander-b`));
  expect(parts).toHaveLength(1);
  const info = await getJson(`${bridge.url}/execution-info?clientId=interrupt-me-a`);
  expect(info.body.status).toBe('error');
});

test('a client that disconnects mid-job has its running job interrupted and its waiting job removed', async () => {
  const c = await TestClient.connect(bridge, 'goes-away-c');
  const started = simEvent<string>(sim, 'started');
  await postJson(`${bridge.url}/generate-based-workflow?clientId=goes-away-c`, { workflow: 'sleep.json', '2/seconds': 30 });
  await postJson(`${bridge.url}/generate-based-workflow?clientId=goes-away-c`, { workflow: 'sleep.json', '2/seconds': 30 });
  expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=stays-put-d`, { workflow: 'invert' })).status).toBe(200);
  const runningId = await started;
  expect(runningId).toBe(jobOf('goes-away-c').id);

  const interrupted = simEvent<string | null>(sim, 'interrupt');
  c.close();
  expect(await interrupted).toBe(runningId);
  await waitFinal(bridge, 'goes-away-c');
  expect(bridge.engine.jobsOf('goes-away-c').map((j) => j.state)).toEqual(['cancelled', 'cancelled']);
  expect(sim.receivedPrompts().map((p) => p.promptId)).not.toContain(jobOf('goes-away-c', 1).id);
  const info = await getJson(`${bridge.url}/execution-info?clientId=goes-away-c`);
  expect(info.body).toEqual({ status: 'error', detail: 'client disconnected' });

  await waitFinal(bridge, 'stays-put-d');
  expect(jobOf('stays-put-d').state).toBe('completed');
});

test('interrupting a client with nothing running touches nobody', async () => {
  await postJson(`${bridge.url}/generate-based-workflow?clientId=untouched-e`, { workflow: 'sleep.json', '2/seconds': 0.2 });
  const interrupts = sim.stats.interrupts;
  const res = await postJson(`${bridge.url}/interrupt?clientId=has-nothing-f`);
  expect(res.status).toBe(200);
  await waitFinal(bridge, 'untouched-e');
  expect(jobOf('untouched-e').state).toBe('completed');
  expect(sim.stats.interrupts).toBe(interrupts);
});
