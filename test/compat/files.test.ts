// Uploads stay at the bridge and go to whichever backend runs a prompt that names them; /view
// serves backend outputs by their tag and the door's own uploads, with ComfyUI's name rules.
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { ComfySimulator } from '../../src/sim/index.js';
import { encodeSolidPng, readPngText } from '../../src/sim/png.js';
import { pngFirstPixel } from '../../src/sim/png.js';
import { ComfyWs, backendsUp, get, post, startDoor, startSims } from './harness.js';
import type { CompatBridge } from './harness.js';

let sims: ComfySimulator[];
let bridge: CompatBridge;
let ws: ComfyWs;
const CLIENT = 'files-client';

beforeAll(async () => {
  sims = await startSims(3);
  bridge = await startDoor(sims.map((s) => s.url));
  await backendsUp(bridge);
  ws = await ComfyWs.connect(bridge, CLIENT);
});

afterAll(async () => {
  await ws?.close();
  await bridge?.dispose();
  await Promise.all(sims.map((s) => s.close()));
});

function png(rgb: [number, number, number]): Buffer {
  return encodeSolidPng({ width: 16, height: 16, rgb }).toBuffer();
}

async function upload(name: string, bytes: Buffer, fields: Record<string, string> = {}, path = '/upload/image'): Promise<{ status: number; body: any }> {
  const form = new FormData();
  form.set('image', new Blob([bytes], { type: 'image/png' }), name);
  for (const [k, v] of Object.entries(fields)) form.set(k, v);
  const res = await fetch(`${bridge.door}${path}`, { method: 'POST', body: form });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

function loadInvertSave(image: string, prefix: string): Record<string, any> {
  return {
    '1': { class_type: 'LoadImage', inputs: { image } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: prefix } },
  };
}

/** Run a prompt to its end and fetch its first saved image. */
async function runAndFetch(prompt: Record<string, any>): Promise<{ promptId: string; bytes: Buffer; backend: string }> {
  const promptId = randomUUID();
  const res = await post(`${bridge.door}/prompt`, { prompt, client_id: CLIENT, prompt_id: promptId });
  expect(res).toMatchObject({ status: 200, body: { node_errors: {} } });
  await ws.done(promptId);
  const entry = (await get(`${bridge.door}/history/${promptId}`)).body[promptId];
  expect(entry.status.status_str).toBe('success');
  const ref = entry.outputs['3'].images[0];
  const view = await fetch(`${bridge.door}/view?${new URLSearchParams(ref)}`);
  expect(view.status).toBe(200);
  return { promptId, bytes: Buffer.from(await view.arrayBuffer()), backend: bridge.engine.get(promptId)!.backend! };
}

test('upload names follow ComfyUI: same bytes reuse the name, other bytes get "name (1)", overwrite keeps it', async () => {
  const red = png([255, 0, 0]);
  expect(await upload('clash.png', red)).toEqual({ status: 200, body: { name: 'clash.png', subfolder: '', type: 'input' } });
  expect((await upload('clash.png', red)).body.name).toBe('clash.png');
  expect((await upload('clash.png', png([0, 255, 0]))).body.name).toBe('clash (1).png');
  expect((await upload('clash.png', png([0, 0, 255]))).body.name).toBe('clash (2).png');
  expect((await upload('clash.png', png([9, 9, 9]), { overwrite: 'true' })).body.name).toBe('clash.png');
  expect((await upload('s.png', red, { subfolder: 'a/b' })).body).toEqual({ name: 's.png', subfolder: 'a/b', type: 'input' });
});

test('a LoadImage prompt runs on whichever backend takes it: the file is sent there first', async () => {
  const bytes = png([200, 100, 50]);
  const { name } = (await upload('photo.png', bytes)).body;
  const runs = await Promise.all(Array.from({ length: 6 }, (_, i) => runAndFetch(loadInvertSave(name, `door/load${i}`))));
  for (const run of runs) {
    expect(pngFirstPixel(run.bytes)!.rgb).toEqual([55, 155, 205]);
    const sim = sims.find((s) => s.url === run.backend)!;
    expect(sim.inputFiles()).toContain('photo.png');
    expect(JSON.parse(readPngText(run.bytes).prompt)['1'].inputs.image).toBe('photo.png');
  }
  expect(new Set(runs.map((r) => r.backend)).size).toBeGreaterThan(1);
});

test('files in subfolders, and files named like curated uploads, reach the backend too', async () => {
  const { name, subfolder } = (await upload('deep.png', png([10, 20, 30]), { subfolder: 'masks/x' })).body;
  const deep = await runAndFetch(loadInvertSave(`${subfolder}/${name}`, 'door/deep'));
  expect(pngFirstPixel(deep.bytes)!.rgb).toEqual([245, 235, 225]);

  const uuidName = `${randomUUID()}.png`;
  expect((await upload(uuidName, png([1, 2, 3]))).body.name).toBe(uuidName);
  const odd = await runAndFetch(loadInvertSave(uuidName, 'door/uuid'));
  expect(pngFirstPixel(odd.bytes)!.rgb).toEqual([254, 253, 252]);
});

test('a file part without Content-Type (as Python requests sends it) is still a file', async () => {
  const boundary = 'b0undary';
  const bytes = png([7, 7, 7]);
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="plain.png"\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const res = await fetch(`${bridge.door}/upload/image`, { method: 'POST', body, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ name: 'plain.png', subfolder: '', type: 'input' });
  const view = await fetch(`${bridge.door}/view?filename=plain.png&type=input`);
  expect(view.status).toBe(200);
  expect(Buffer.from(await view.arrayBuffer()).equals(bytes)).toBe(true);
});

test('bad uploads are refused with 400', async () => {
  const red = png([255, 0, 0]);
  expect((await upload('x.png', red, { subfolder: '../../etc' })).status).toBe(400);
  expect((await upload('x.png', red, { type: 'elsewhere' })).status).toBe(400);
  expect((await upload('x.png', red, { subfolder: 'backend-0123abcd' })).status).toBe(400);
  const noImage = new FormData();
  noImage.set('subfolder', 'x');
  expect((await fetch(`${bridge.door}/upload/image`, { method: 'POST', body: noImage })).status).toBe(400);
  expect((await post(`${bridge.door}/upload/image`, { image: 'x' })).status).toBe(400);
  // A mask needs the image it belongs to.
  expect((await upload('mask.png', red, {}, '/upload/mask')).status).toBe(400);
  const mask = await upload('mask.png', red, { original_ref: JSON.stringify({ filename: 'clash.png', subfolder: '', type: 'input' }) }, '/upload/mask');
  expect(mask).toEqual({ status: 200, body: { name: 'mask.png', subfolder: '', type: 'input' } });
});

/** Every file under the door's upload folder (received and stored). */
async function filesOnDisk(): Promise<string[]> {
  const root = path.join(bridge.config.uploadDir, 'comfy');
  return (await readdir(root, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)).sort();
}

test('uploads must decode: a truncated PNG → 400 saying why, on /upload/image and /upload/mask; nothing is kept', async () => {
  const before = await filesOnDisk();
  const cut = encodeSolidPng({ width: 32, height: 32, rgb: [1, 2, 3] }).toBuffer().subarray(0, 20);
  expect(await upload('cut.png', cut)).toEqual({ status: 400, body: '"cut.png" is not a valid PNG: chunk IHDR is cut short' });
  const original_ref = JSON.stringify({ filename: 'clash.png', subfolder: '', type: 'input' });
  expect(await upload('cut-mask.png', cut, { original_ref }, '/upload/mask')).toEqual({ status: 400, body: '"cut-mask.png" is not a valid PNG: chunk IHDR is cut short' });
  expect(await filesOnDisk()).toEqual(before);
  expect((await fetch(`${bridge.door}/view?filename=cut.png&type=input`)).status).toBe(404);
});

test('an upload over UPLOAD_MAX_PIXELS (by its header) → 400 naming the setting; nothing is kept', async () => {
  const before = await filesOnDisk();
  const small = encodeSolidPng({ width: 1, height: 1, rgb: [0, 0, 0] }).toBuffer();
  const ihdr = Buffer.from(small.subarray(8, 33));
  ihdr.writeUInt32BE(20_000, 8);
  ihdr.writeUInt32BE(20_000, 12);
  ihdr.writeUInt32BE(crc32(ihdr.subarray(4, 21)) >>> 0, 21);
  const huge = Buffer.concat([small.subarray(0, 8), ihdr, small.subarray(33)]);
  expect(await upload('huge.png', huge)).toEqual({ status: 400, body: '"huge.png" is too large: 20000×20000 = 400 megapixels; UPLOAD_MAX_PIXELS allows 100' });
  expect(await filesOnDisk()).toEqual(before);
});

test('/view: missing files are 404, names that leave their folder 400/403, as in ComfyUI', async () => {
  const run = await runAndFetch(loadInvertSave('photo.png', 'door/view'));
  const ref = (await get(`${bridge.door}/history/${run.promptId}`)).body[run.promptId].outputs['3'].images[0];
  const view = (q: Record<string, string>) => fetch(`${bridge.door}/view?${new URLSearchParams(q)}`).then((r) => r.status);
  expect(await view(ref)).toBe(200);
  expect(await view({ ...ref, filename: 'nope.png' })).toBe(404);
  expect(await view({ ...ref, subfolder: 'backend-00000000' })).toBe(404);
  expect(await view({ filename: ref.filename, type: 'output' })).toBe(404);
  expect(await view({ filename: 'nope.png', type: 'input' })).toBe(404);
  expect(await view({})).toBe(404);
  expect(await view({ ...ref, filename: '../x.png' })).toBe(400);
  expect(await view({ ...ref, filename: '/etc/passwd' })).toBe(400);
  expect(await view({ ...ref, type: 'elsewhere' })).toBe(400);
  expect(await view({ ...ref, subfolder: '../../..' })).toBe(403);
  // The annotation form ComfyUI accepts, and the uploads of this door.
  expect(await view({ filename: 'photo.png [input]' })).toBe(200);
  // A preview re-encode is asked of the backend that holds the file.
  const preview = await fetch(`${bridge.door}/view?${new URLSearchParams({ ...ref, preview: 'webp;50' })}`);
  expect(preview.status).toBe(200);
  expect(preview.headers.get('content-disposition')).toBe(`filename="${ref.filename}"`);
});
