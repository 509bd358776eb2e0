// Limits on the ComfyUI-compatible door against hostile clients.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import WebSocket from 'ws';
import { previewPng } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { backendsUp, call, get, imageGraph, post, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startDoor(sims.map((s) => s.url), { MAX_PROMPT_BYTES: '65536', UPLOAD_MAX_SIZE: '0.01', MAX_SOCKETS_PER_CLIENT: '2' });
  await backendsUp(bridge);
});
afterAll(async () => {
  await bridge.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

const incoming = () => readdir(path.join(bridge.config.uploadDir, 'comfy', '.incoming'));

function multipart(parts: { name: string; filename: string; bytes: Buffer }[], end = true): Uint8Array {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--B0UNDARY\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: image/png\r\n\r\n`), p.bytes, Buffer.from('\r\n'));
  }
  if (end) chunks.push(Buffer.from('--B0UNDARY--\r\n'));
  return new Uint8Array(Buffer.concat(chunks));
}
const upload = (body: Uint8Array) => fetch(`${bridge.door}/upload/image`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=B0UNDARY' }, body });

test('a graph over MAX_PROMPT_BYTES → 413 naming MAX_PROMPT_BYTES', async () => {
  const graph = imageGraph();
  const res = await post(`${bridge.door}/prompt`, { prompt: graph, extra_data: { pad: 'x'.repeat(100_000) } });
  expect(res.status).toBe(413);
  expect(res.body.error.message).toContain('MAX_PROMPT_BYTES allows 64 KB');
});

test('an upload over UPLOAD_MAX_SIZE → 413 naming UPLOAD_MAX_SIZE; nothing left', async () => {
  const res = await upload(multipart([{ name: 'image', filename: 'big.png', bytes: Buffer.alloc(20_000, 1) }]));
  expect(res.status).toBe(413);
  expect(await res.text()).toContain('UPLOAD_MAX_SIZE');
  expect(await incoming()).toEqual([]);
});

test('an empty body on /prompt → 400 saying the body is empty', async () => {
  const res = await post(`${bridge.door}/prompt`, '');
  expect(res.status).toBe(400);
  expect(res.body.error.details).toContain('the body is empty');
});

test('a graph nested 10,000 deep → 400', async () => {
  const res = await post(`${bridge.door}/prompt`, '{"prompt":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}');
  expect(res.status).toBe(400);
  expect(res.body.error.details).toContain('nested');
});

test.each([
  ['a NUL', 'a\0b.png'],
  ['a path separator', 'sub/x.png'],
])('an upload whose file name has %s → 400; nothing left', async (_what, filename) => {
  const res = await upload(multipart([{ name: 'image', filename, bytes: previewPng([1, 2, 3]) }]));
  expect(res.status).toBe(400);
  expect(await incoming()).toEqual([]);
});

test('a multipart body that breaks off → 400; nothing left in .incoming', async () => {
  const res = await upload(multipart([{ name: 'image', filename: 'a.png', bytes: previewPng([1, 1, 1]) }, { name: 'x', filename: 'b.png', bytes: previewPng([2, 2, 2]) }], false));
  expect(res.status).toBe(400);
  expect(await incoming()).toEqual([]);
});

test('/models/.. and made-up folders are answered here, not forwarded', async () => {
  const raw = (p: string) =>
    new Promise<number>((resolve, reject) => {
      const { hostname, port } = new URL(bridge.door);
      http.get({ hostname, port, path: p }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject);
    });
  const folders = (await get(`${bridge.door}/models`)).body as string[];
  expect((await get(`${bridge.door}/models/${folders[0]}`)).status).toBe(200);
  const before = sims[0].stats;
  const asked = JSON.stringify(before);
  for (const p of ['/models/..', '/models/%2e%2e', '/api/models/%2E%2E', '/models/no-such-folder']) expect(await raw(p)).toBe(404);
  expect(JSON.stringify(sims[0].stats)).toBe(asked);
});

test('an unknown method on a known path → 405 with Allow', async () => {
  const res = await call('PUT', `${bridge.door}/prompt`);
  expect(res.status).toBe(405);
  expect(res.headers.get('allow')).toContain('POST');
  const odd = await call('PROPFIND', `${bridge.door}/queue`);
  expect(odd.status).toBe(405);
});

test('a client_id over 256 characters is refused on /prompt as on /ws', async () => {
  const long = 'c'.repeat(257);
  const res = await post(`${bridge.door}/prompt`, { prompt: imageGraph(), client_id: long });
  expect(res.status).toBe(400);
  expect(res.body.error.message).toContain('client_id');
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${bridge.doorWs}/ws?clientId=${long}`);
    ws.on('unexpected-response', (_req, r) => resolve(r.statusCode ?? 0));
    ws.on('open', () => resolve(101));
    ws.on('error', () => undefined);
  });
  expect(status).toBe(400);
});

test('a long filename_prefix → 400 in ComfyUI shape naming the node and input', async () => {
  const graph = imageGraph();
  const save = Object.keys(graph).find((id) => 'filename_prefix' in graph[id].inputs)!;
  graph[save].inputs.filename_prefix = 'p'.repeat(5000);
  const res = await post(`${bridge.door}/prompt`, { prompt: graph });
  expect(res.status).toBe(400);
  expect(res.body.error.type).toBe('prompt_outputs_failed_validation');
  expect(res.body.node_errors[save].errors[0]).toMatchObject({ type: 'value_too_long', extra_info: { input_name: 'filename_prefix' } });
});

test('MAX_SOCKETS_PER_CLIENT caps websockets per clientId: the next gets 429', async () => {
  const open = (): Promise<WebSocket | number> =>
    new Promise((resolve) => {
      const ws = new WebSocket(`${bridge.doorWs}/ws?clientId=capped-client`);
      ws.on('open', () => resolve(ws));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => undefined);
    });
  const a = await open();
  const b = await open();
  expect(a).toBeInstanceOf(WebSocket);
  expect(b).toBeInstanceOf(WebSocket);
  expect(await open()).toBe(429);
  (a as WebSocket).close();
  (b as WebSocket).close();
});
