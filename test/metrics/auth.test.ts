// Who may read GET /metrics: METRICS_TOKEN (Bearer) or the admin token when either is set (a client
// API key then never does); when neither is set, whoever may use the client API.
import type { ComfySimulator } from '../../src/sim/index.js';
import { startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';

const KEY = 'metrics-auth-client-key-0123';
const ADMIN = 'metrics-auth-admin-token-0123';
const METRICS = 'metrics-auth-scrape-token-0123';

let sims: ComfySimulator[];
const bridges: TestBridge[] = [];

beforeAll(async () => {
  sims = await startSims(1);
});

afterAll(async () => {
  await Promise.all(bridges.map((b) => b.dispose()));
  await Promise.all((sims ?? []).map((s) => s.close()));
});

async function bridgeWith(env: Record<string, string>): Promise<TestBridge> {
  const bridge = await startBridge(sims.map((s) => s.url), env);
  bridges.push(bridge);
  return bridge;
}

async function status(bridge: TestBridge, headers: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${bridge.url}/metrics`, { headers });
  const text = await res.text();
  if (res.status === 401) {
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(JSON.parse(text).detail).toMatch(/METRICS_TOKEN/);
  } else {
    expect(text).toContain('comfy_bridge_jobs_submitted_total');
  }
  return res.status;
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

test('ADMIN_TOKEN set: the admin token reads the metrics, nobody else', async () => {
  const bridge = await bridgeWith({ API_KEYS: KEY, ADMIN_TOKEN: ADMIN });
  expect(await status(bridge)).toBe(401);
  expect(await status(bridge, bearer(KEY))).toBe(401);
  expect(await status(bridge, bearer(METRICS))).toBe(401);
  expect(await status(bridge, bearer(ADMIN))).toBe(200);
  expect(await status(bridge, { 'x-admin-token': ADMIN })).toBe(200);
});

test('METRICS_TOKEN set: it reads the metrics as a Bearer token, and so does the admin token', async () => {
  const bridge = await bridgeWith({ API_KEYS: KEY, ADMIN_TOKEN: ADMIN, METRICS_TOKEN: METRICS });
  expect(await status(bridge)).toBe(401);
  expect(await status(bridge, bearer(KEY))).toBe(401);
  expect(await status(bridge, bearer(`${METRICS}x`))).toBe(401);
  expect(await status(bridge, bearer(METRICS))).toBe(200);
  expect(await status(bridge, bearer(ADMIN))).toBe(200);
  // The metrics token is no operator: it opens nothing else.
  expect((await fetch(`${bridge.url}/free`, { method: 'POST', headers: bearer(METRICS) })).status).toBe(401);
});

test('METRICS_TOKEN without ADMIN_TOKEN: the metrics are not open', async () => {
  const bridge = await bridgeWith({ METRICS_TOKEN: METRICS });
  expect(await status(bridge)).toBe(401);
  expect(await status(bridge, { 'x-admin-token': 'anything-at-all-here' })).toBe(401);
  expect(await status(bridge, bearer(METRICS))).toBe(200);
});

test('neither token: whoever may use the client API reads them, as for operator actions', async () => {
  const open = await bridgeWith({});
  expect(await status(open)).toBe(200);
  const keyed = await bridgeWith({ API_KEYS: KEY });
  expect(await status(keyed)).toBe(401);
  expect(await status(keyed, bearer(`${KEY}x`))).toBe(401);
  expect(await status(keyed, bearer(KEY))).toBe(200);
});
