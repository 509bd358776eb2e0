// Every refusal code the engine can raise is told by the v2 door in its own terms (spec-style code
// and status, Retry-After kept, problems listed), through the door's real error middleware.
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import Koa from 'koa';
import { ClientError, REFUSAL_CODES } from '../../src/engine/errors.js';
import { ENGINE_REFUSALS, v2Errors } from '../../src/v2/errors.js';

let server: http.Server;
let base: string;

beforeAll(async () => {
  const app = new Koa();
  app.use(v2Errors());
  // Each path throws the engine's refusal of that code, as the engine throws it.
  app.use((ctx) => {
    const code = ctx.path.slice(1);
    const status = code === 'queue_full' || code === 'store_unavailable' ? 503 : code === 'client_limit' || code === 'key_limit' ? 429 : 400;
    const problems = code === 'invalid_inputs' ? ['"3/seed" must be a number', 'unknown input "9/x"'] : undefined;
    throw new ClientError(status, `engine says ${code}`, status !== 400 ? { 'Retry-After': '7' } : {}, { code, ...(problems && { problems }) });
  });
  server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

test('each engine code maps to a spec-style code and status', async () => {
  expect(Object.keys(ENGINE_REFUSALS).sort()).toEqual([...REFUSAL_CODES].sort());
  const expected: Record<string, [number, string]> = {
    queue_full: [429, 'queue_full'],
    client_limit: [429, 'queue_full'],
    key_limit: [429, 'key_limit'],
    invalid_priority: [422, 'invalid_priority'], // an unknown tier; one above the key's stays 403 (test/e2e/fair-share)
    store_unavailable: [503, 'unavailable'],
    unknown_workflow: [404, 'not_found'],
    invalid_inputs: [422, 'invalid_inputs'],
    unrunnable: [422, 'unrunnable'],
  };
  for (const code of REFUSAL_CODES) {
    const res = await fetch(`${base}/${code}`);
    const body = (await res.json()) as { error: { code: string; message: string; details?: { problems?: string[] } } };
    expect([code, res.status, body.error.code]).toEqual([code, ...expected[code]]);
    if (res.status !== 404 && res.status !== 422) expect(res.headers.get('retry-after')).toBe('7');
  }
});

test('invalid_inputs lists every problem; client_limit speaks of the key, not of a clientId', async () => {
  const inputs = (await (await fetch(`${base}/invalid_inputs`)).json()) as { error: { details: { problems: string[] } } };
  expect(inputs.error.details.problems).toEqual(['"3/seed" must be a number', 'unknown input "9/x"']);
  const limit = (await (await fetch(`${base}/client_limit`)).json()) as { error: { message: string } };
  expect(limit.error.message).toMatch(/API key.*MAX_JOBS_PER_CLIENT/);
});
