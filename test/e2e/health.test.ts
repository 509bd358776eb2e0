// Health for load balancers: /healthz while the process runs; /readyz flips to 503 when the last
// backend dies and back to 200 when it returns, driven by the engine's own backend events.
import { startBridge, startSims, backendsUp, getJson, engineUntil } from './harness.js';

test('readiness follows the last backend down and back up; liveness stays', async () => {
  const [sim] = await startSims(1);
  const bridge = await startBridge([sim.url]);
  try {
    await backendsUp(bridge);
    expect((await getJson(`${bridge.url}/readyz`)).status).toBe(200);
    sim.kill();
    await engineUntil(bridge.engine, () => !bridge.engine.readiness().ready);
    const unready = await getJson(`${bridge.url}/readyz`);
    expect(unready.status).toBe(503);
    expect(unready.body).toMatchObject({ status: 'unready', checks: { backends: 0, doors: true, store: true } });
    expect((await getJson(`${bridge.url}/healthz`)).status).toBe(200);
    await sim.restart();
    await engineUntil(bridge.engine, () => bridge.engine.readiness().ready);
    const ready = await getJson(`${bridge.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ status: 'ready', checks: { backends: 1 } });
  } finally {
    await bridge.dispose();
    await sim.close();
  }
});
