// Collecting results: streamed from the backend, kept until a delivery completes.
import { request } from 'undici';
import { readPngText } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, engineEvent, postJson, readParts, startBridge, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';

let sim: ComfySimulator;
let bridge: TestBridge;
const BIG = 6 * 1024 * 1024;

beforeAll(async () => {
  [sim] = await startSims(1, { outputBytes: BIG });
  bridge = await startBridge([sim.url]);
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

test('a delivery cut short keeps the results; the next complete one forgets them', async () => {
  const clientId = 'cut-short-client';
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'invert', '1/color': 777 });
  await waitFinal(bridge, clientId);

  // Read the first chunk, then hang up.
  const res = await request(`${bridge.url}/history?clientId=${clientId}`);
  expect(res.statusCode).toBe(200);
  for await (const chunk of res.body) {
    expect(chunk.length).toBeGreaterThan(0);
    break; // leaving the loop destroys the body
  }
  expect(bridge.engine.jobsOf(clientId).filter((j) => j.state === 'completed' && j.collectedAt === undefined)).toHaveLength(1);

  const collected = engineEvent(bridge.engine, (e) => e.kind === 'collected' && e.clientId === clientId);
  const full = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  const parts = await readParts(full);
  expect(parts).toHaveLength(1);
  expect(parts[0].bytes.length).toBeGreaterThanOrEqual(BIG);
  expect(JSON.parse(readPngText(parts[0].bytes).prompt)['1'].inputs.color).toBe(777);
  await collected;
  expect((await fetch(`${bridge.url}/history?clientId=${clientId}`)).status).toBe(204);
});

test('results are answered 409 while the work is unfinished', async () => {
  const clientId = 'not-yet-client';
  await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'sleep.json', '2/seconds': 0.5 });
  const early = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  expect(early.status).toBe(409);
  expect(((await early.json()) as { detail: string }).detail).toMatch(/not finished/);
  await waitFinal(bridge, clientId);
  const done = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  expect(done.status).toBe(200);
  expect(await readParts(done)).toHaveLength(1);
});
