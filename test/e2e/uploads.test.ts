// POST /upload and the files it keeps: fresh names under UPLOAD_DIR only, checked by content,
// size-limited, and sent to whichever backend runs a job that uses them, just before it runs.
import { randomBytes } from 'node:crypto';
import { existsSync, watch } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { encodeSolidPng, pngSize, readPngText } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { TestClient, backendsUp, engineEvent, engineUntil, getJson, postJson, readParts, simEvent, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';
import { jobState, send, startOwnBridge, upload } from './support.js';

const UPLOAD_NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.(png|jpg)$/;

let sims: ComfySimulator[];
let bridge: TestBridge;
/** Same backends, UPLOAD_MAX_SIZE of about 10 KB. */
let small: TestBridge;

beforeAll(async () => {
  sims = await startSims(2);
  bridge = await startOwnBridge(sims.map((s) => s.url));
  small = await startOwnBridge(
    sims.map((s) => s.url),
    { UPLOAD_MAX_SIZE: '0.01' },
  );
  await Promise.all([backendsUp(bridge), backendsUp(small)]);
});

afterAll(async () => {
  await bridge?.dispose();
  await small?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
});

function png(width: number, height: number, rgb: [number, number, number], minBytes?: number): Buffer {
  return encodeSolidPng({ width, height, rgb, minBytes }).toBuffer();
}

/** A real 6×4 JPEG (uploads must decode, so a bare header will not do). */
let JPEG: Buffer;
beforeAll(async () => {
  JPEG = await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: 250, g: 120, b: 0 } } }).jpeg().toBuffer();
});

/** Files kept in UPLOAD_DIR, and files still being received. */
async function stored(b: TestBridge): Promise<{ kept: string[]; incoming: string[] }> {
  const kept = (await readdir(b.config.uploadDir)).filter((n) => n !== '.incoming').sort();
  const incoming = await readdir(path.join(b.config.uploadDir, '.incoming'));
  return { kept, incoming };
}

/** Resolve once the folder is empty, re-checking on every change in it; reject with what is left after `limitMs`. */
function drained(dir: string, limitMs = 3_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(dir);
    const limit = setTimeout(() => {
      watcher.close();
      void readdir(dir).then((left) => reject(new Error(`${dir} still holds ${left.join(', ')}`)), reject);
    }, limitMs);
    let checking = false;
    let again = false;
    const done = (err?: Error) => {
      clearTimeout(limit);
      watcher.close();
      if (err) reject(err);
      else resolve();
    };
    const check = async () => {
      if (checking) {
        again = true;
        return;
      }
      checking = true;
      do {
        again = false;
        if ((await readdir(dir)).length === 0) return done();
      } while (again);
      checking = false;
    };
    watcher.on('change', () => void check().catch(done));
    watcher.on('error', done);
    void check().catch(done);
  });
}

async function keptBytes(b: TestBridge, name: string): Promise<Buffer> {
  return readFile(path.join(b.config.uploadDir, name));
}

// ── what is stored, and where ────────────────────────────────────────────────────────────────

test('one PNG → 200 {field: savedName}; the file is under UPLOAD_DIR with a fresh name and the same bytes', async () => {
  const before = await stored(bridge);
  const bytes = png(9, 7, [1, 2, 3]);
  const res = await upload(bridge, [{ name: 'image', filename: 'photo.png', contentType: 'image/png', data: bytes }]);
  expect(res.status).toBe(200);
  expect(Object.keys(res.body)).toEqual(['image']);
  const name = res.body.image as string;
  expect(name).toMatch(UPLOAD_NAME);
  expect(name.endsWith('.png')).toBe(true);
  expect(name).not.toContain('photo');
  expect(await keptBytes(bridge, name)).toEqual(bytes);
  const after = await stored(bridge);
  expect(after.kept).toEqual([...before.kept, name].sort());
  expect(after.incoming).toEqual([]);
});

test('two uploads of the same file get two different names', async () => {
  const bytes = png(4, 4, [7, 7, 7]);
  const a = await upload(bridge, [{ name: 'image', filename: 'same.png', contentType: 'image/png', data: bytes }]);
  const b = await upload(bridge, [{ name: 'image', filename: 'same.png', contentType: 'image/png', data: bytes }]);
  expect(a.status).toBe(200);
  expect(b.status).toBe(200);
  expect(a.body.image).not.toBe(b.body.image);
});

test.each([
  { what: 'a relative path that leaves the folder', filename: (tag: string) => `../../${tag}.png` },
  { what: 'an absolute path', filename: (tag: string) => path.join(tmpdir(), `${tag}.png`) },
  { what: 'a Windows-style path', filename: (tag: string) => `..\\..\\${tag}.png` },
])('a client filename that is $what names nothing on disk', async ({ filename }) => {
  const tag = `evil-${randomBytes(6).toString('hex')}`;
  const clientName = filename(tag);
  const before = await stored(bridge);
  const bytes = png(3, 3, [200, 0, 0]);
  const res = await upload(bridge, [{ name: 'image', filename: clientName, contentType: 'image/png', data: bytes }]);
  expect(res.status).toBe(200);
  const name = res.body.image as string;
  expect(name).toMatch(UPLOAD_NAME);
  expect(name).not.toContain(tag);
  // Nothing where the client's name points, nor anywhere under the bridge's folder or the temp folder.
  expect(existsSync(path.resolve(bridge.config.uploadDir, clientName))).toBe(false);
  expect(existsSync(path.resolve(bridge.config.uploadDir, clientName.replace(/\\/g, '/')))).toBe(false);
  const everywhere = [...(await readdir(bridge.dir, { recursive: true })), ...(await readdir(tmpdir()))];
  expect(everywhere.filter((p) => String(p).includes(tag))).toEqual([]);
  const after = await stored(bridge);
  expect(after.kept).toEqual([...before.kept, name].sort());
  expect(await keptBytes(bridge, name)).toEqual(bytes);
});

// formidable's parser accepts only letters and "-" in part header names; the documented
// `ori_file_id` part header still keys the answer.
test('a part with an ori_file_id header → the answer is keyed by that id', async () => {
  const bytes = png(5, 5, [0, 0, 255]);
  const res = await upload(bridge, [{ name: 'image', filename: 'a.png', contentType: 'image/png', headers: { ori_file_id: 'client-file-17' }, data: bytes }]);
  expect(res.status).toBe(200);
  expect(Object.keys(res.body)).toEqual(['client-file-17']);
  expect(res.body['client-file-17']).toMatch(UPLOAD_NAME);
  expect(await keptBytes(bridge, res.body['client-file-17'])).toEqual(bytes);
});

test('several files in one request → every one mapped to its own saved file', async () => {
  const before = await stored(bridge);
  const files = {
    first: png(2, 2, [10, 0, 0]),
    second: png(3, 2, [0, 10, 0]),
    third: JPEG,
  };
  const res = await upload(
    bridge,
    Object.entries(files).map(([name, data]) => ({ name, filename: `${name}.bin`, contentType: 'application/octet-stream', data })),
  );
  expect(res.status).toBe(200);
  expect(Object.keys(res.body).sort()).toEqual(['first', 'second', 'third']);
  const names = Object.values(res.body) as string[];
  expect(new Set(names).size).toBe(3);
  for (const [field, data] of Object.entries(files)) {
    expect(res.body[field]).toMatch(UPLOAD_NAME);
    expect(await keptBytes(bridge, res.body[field])).toEqual(data);
  }
  expect(res.body.third.endsWith('.jpg')).toBe(true);
  expect((await stored(bridge)).kept).toEqual([...before.kept, ...names].sort());
});

// Several files under one field name cannot each get an entry in the answer: refused, nothing kept.
test('several files under one field name → none is saved without being named in the answer', async () => {
  const before = await stored(bridge);
  const res = await upload(bridge, [
    { name: 'image', filename: 'a.png', contentType: 'image/png', data: png(2, 2, [1, 1, 1]) },
    { name: 'image', filename: 'b.png', contentType: 'image/png', data: png(2, 2, [2, 2, 2]) },
  ]);
  const added = (await stored(bridge)).kept.filter((n) => !before.kept.includes(n));
  const answered = res.status === 200 ? (Object.values(res.body) as string[]) : [];
  expect(added.sort()).toEqual(answered.sort());
});

// ── what is accepted ─────────────────────────────────────────────────────────────────────────

test('a text file named x.png → 400 naming it; nothing is kept', async () => {
  const before = await stored(bridge);
  const res = await upload(bridge, [{ name: 'image', filename: 'x.png', contentType: 'image/png', data: 'just some text, not an image at all' }]);
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ detail: expect.stringContaining('"x.png" is not an image') });
  expect(await stored(bridge)).toEqual(before);
});

test('an image together with a non-image → 400, and the image is not kept either', async () => {
  const before = await stored(bridge);
  const res = await upload(bridge, [
    { name: 'good', filename: 'good.png', contentType: 'image/png', data: png(2, 2, [5, 5, 5]) },
    { name: 'bad', filename: 'bad.png', contentType: 'image/png', data: '<svg xmlns="http://www.w3.org/2000/svg"/>' },
  ]);
  expect(res.status).toBe(400);
  expect(res.body.detail).toContain('"bad.png" is not an image');
  expect(res.body.detail).not.toContain('good.png');
  expect(await stored(bridge)).toEqual(before);
});

/** A PNG whose header claims `width`×`height` but whose pixel data is a few bytes. */
function claimsHuge(width: number, height: number): Buffer {
  const small = png(1, 1, [0, 0, 0]);
  const ihdr = Buffer.from(small.subarray(8, 8 + 25));
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.writeUInt32BE(crc32(ihdr.subarray(4, 21)) >>> 0, 21);
  return Buffer.concat([small.subarray(0, 8), ihdr, small.subarray(33)]);
}

test('a truncated PNG (it sniffs as PNG) → 400 saying where it is cut; nothing is kept', async () => {
  const before = await stored(bridge);
  const whole = png(32, 32, [9, 9, 9]);
  const res = await upload(bridge, [{ name: 'image', filename: 'cut.png', contentType: 'image/png', data: whole.subarray(0, 20) }]);
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ detail: '"cut.png" is not a valid PNG: chunk IHDR is cut short' });
  expect(await stored(bridge)).toEqual(before);
});

test('a PNG with a damaged chunk next to a good image → 400 naming the chunk; neither is kept', async () => {
  const before = await stored(bridge);
  const damaged = Buffer.from(png(16, 16, [1, 2, 3]));
  damaged[damaged.indexOf('IDAT', 0, 'latin1') + 6] ^= 0xff;
  const res = await upload(bridge, [
    { name: 'good', filename: 'good.png', contentType: 'image/png', data: png(2, 2, [5, 5, 5]) },
    { name: 'bad', filename: 'bad.png', contentType: 'image/png', data: damaged },
  ]);
  expect(res.status).toBe(400);
  expect(res.body.detail).toBe('"bad.png" is not a valid PNG: chunk IDAT fails its CRC check (the data is damaged)');
  expect(await stored(bridge)).toEqual(before);
});

test('an image over UPLOAD_MAX_PIXELS (by its header) → 400 naming the setting; nothing is kept', async () => {
  const before = await stored(bridge);
  const res = await upload(bridge, [{ name: 'image', filename: 'huge.png', contentType: 'image/png', data: claimsHuge(20_000, 20_000) }]);
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ detail: '"huge.png" is too large: 20000×20000 = 400 megapixels; UPLOAD_MAX_PIXELS allows 100' });
  expect(await stored(bridge)).toEqual(before);
});

test('a JPEG named .txt and sent as text/plain → accepted by its content, saved as .jpg', async () => {
  const res = await upload(bridge, [{ name: 'doc', filename: 'notes.txt', contentType: 'text/plain', data: JPEG }]);
  expect(res.status).toBe(200);
  expect(res.body.doc).toMatch(UPLOAD_NAME);
  expect(res.body.doc.endsWith('.jpg')).toBe(true);
  expect(await keptBytes(bridge, res.body.doc)).toEqual(JPEG);
});

test('a file over UPLOAD_MAX_SIZE → 413 with a detail; nothing is kept', async () => {
  const before = await stored(small);
  const res = await upload(small, [{ name: 'image', filename: 'big.png', contentType: 'image/png', data: png(8, 8, [1, 2, 3], 50_000) }]);
  expect(res.status).toBe(413);
  expect(res.body).toEqual({ detail: expect.stringMatching(/upload rejected: .*(size|exceeded)/) });
  expect((await stored(small)).kept).toEqual(before.kept);
  await drained(path.join(small.config.uploadDir, '.incoming'));
  // The limit is about size: a small file still goes through on the same bridge.
  const ok = await upload(small, [{ name: 'image', filename: 'small.png', contentType: 'image/png', data: png(8, 8, [1, 2, 3]) }]);
  expect(ok.status).toBe(200);
  expect(ok.body.image).toMatch(UPLOAD_NAME);
});

test('several files together over UPLOAD_MAX_SIZE → 413; no file is kept', async () => {
  const before = await stored(small);
  const part = (i: number) => ({ name: `f${i}`, filename: `f${i}.png`, contentType: 'image/png', data: png(4, 4, [i, i, i], 4_000) });
  const res = await upload(small, [part(1), part(2), part(3), part(4)]);
  expect(res.status).toBe(413);
  expect(res.body).toEqual({ detail: expect.stringMatching(/upload rejected: .*exceeded/) });
  expect((await stored(small)).kept).toEqual(before.kept);
});

// Multi-file uploads over UPLOAD_MAX_SIZE leave no partial file behind, including parts that
// formidable opens after the limit was hit.
test(
  'repeated multi-file uploads over UPLOAD_MAX_SIZE leave nothing behind in the incoming folder',
  async () => {
    for (let k = 0; k < 100; k++) {
      const n = 2 + (k % 7);
      const parts = Array.from({ length: n }, (_, i) => ({ name: `f${i}`, filename: `f${i}.png`, contentType: 'image/png', data: png(4, 4, [i, k, 0], Math.ceil(12_000 / n) + (k % 5) * 100) }));
      expect((await upload(small, parts)).status).toBe(413);
    }
    await drained(path.join(small.config.uploadDir, '.incoming'));
  },
);

test.each<{ what: string; headers: Record<string, string>; body: string | Uint8Array }>([
  { what: 'JSON', headers: { 'content-type': 'application/json' }, body: '{"image": "x"}' },
  { what: 'a raw PNG', headers: { 'content-type': 'image/png' }, body: new Uint8Array(encodeSolidPng({ width: 2, height: 2, rgb: [0, 0, 0] }).toBuffer()) },
  { what: 'urlencoded', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'image=x' },
  { what: 'no content type', headers: {}, body: new Uint8Array(Buffer.from('image')) },
])('a body that is $what, not multipart → 415', async ({ headers, body }) => {
  const before = await stored(bridge);
  const res = await send(`${bridge.url}/upload`, { method: 'POST', headers, body });
  expect(res.status).toBe(415);
  expect(res.body).toEqual({ detail: expect.stringContaining('multipart/form-data') });
  expect(await stored(bridge)).toEqual(before);
});

test.each([
  { what: 'only a text field', parts: [{ name: 'note', data: 'hello' }] },
  { what: 'no part at all', parts: [] },
])('a multipart body with $what → 400 asking for a file', async ({ parts }) => {
  const before = await stored(bridge);
  const res = await upload(bridge, parts);
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ detail: expect.stringContaining('no file') });
  expect(await stored(bridge)).toEqual(before);
});

test('an empty file part → 400; nothing is kept', async () => {
  const before = await stored(bridge);
  const res = await upload(bridge, [{ name: 'image', filename: 'empty.png', contentType: 'image/png', data: '' }]);
  expect(res.status).toBe(400);
  expect(res.body).toEqual({ detail: expect.any(String) });
  expect(await stored(bridge)).toEqual(before);
});

test('an invalid clientId on /upload → 400; nothing is kept', async () => {
  const before = await stored(bridge);
  const res = await upload(bridge, [{ name: 'image', filename: 'a.png', contentType: 'image/png', data: png(2, 2, [0, 0, 0]) }], '?clientId=bad');
  expect(res.status).toBe(400);
  expect(res.body.detail).toContain('clientId');
  expect(await stored(bridge)).toEqual(before);
});

// ── uploads in jobs ──────────────────────────────────────────────────────────────────────────

/** Every upload and start on the backends, in the order they happened. */
function recordBackends(): { log: string[]; stop(): void } {
  const log: string[] = [];
  const offs = sims.map((sim) => {
    const onUpload = (name: string) => log.push(`${sim.url} upload ${name}`);
    const onStarted = (id: string) => log.push(`${sim.url} started ${id}`);
    sim.on('upload', onUpload);
    sim.on('started', onStarted);
    return () => {
      sim.off('upload', onUpload);
      sim.off('started', onStarted);
    };
  });
  return { log, stop: () => offs.forEach((off) => off()) };
}

test('img2img with an uploaded PNG: the backend that runs it gets the file first, and the result comes back', async () => {
  const clientId = 'img2img-upload-client';
  const bytes = png(48, 40, [90, 60, 30]);
  const up = await upload(bridge, [{ name: 'image', filename: 'me.png', contentType: 'image/png', data: bytes }]);
  expect(up.status).toBe(200);
  const name = up.body.image as string;

  const events = recordBackends();
  const client = await TestClient.connect(bridge, clientId);
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'img2img', '1/image': name, '6/seed': 777 });
  expect(res.status).toBe(200);
  await client.next((m) => m.status === 'closed');
  events.stop();
  expect(client.statuses()).not.toContain('error');

  const job = bridge.engine.jobsOf(clientId)[0];
  expect(job.state).toBe('completed');
  const ran = sims.find((s) => s.url === job.backend)!;
  const other = sims.find((s) => s !== ran)!;
  // The file went to that backend, under the uploaded name, before the job started there; not to the other.
  expect(events.log).toEqual([`${ran.url} upload ${name}`, `${ran.url} started ${job.id}`]);
  expect(ran.inputFiles()).toContain(name);
  expect(other.inputFiles()).not.toContain(name);
  const received = ran.receivedPrompts().find((p) => p.promptId === job.id)!;
  expect(received.prompt['1'].inputs.image).toBe(name);
  expect(received.prompt['6'].inputs.seed).toBe(777);

  const history = await fetch(`${bridge.url}/history?clientId=${clientId}`);
  expect(history.status).toBe(200);
  expect(history.headers.get('content-type')).toMatch(/^multipart\/form-data; boundary=/);
  const parts = await readParts(history);
  expect(parts).toHaveLength(1);
  expect(parts[0].type).toBe('image/png');
  const prompt = JSON.parse(readPngText(parts[0].bytes).prompt);
  expect(prompt['1'].inputs.image).toBe(name);
  expect(prompt['6'].inputs.seed).toBe(777);
  // Made from the uploaded image: its size.
  expect(pngSize(parts[0].bytes)).toEqual({ width: 48, height: 40 });
});

/** Submit a long sleep for `holder` and resolve once it runs, with the backend it runs on. */
async function holdABackend(b: TestBridge, on: ComfySimulator[], holder: string) {
  const res = await postJson(`${b.url}/generate-based-workflow?clientId=${holder}`, { workflow: 'sleep.json', '2/seconds': 120 });
  expect(res.status).toBe(200);
  const job = b.engine.jobsOf(holder)[0];
  const sim = await Promise.race(on.map((s) => simEvent<string>(s, 'started', (id) => id === job.id).then(() => s)));
  return { job, sim };
}

test('an upload reused by a second job before collection reaches the second backend too, before the job runs there', async () => {
  // A bridge of its own, so what earlier tests taught the scheduler does not steer these jobs.
  const fresh = await startOwnBridge(
    sims.map((s) => s.url),
    { BACKEND_PREFETCH: '0' },
  );
  try {
    await backendsUp(fresh);
    const clientId = 'reuse-upload-client';
    const bytes = png(24, 16, [1, 100, 200]);
    const up = await upload(fresh, [{ name: 'image', filename: 'reuse.png', contentType: 'image/png', data: bytes }]);
    expect(up.status).toBe(200);
    const name = up.body.image as string;
    const events = recordBackends();

    // A long job holds backend B, so the first job can only go to A.
    const holdB = await holdABackend(fresh, sims, 'holds-backend-b');
    const simB = holdB.sim;
    const simA = sims.find((s) => s !== simB)!;
    expect((await postJson(`${fresh.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'img2img', '1/image': name, '6/seed': 1 })).status).toBe(200);
    const first = fresh.engine.jobsOf(clientId)[0];
    expect((await jobState(fresh, first.id, ['completed', 'failed', 'cancelled'])).state).toBe('completed');
    expect(first.backend).toBe(simA.url);

    // Now a long job holds A too, and the second job with the same upload waits in the bridge.
    const holdA = await holdABackend(fresh, sims, 'holds-backend-a');
    expect(holdA.sim).toBe(simA);
    expect((await postJson(`${fresh.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'img2img', '1/image': name, '6/seed': 2 })).status).toBe(200);
    const second = fresh.engine.jobsOf(clientId).find((j) => j.id !== first.id)!;
    expect(second.state).toBe('queued');
    expect(simB.inputFiles()).not.toContain(name);

    // B is freed: the second job goes there, and its input goes with it, before it starts.
    expect((await postJson(`${fresh.url}/interrupt?clientId=holds-backend-b`)).status).toBe(200);
    expect((await jobState(fresh, second.id, ['completed', 'failed', 'cancelled'])).state).toBe('completed');
    events.stop();
    expect(second.backend).toBe(simB.url);
    expect(events.log).toEqual([
      `${simB.url} started ${holdB.job.id}`,
      `${simA.url} upload ${name}`,
      `${simA.url} started ${first.id}`,
      `${simA.url} started ${holdA.job.id}`,
      `${simB.url} upload ${name}`,
      `${simB.url} started ${second.id}`,
    ]);
    expect(simB.inputFiles()).toContain(name);
    expect(simB.receivedPrompts().find((p) => p.promptId === second.id)!.prompt['1'].inputs.image).toBe(name);
    expect(simA.receivedPrompts().find((p) => p.promptId === first.id)!.prompt['1'].inputs.image).toBe(name);

    // Both results, each made from the uploaded image with its own seed.
    const parts = await readParts(await fetch(`${fresh.url}/history?clientId=${clientId}`));
    expect(parts).toHaveLength(2);
    const prompts = parts.map((p) => JSON.parse(readPngText(p.bytes).prompt));
    expect(prompts.map((p) => p['1'].inputs.image)).toEqual([name, name]);
    expect(prompts.map((p) => p['6'].inputs.seed).sort()).toEqual([1, 2]);
    for (const p of parts) expect(pngSize(p.bytes)).toEqual({ width: 24, height: 16 });

    expect((await postJson(`${fresh.url}/interrupt?clientId=holds-backend-a`)).status).toBe(200);
    await waitFinal(fresh, 'holds-backend-a');
    expect((await getJson(`${fresh.url}/execution-info?clientId=holds-backend-a`)).body.status).toBe('error');
  } finally {
    await fresh.dispose();
  }
});

// Once one backend is measured faster, a job may wait briefly for it; but a backend whose running
// job overruns its estimate looks busier the longer it runs, so the job goes to the idle backend
// while the long job is still running, not after it.
test('a job with a reused upload is not held for a busy backend while another one is idle', async () => {
  // Far enough apart that the learned speeds order them the same way on a busy machine.
  const [fast] = await startSims(1, { stepMs: 1 });
  const [slow] = await startSims(1, { stepMs: 15 });
  const pair = [fast, slow];
  const b = await startOwnBridge(
    pair.map((s) => s.url),
    { BACKEND_PREFETCH: '0' },
  );
  try {
    await backendsUp(b);
    const up = await upload(b, [{ name: 'image', filename: 'r.png', contentType: 'image/png', data: png(8, 8, [3, 3, 3]) }]);
    const name = up.body.image as string;
    // One job on each backend teaches the scheduler their speeds.
    for (const id of ['learn-speed-1', 'learn-speed-2']) {
      expect((await postJson(`${b.url}/generate-based-workflow?clientId=${id}`, { workflow: 'img2img', '1/image': name })).status).toBe(200);
    }
    await Promise.all([waitFinal(b, 'learn-speed-1'), waitFinal(b, 'learn-speed-2')]);
    const used = ['learn-speed-1', 'learn-speed-2'].map((id) => b.engine.jobsOf(id)[0].backend).sort();
    expect(used).toEqual(pair.map((s) => s.url).sort());

    const hold = await holdABackend(b, pair, 'holds-the-fast-one');
    expect(hold.sim).toBe(fast);
    // The long job has run far beyond its estimate once it reports progress.
    await engineEvent(b.engine, (e) => 'jobId' in e && e.jobId === hold.job.id && (b.engine.get(e.jobId)?.progress?.value ?? 0) > 0);

    const clientId = 'waits-for-nothing';
    expect((await postJson(`${b.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'img2img', '1/image': name })).status).toBe(200);
    const job = b.engine.jobsOf(clientId)[0];
    if (job.backend === undefined) {
      await engineUntil(b.engine, () => job.backend !== undefined);
    }
    expect(job.backend).toBe(slow.url);
    expect(hold.job.state).toBe('running');
    expect((await postJson(`${b.url}/interrupt?clientId=holds-the-fast-one`)).status).toBe(200);
    await waitFinal(b, clientId);
    expect(job.state).toBe('completed');
  } finally {
    await b.dispose();
    await Promise.all(pair.map((s) => s.close()));
  }
});
