// Limits on the curated door against hostile clients: body sizes that name their setting, empty
// and deeply nested bodies, hostile uploads that leave nothing behind, methods, socket caps.
import { readdir } from 'node:fs/promises';
import WebSocket from 'ws';
import { previewPng } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { startBridge, startSims } from './harness.js';
import type { TestBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: TestBridge;

beforeAll(async () => {
  sims = await startSims(1);
  bridge = await startBridge(sims.map((s) => s.url), { UPLOAD_MAX_SIZE: '0.01', MAX_SOCKETS_PER_CLIENT: '2' });
});
afterAll(async () => {
  await bridge.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

const submit = (body: string | undefined, clientId = 'limits-client-1') =>
  fetch(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

function multipart(parts: { name: string; filename: string; bytes: Buffer }[], end = true): Uint8Array {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--B0UNDARY\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\nContent-Type: image/png\r\n\r\n`), p.bytes, Buffer.from('\r\n'));
  }
  if (end) chunks.push(Buffer.from('--B0UNDARY--\r\n'));
  return new Uint8Array(Buffer.concat(chunks));
}
const upload = (body: Uint8Array) => fetch(`${bridge.url}/upload`, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=B0UNDARY' }, body });
const incoming = () => readdir(bridge.engine.uploads.incomingDir);

test('a JSON body over 2 MB → 413 naming the limit', async () => {
  const res = await submit(JSON.stringify({ workflow: 'txt2img', '6/text': 'x'.repeat(2 * 1024 * 1024 + 10) }));
  expect(res.status).toBe(413);
  expect(((await res.json()) as { detail: string }).detail).toMatch(/allows 2 MB|allows 2097152 bytes/);
});

test('an upload over UPLOAD_MAX_SIZE → 413 naming UPLOAD_MAX_SIZE; nothing left', async () => {
  const res = await upload(multipart([{ name: 'image', filename: 'big.png', bytes: Buffer.alloc(20_000, 1) }]));
  expect(res.status).toBe(413);
  expect(((await res.json()) as { detail: string }).detail).toContain('UPLOAD_MAX_SIZE');
  expect(await incoming()).toEqual([]);
});

test('an empty JSON body → 400 the body is empty', async () => {
  const res = await submit(undefined);
  expect(res.status).toBe(400);
  expect(((await res.json()) as { detail: string }).detail).toContain('the body is empty');
});

test('JSON nested 10,000 deep → 400', async () => {
  const res = await submit('{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000));
  expect(res.status).toBe(400);
  expect(((await res.json()) as { detail: string }).detail).toContain('nested');
});

test('an upload whose file name has a NUL → 400; nothing left', async () => {
  const res = await upload(multipart([{ name: 'image', filename: 'a\0b.png', bytes: previewPng([1, 2, 3]) }]));
  expect(res.status).toBe(400);
  expect(await incoming()).toEqual([]);
});

test('a multipart body that breaks off → 400; nothing left in the upload folder', async () => {
  const parts = Array.from({ length: 3 }, (_, i) => ({ name: `f${i}`, filename: `f${i}.png`, bytes: previewPng([i, i, i]) }));
  const res = await upload(multipart(parts, false));
  expect(res.status).toBe(400);
  expect(await incoming()).toEqual([]);
});

test('an unknown method on a known path → 405 with Allow', async () => {
  const res = await fetch(`${bridge.url}/workflow-list`, { method: 'PROPFIND' });
  expect(res.status).toBe(405);
  expect(res.headers.get('allow')).toContain('GET');
  expect(((await res.json()) as { detail: string }).detail).toContain('not allowed');
});

test('MAX_SOCKETS_PER_CLIENT: the socket over the cap is refused with 429', async () => {
  const url = `${bridge.wsUrl}/ws?clientId=limits-socket-client`;
  const open = (): Promise<WebSocket | number> =>
    new Promise((resolve) => {
      const ws = new WebSocket(url);
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
  await new Promise((r) => (a as WebSocket).once('close', r));
  const c = await open();
  expect(c).toBeInstanceOf(WebSocket);
  (b as WebSocket).close();
  (c as WebSocket).close();
});
