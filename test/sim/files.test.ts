// Uploads, LoadImage, /view path rules, and HTTP-level rules (limits, origin, OPTIONS).
import { request } from 'undici';
import WebSocket from 'ws';
import type { ComfySimulator } from '../../src/sim/index.js';
import { encodeSolidPng, pngFirstPixel, pngSize, readPngText } from '../../src/sim/png.js';
import { finished, getJson, http, imageGraph, postJson, simEvent, startSim } from './helpers.js';

let sim: ComfySimulator;

beforeEach(async () => {
  sim = await startSim();
});

afterEach(async () => {
  await sim.close();
});

function png(rgb: [number, number, number], width = 16, height = 16): Buffer {
  return encodeSolidPng({ width, height, rgb }).toBuffer();
}

async function upload(
  fields: Record<string, string>,
  file?: { name: string; bytes: Buffer },
  path = '/upload/image',
): Promise<{ status: number; body: any; text?: string }> {
  const form = new FormData();
  if (file) form.set('image', new Blob([file.bytes], { type: 'image/png' }), file.name);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`${sim.url}${path}`, { method: 'POST', body: form });
  const text = await res.text();
  if (res.headers.get('content-type')?.startsWith('application/json')) return { status: res.status, body: JSON.parse(text) };
  return { status: res.status, body: undefined, text };
}

test('upload name clashes: same bytes reuse the name, other bytes get "name (1).png", overwrite replaces', async () => {
  const red = png([255, 0, 0]);
  const blue = png([0, 0, 255]);
  const seen = simEvent(sim, 'upload', (name) => name === 'up.png');
  expect(await upload({}, { name: 'up.png', bytes: red })).toEqual({ status: 200, body: { name: 'up.png', subfolder: '', type: 'input' } });
  expect(await seen).toBe('up.png');
  expect((await upload({}, { name: 'up.png', bytes: red })).body.name).toBe('up.png');
  expect((await upload({}, { name: 'up.png', bytes: blue })).body.name).toBe('up (1).png');
  expect((await upload({}, { name: 'up.png', bytes: blue })).body.name).toBe('up (1).png');
  expect((await upload({}, { name: 'up.png', bytes: png([0, 255, 0]) })).body.name).toBe('up (2).png');
  expect((await upload({ overwrite: 'true' }, { name: 'up.png', bytes: blue })).body.name).toBe('up.png');
  expect(await upload({ subfolder: 'masks/a', type: 'input' }, { name: 'm.png', bytes: red })).toEqual({
    status: 200,
    body: { name: 'm.png', subfolder: 'masks/a', type: 'input' },
  });
  expect(sim.inputFiles()).toEqual(['masks/a/m.png', 'up (1).png', 'up (2).png', 'up.png']);

  const view = await fetch(`${sim.url}/view?filename=up.png&type=input`);
  expect(pngFirstPixel(Buffer.from(await view.arrayBuffer()))!.rgb).toEqual([0, 0, 255]);
  expect((await upload({ type: 'temp' }, { name: 't.png', bytes: red })).body.type).toBe('temp');
  expect((await upload({ type: 'bogus' }, { name: 'x.png', bytes: red })).status).toBe(500);
  expect((await upload({ subfolder: '../../etc' }, { name: 'x.png', bytes: red })).status).toBe(400);
  expect((await upload({ overwrite: 'true' })).status).toBe(400);
  expect(sim.stats.uploads).toBe(8);
});

test('LoadImage reads an uploaded file by the returned name, and its combo lists input images', async () => {
  await upload({}, { name: 'photo.png', bytes: png([10, 20, 30], 40, 24) });
  const second = await upload({}, { name: 'photo.png', bytes: png([200, 100, 50], 20, 12) });
  const nested = await upload({ subfolder: 'sub' }, { name: 'deep.png', bytes: png([1, 2, 3]) });

  const info = (await getJson(sim, '/object_info/LoadImage')).body.LoadImage;
  expect(info.input.required.image).toEqual([['photo (1).png', 'photo.png'], { image_upload: true }]);
  expect(info.output).toEqual(['IMAGE', 'MASK']);

  const graph = {
    '1': { class_type: 'LoadImage', inputs: { image: second.body.name } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'loaded' } },
    '3': { class_type: 'LoadImage', inputs: { image: `${nested.body.subfolder}/${nested.body.name}` } },
    '4': { class_type: 'PreviewImage', inputs: { images: ['3', 0] } },
  };
  const res = await postJson(sim, '/prompt', { prompt: graph });
  expect(res.status).toBe(200);
  await finished(sim, res.body.prompt_id);
  const out = await fetch(`${sim.url}/view?filename=loaded_00001_.png`);
  const bytes = Buffer.from(await out.arrayBuffer());
  expect(pngSize(bytes)).toEqual({ width: 20, height: 12 });
  expect(pngFirstPixel(bytes)!.rgb).toEqual([200, 100, 50]);

  const missing = await postJson(sim, '/prompt', { prompt: { ...graph, '1': { class_type: 'LoadImage', inputs: { image: 'nope.png' } } } });
  expect(missing.status).toBe(200);
  expect(missing.body.node_errors['1'].errors[0].details).toBe('image - Invalid image file: nope.png');
});

test('/view path rules: 404 without filename, 400 on traversal or bad type, 403 when the subfolder escapes', async () => {
  const res = await postJson(sim, '/prompt', { prompt: imageGraph() });
  await finished(sim, res.body.prompt_id);
  const status = async (query: string) => (await http(sim, 'GET', `/view${query}`)).status;
  expect(await status('')).toBe(404);
  expect(await status('?filename=')).toBe(400);
  expect(await status('?filename=../x.png')).toBe(400);
  expect(await status('?filename=/etc/passwd')).toBe(400);
  expect(await status('?filename=inv_00001_.png&type=models')).toBe(400);
  expect(await status('?filename=inv_00001_.png&subfolder=../../etc')).toBe(403);
  expect(await status('?filename=inv_00001_.png')).toBe(404);
  expect(await status('?filename=inv_00001_.png&subfolder=bridge/sub')).toBe(200);
  // The directory part of filename is dropped; an annotation picks the folder.
  expect(await status('?filename=elsewhere/inv_00001_.png&subfolder=bridge/sub')).toBe(200);
  expect(await status('?filename=inv_00001_.png [temp]&subfolder=bridge/sub&type=output')).toBe(404);

  const missing = await http(sim, 'GET', '/view?filename=nothing.png');
  expect(missing.text).toBe('');

  const full = Buffer.from(await (await fetch(`${sim.url}/view?filename=inv_00001_.png&subfolder=bridge/sub`)).arrayBuffer());
  const ranged = await request(`${sim.url}/view?filename=inv_00001_.png&subfolder=bridge/sub`, { headers: { range: 'bytes=0-7' } });
  expect(ranged.statusCode).toBe(206);
  expect(ranged.headers['content-range']).toBe(`bytes 0-7/${full.length}`);
  expect(Buffer.from(await ranged.body.arrayBuffer())).toEqual(full.subarray(0, 8));
  const head = await request(`${sim.url}/view?filename=inv_00001_.png&subfolder=bridge/sub`, { method: 'HEAD' });
  expect(head.headers['content-length']).toBe(String(full.length));
  await head.body.text();
});

test('outputBytes pads every output PNG while keeping it a valid image', async () => {
  await sim.close();
  sim = await startSim({ outputBytes: 3 * 1024 * 1024 });
  const res = await postJson(sim, '/prompt', { prompt: imageGraph() });
  await finished(sim, res.body.prompt_id);
  const view = await fetch(`${sim.url}/view?filename=inv_00001_.png&subfolder=bridge/sub`);
  const bytes = Buffer.from(await view.arrayBuffer());
  expect(bytes.length).toBe(3 * 1024 * 1024);
  expect(pngSize(bytes)).toEqual({ width: 64, height: 32 });
  expect(JSON.parse(readPngText(bytes).prompt!)['1'].inputs.color).toBe(16744448);
  expect(bytes.subarray(-8, -4).toString('latin1')).toBe('IEND');
});

test('/upload/mask needs original_ref and applies the mask alpha to the referenced image', async () => {
  await upload({}, { name: 'base.png', bytes: encodeSolidPng({ width: 10, height: 6, rgb: [9, 8, 7], text: [['workflow', '{}']] }).toBuffer() });
  const mask = encodeSolidPng({ width: 10, height: 6, rgb: [0, 0, 0], alpha: 40 }).toBuffer();
  expect((await upload({}, { name: 'mask.png', bytes: mask }, '/upload/mask')).status).toBe(500);
  const res = await upload(
    { original_ref: JSON.stringify({ filename: 'base.png', subfolder: '', type: 'input' }), subfolder: 'clipspace' },
    { name: 'mask.png', bytes: mask },
    '/upload/mask',
  );
  expect(res).toEqual({ status: 200, body: { name: 'mask.png', subfolder: 'clipspace', type: 'input' } });
  const saved = Buffer.from(await (await fetch(`${sim.url}/view?filename=mask.png&subfolder=clipspace&type=input`)).arrayBuffer());
  expect(pngSize(saved)).toEqual({ width: 10, height: 6 });
  expect(pngFirstPixel(saved)).toEqual({ rgb: [9, 8, 7], alpha: 40 });
  expect(readPngText(saved).workflow).toBe('{}');
});

test('bodies over maxUploadBytes get 413 on every endpoint', async () => {
  await sim.close();
  sim = await startSim({ maxUploadBytes: 1024 });
  const big = await postJson(sim, '/prompt', { prompt: imageGraph(), padding: 'x'.repeat(4096) });
  expect(big.status).toBe(413);
  const form = await upload({}, { name: 'big.png', bytes: Buffer.alloc(4096) });
  expect(form.status).toBe(413);
  expect(form.text).toMatch(/^Maximum request body size 1024 exceeded/);
  expect((await getJson(sim, '/features')).body).toEqual({ supports_preview_metadata: true, max_upload_size: 1024 });
  expect((await postJson(sim, '/prompt', { prompt: imageGraph() })).status).toBe(200);
});

test('origin check: a loopback Host with a different Origin gets 403, also for the websocket; OPTIONS is 200', async () => {
  const host = `127.0.0.1:${sim.port}`;
  const forbidden = await http(sim, 'GET', '/prompt', undefined, { origin: `http://localhost:${sim.port}` });
  expect(forbidden.status).toBe(403);
  expect(forbidden.text).toBe('');
  expect((await http(sim, 'GET', '/prompt', undefined, { origin: `http://${host}` })).status).toBe(200);
  expect((await http(sim, 'GET', '/prompt', undefined, { origin: 'http://127.0.0.1' })).status).toBe(200);
  expect((await http(sim, 'GET', '/prompt', undefined, { origin: 'http://127.0.0.1:3000' })).status).toBe(403);

  const ws = new WebSocket(`${sim.url.replace('http', 'ws')}/ws`, { headers: { origin: 'http://evil.example' } });
  ws.on('error', () => undefined);
  const status = await new Promise<number>((resolve) => ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  expect(status).toBe(403);

  const options = await http(sim, 'OPTIONS', '/anything/at/all');
  expect(options.status).toBe(200);
  expect(options.text).toBe('');
});

test('unknown routes are 404, wrong methods 405, and a plain GET on /ws is 400', async () => {
  expect((await getJson(sim, '/nope')).status).toBe(404);
  expect((await http(sim, 'DELETE', '/prompt')).status).toBe(405);
  expect((await getJson(sim, '/ws')).status).toBe(400);
});
