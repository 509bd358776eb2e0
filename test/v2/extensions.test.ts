// The v2 door's place for extensions (a webhook to call, asset references to resolve): an extension
// names the body fields and headers it reads, may refuse or rewrite a submission, and keeps what it
// needs with the job. Served by the real door and routes over a simulated ComfyUI.
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import type { ComfySimulator } from '../../src/sim/index.js';
import { Doors } from '../../src/server/auth.js';
import { V2Door } from '../../src/v2/door.js';
import { V2Error } from '../../src/v2/errors.js';
import type { JobExtension } from '../../src/v2/extensions.js';
import { v2Api } from '../../src/v2/routes.js';
import { backendsUp, call, imageGraph, startBridge, startSims, submit } from './harness.js';
import type { TestBridge } from './harness.js';

let sim: ComfySimulator;
let bridge: TestBridge;
let door: V2Door;
let server: http.Server;
/** The bridge, as the tests' requests see it: its engine, with this door's routes in front. */
let api: TestBridge;
const accepted: { id: string; kept: unknown }[] = [];

const notify: JobExtension = {
  name: 'notify',
  fields: ['notify_url'],
  headers: ['X-Notify-Secret'],
  prepare(request) {
    const url = request.body.notify_url;
    if (url === undefined) return undefined;
    if (typeof url !== 'string' || !url.startsWith('https://')) throw new V2Error(422, 'invalid_request', '"notify_url" must be an https URL', { field: 'notify_url' });
    return { url, secret: request.header('x-notify-secret') ?? null };
  },
  accepted(job, kept) {
    accepted.push({ id: job.id, kept });
  },
};

/** Stands for asset references: an object in place of a file name becomes a name it vouches for. */
const assets: JobExtension = {
  name: 'assets',
  prepare(request) {
    for (const node of Object.values(request.prompt ?? {})) {
      const value = node.inputs.image as { __type?: string } | undefined;
      if (value && typeof value === 'object' && value.__type === 'test/ASSET') node.inputs.image = 'from-an-asset.png';
    }
    return undefined;
  },
  stored: (value) => value === 'from-an-asset.png',
};

beforeAll(async () => {
  [sim] = await startSims(1);
  bridge = await startBridge([sim.url]);
  await backendsUp(bridge);
  door = new V2Door(bridge.engine, { extensions: [notify, assets] });
  const app = new Koa();
  app.use(v2Api(door, new Doors(bridge.config)));
  server = http.createServer(app.callback());
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  api = { ...bridge, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
});

afterAll(async () => {
  door?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  await bridge?.dispose();
  await sim?.close();
});

test('a field an extension reads is accepted, and what it keeps is written with the job', async () => {
  const made = await submit(api, imageGraph(1), { extra: { notify_url: 'https://example.com/done' }, headers: { 'x-notify-secret': 's3cret' } });
  expect(made.status).toBe(201);
  const kept = { url: 'https://example.com/done', secret: 's3cret' };
  expect(door.recordOf(made.body.id)).toEqual({ extensions: { notify: kept } });
  expect(bridge.engine.doorTable('v2').get(made.body.id)).toEqual({ extensions: { notify: kept } });
  expect(accepted).toContainEqual({ id: made.body.id, kept });
  // Without the field nothing is kept.
  const plain = await submit(api, imageGraph(2));
  expect(plain.status).toBe(201);
  expect(door.recordOf(plain.body.id)).toBeUndefined();
});

test('an extension may refuse; fields nobody reads are still refused, the reserved ones too', async () => {
  const bad = await submit(api, imageGraph(3), { extra: { notify_url: 'http://plain.example.com' }, headers: { 'idempotency-key': 'ext-0001' } });
  expect([bad.status, bad.body.error.code, bad.body.error.details]).toEqual([422, 'invalid_request', { field: 'notify_url' }]);
  // The refusal gave the key back.
  expect((await submit(api, imageGraph(3), { headers: { 'idempotency-key': 'ext-0001' } })).status).toBe(201);
  const reserved = await submit(api, imageGraph(3), { extra: { webhook_url: 'https://example.com' } });
  expect([reserved.status, reserved.body.error.details.reserved]).toEqual([422, ['webhook_url']]);
  const unknown = await submit(api, imageGraph(3), { extra: { notify: 'x' } });
  expect(unknown.body.error.message).toContain('"workflow", "priority", "notify_url"');
});

test('a header an extension reads is part of the request for Idempotency-Key', async () => {
  const headers = { 'idempotency-key': 'ext-0002', 'x-notify-secret': 'one' };
  const body = { notify_url: 'https://example.com/a' };
  expect((await submit(api, imageGraph(4), { extra: body, headers })).status).toBe(201);
  expect((await submit(api, imageGraph(4), { extra: body, headers })).headers.get('idempotency-replayed')).toBe('true');
  const other = await submit(api, imageGraph(4), { extra: body, headers: { ...headers, 'x-notify-secret': 'two' } });
  expect([other.status, other.body.error.code]).toEqual([422, 'idempotency_key_reuse']);
});

test('an extension may rewrite the graph before it is validated, and vouch for file names it sends along', async () => {
  const graph = {
    '1': { class_type: 'LoadImage', inputs: { image: { __type: 'test/ASSET', id: 'a1' } } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'v2/ext' } },
  };
  const made = await submit(api, graph);
  expect(made.status).toBe(201);
  expect(bridge.engine.get(made.body.id)!.prompt['1'].inputs.image).toBe('from-an-asset.png');
  await call(api, 'POST', made.body.urls.cancel);
  // A name nobody vouches for is checked against the backend's list.
  const unknown = await submit(api, { ...graph, '1': { class_type: 'LoadImage', inputs: { image: 'nobody-has-this.png' } } });
  expect([unknown.status, unknown.body.error.code]).toEqual([422, 'invalid_workflow']);
  expect(unknown.body.error.details.node_errors['1'][0]).toMatchObject({ field: 'image', class_type: 'LoadImage' });
});
