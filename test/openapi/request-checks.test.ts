// Routes whose requests are checked with the zod schemas of the OpenAPI document: each refusal
// keeps its door's shape and status and lists every problem at once.
import type { ComfySimulator } from '../../src/sim/index.js';
import { startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';

const KEY = 'checks-key-0123456789abcdef';
const ADMIN = 'checks-admin-0123456789abcdef';

let sim: ComfySimulator;
let bridge: TestBridge;

beforeAll(async () => {
  [sim] = await startSims(1);
  bridge = await startBridge([sim.url], { API_KEYS: KEY, ADMIN_TOKEN: ADMIN });
});
afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

async function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(`${bridge.url}${path}`, { ...init, headers: { authorization: `Bearer ${KEY}`, ...init.headers } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

test('GET /admin/webhooks: every problem of the query in one {"detail"}', async () => {
  const admin = { 'x-admin-token': ADMIN, authorization: `Bearer ${ADMIN}` };
  const bad = await call('/admin/webhooks?status=lost&limit=0', { headers: admin });
  expect(bad.status).toBe(400);
  expect(bad.body.detail).toContain('status must be one of pending, delivered, dead');
  expect(bad.body.detail).toContain('limit must be a whole number from 1 to 500');
  const twice = await call('/admin/webhooks?limit=2&limit=3&cursor=x&cursor=y', { headers: admin });
  expect(twice.status).toBe(400);
  expect(twice.body.detail).toBe('"limit" is given more than once; "cursor" is given more than once');
  const good = await call('/admin/webhooks?status=dead&limit=500', { headers: admin });
  expect(good).toEqual({ status: 200, body: { deliveries: [], next_cursor: null } });
  // Empty parameters are absent ones.
  expect((await call('/admin/webhooks?status=&limit=', { headers: admin })).status).toBe(200);
});

test('GET /workflow-info without a workflow names the known ones', async () => {
  const res = await call('/workflow-info');
  expect(res.status).toBe(400);
  expect(res.body.detail).toMatch(/^workflow is required: add \?workflow=<alias>, one of .*txt2img/);
});

test('POST /api/v2/assets/from-hash: every problem of the body in one ErrorEnvelope', async () => {
  const post = (body: unknown) => call('/api/v2/assets/from-hash', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const bad = await post({ file_path: '', tags: ['ok', ''] });
  expect(bad.status).toBe(422);
  expect(bad.body.error.code).toBe('invalid_request');
  expect(bad.body.error.details.problems).toEqual([
    '"hash" is required: the blake3:<hex> of bytes you uploaded before',
    '"file_path" must be a file name of 1 to 1024 characters without control characters',
    '"tags" must be a list of at most 32 strings of 1 to 128 characters',
  ]);
  expect(bad.body.error.message).toBe(bad.body.error.details.problems.join('; '));
  const notObject = await post(['blake3:00']);
  expect(notObject.status).toBe(422);
  expect(notObject.body.error.message).toMatch(/^send a JSON object/);
});
