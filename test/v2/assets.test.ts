// The v2 door's assets over simulated backends: uploads hashed with blake3 and deduplicated per
// key, from-hash and by-hash, signed content URLs, Range requests, job outputs as assets streamed
// from the backend that made them, and core/ASSET inputs that reach the backend that runs the job.
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { blake3 } from '@noble/hashes/blake3';
import { bytesToHex } from '@noble/hashes/utils';
import { encodeSolidPng, pngFirstPixel } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import type { Job } from '../../src/jobs/job.js';
import { outputAssetId } from '../../src/v2/asset-ids.js';
import { assetsOf, isAssetInput } from '../../src/v2/assets.js';
import { assetReferences } from '../../src/v2/asset-extension.js';
import { checkPrompt } from '../../src/compat/validation.js';
import { V2Error } from '../../src/v2/errors.js';
import { backendsUp, engineUntil, startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';

const ALICE = 'alice-key-0000000001';
const BOB = 'bob-key-000000000002';

let sims: ComfySimulator[];
let bridge: TestBridge;

beforeAll(async () => {
  sims = await startSims(2);
  bridge = await startBridge(
    sims.map((s) => s.url),
    { API_KEYS: `alice:${ALICE},bob:${BOB}` },
  );
  await backendsUp(bridge);
});

afterAll(async () => {
  await bridge?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
});

function png(rgb: [number, number, number], minBytes?: number): Buffer {
  return encodeSolidPng({ width: 8, height: 8, rgb, minBytes }).toBuffer();
}

const hashOf = (bytes: Uint8Array) => `blake3:${bytesToHex(blake3(bytes))}`;

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

async function answer(res: Response): Promise<Answer> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, body, headers: res.headers };
}

function call(key: string | undefined, method: string, route: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (key) headers.set('authorization', `Bearer ${key}`);
  return fetch(`${bridge.url}${route}`, { ...init, method, headers });
}

interface UploadFields {
  content_type?: string;
  file_path?: string;
  expected_hash?: string;
  tags?: string[];
}

function form(bytes: Buffer, fields: UploadFields = {}): FormData {
  const f = new FormData();
  f.append('file', new Blob([new Uint8Array(bytes)]), fields.file_path ?? 'photo.png');
  f.append('content_type', fields.content_type ?? 'image/png');
  f.append('file_path', fields.file_path ?? 'photo.png');
  if (fields.expected_hash) f.append('expected_hash', fields.expected_hash);
  for (const t of fields.tags ?? []) f.append('tags', t);
  return f;
}

async function upload(key: string, bytes: Buffer, fields: UploadFields = {}, headers: Record<string, string> = {}): Promise<Answer> {
  return answer(await call(key, 'POST', '/api/v2/assets', { body: form(bytes, fields), headers }));
}

async function postJson(key: string | undefined, route: string, body: unknown): Promise<Answer> {
  return answer(await call(key, 'POST', route, { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }));
}

function records(): number {
  return bridge.engine.collection('v2-assets').size;
}

async function incoming(): Promise<string[]> {
  return readdir(path.join(bridge.config.uploadDir, '.incoming'));
}

function blobFile(tenant: string, hash: string): string {
  return path.join(bridge.config.uploadDir, 'tenants', tenant, 'assets', hash.slice('blake3:'.length));
}

/** Run a graph as a v2 job of `tenant` through the engine, until it is final. */
async function runJob(tenant: string, prompt: Record<string, unknown>, uploads: string[] = []): Promise<Job> {
  const { job } = await bridge.engine.as({ tenant, admin: false }).submit({ clientId: 'v2-assets-test', door: 'v2', prompt: prompt as never, uploads });
  await engineUntil(bridge.engine, () => ['completed', 'failed', 'cancelled'].includes(bridge.engine.get(job.id)!.state));
  return bridge.engine.get(job.id)!;
}

function simOf(backend: string): ComfySimulator {
  return sims.find((s) => s.url === backend)!;
}

/** A file as a backend holds it. */
async function onBackend(backend: string, file: { filename: string; subfolder: string; type: string }): Promise<Buffer> {
  const res = await fetch(`${backend}/view?${new URLSearchParams(file)}`);
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('uploads', () => {
  test('an upload is hashed with blake3 while it arrives, kept under its hash, and deduplicated per key', async () => {
    // Large enough to arrive in many chunks.
    const bytes = png([10, 20, 30], 300_000);
    const first = await upload(ALICE, bytes, { tags: ['input', 'portrait'] });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      hash: hashOf(bytes),
      size_bytes: bytes.length,
      content_type: 'image/png',
      file_path: 'photo.png',
      tags: ['input', 'portrait'],
      created_new: true,
    });
    expect(first.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Date(first.body.created_at).getTime()).toBeGreaterThan(Date.now() - 60_000);
    expect(existsSync(blobFile('alice', first.body.hash))).toBe(true);

    // The same bytes again: a new asset over the same blob.
    const again = await upload(ALICE, bytes, { file_path: 'again.png' });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ hash: first.body.hash, created_new: false, file_path: 'again.png', tags: [] });
    expect(again.body.id).not.toBe(first.body.id);

    // Another key has its own blobs: the same bytes are new to it.
    const bob = await upload(BOB, bytes);
    expect(bob.status).toBe(201);
    expect(bob.body.created_new).toBe(true);
    expect(existsSync(blobFile('bob', first.body.hash))).toBe(true);
    expect(await incoming()).toEqual([]);
  });

  test('expected_hash is checked: a mismatch is 409 hash_mismatch and keeps nothing', async () => {
    const bytes = png([1, 2, 3]);
    const before = records();
    const wrong = hashOf(Buffer.from('something else'));
    const refused = await upload(ALICE, bytes, { expected_hash: wrong });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: 'hash_mismatch', details: { expected_hash: wrong, hash: hashOf(bytes) } });
    expect(records()).toBe(before);
    expect(existsSync(blobFile('alice', hashOf(bytes)))).toBe(false);
    expect(await incoming()).toEqual([]);
    expect((await answer(await call(ALICE, 'HEAD', `/api/v2/assets/by-hash/${hashOf(bytes)}`))).status).toBe(404);

    const right = await upload(ALICE, bytes, { expected_hash: hashOf(bytes).toUpperCase().replace('BLAKE3', 'blake3') });
    expect(right.status).toBe(201);
  });

  test('only images a LoadImage node reads are kept; the recorded type is the bytes\' own', async () => {
    const before = records();
    const text = await upload(ALICE, Buffer.from('just some text, not an image'), { content_type: 'text/plain', file_path: 'notes.txt' });
    expect(text.status).toBe(422);
    expect(text.body.error.code).toBe('unsupported_content');
    const cut = await upload(ALICE, png([9, 9, 9]).subarray(0, 40));
    expect(cut.status).toBe(422);
    expect(records()).toBe(before);
    expect(await incoming()).toEqual([]);

    const mislabelled = await upload(ALICE, png([7, 7, 7]), { content_type: 'image/jpeg' });
    expect(mislabelled.status).toBe(201);
    expect(mislabelled.body.content_type).toBe('image/png');
  });

  test('the form is checked: a file part, content_type and file_path are required', async () => {
    const noPath = new FormData();
    noPath.append('file', new Blob([new Uint8Array(png([5, 5, 5]))]), 'a.png');
    noPath.append('content_type', 'image/png');
    const res = await answer(await call(ALICE, 'POST', '/api/v2/assets', { body: noPath }));
    expect(res.status).toBe(422);
    expect(res.body.error).toMatchObject({ code: 'invalid_request' });
    expect(res.body.error.message).toContain('file_path');

    const json = await postJson(ALICE, '/api/v2/assets', { file: 'x' });
    expect(json.status).toBe(415);
    expect(json.body.error.code).toBe('invalid_request');
    expect(await incoming()).toEqual([]);
  });

  test('without a key: 401 in the error envelope', async () => {
    const res = await answer(await call(undefined, 'POST', '/api/v2/assets', { body: form(png([4, 4, 4])) }));
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
    expect((await answer(await call('not-a-key-at-all-000', 'GET', '/api/v2/assets/0190c8e0-0000-7000-8000-000000000000'))).status).toBe(401);
  });

  test('Idempotency-Key: the same upload replays the answer, another upload under the key is 422', async () => {
    const key = crypto.randomUUID();
    const bytes = png([40, 50, 60]);
    const first = await upload(ALICE, bytes, { tags: ['input'] }, { 'idempotency-key': key });
    expect(first.status).toBe(201);
    const count = records();
    const retry = await upload(ALICE, bytes, { tags: ['input'] }, { 'idempotency-key': key });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotency-replayed')).toBe('true');
    expect(retry.body).toMatchObject({ id: first.body.id, created_new: true });
    expect(records()).toBe(count);

    const other = await upload(ALICE, png([41, 50, 60]), { tags: ['input'] }, { 'idempotency-key': key });
    expect(other.status).toBe(422);
    expect(other.body.error.code).toBe('idempotency_key_reuse');
    const otherFields = await upload(ALICE, bytes, { tags: ['other'] }, { 'idempotency-key': key });
    expect(otherFields.body.error.code).toBe('idempotency_key_reuse');

    // Keys are per key: Bob's use of the same string is his own.
    const bob = await upload(BOB, png([42, 50, 60]), {}, { 'idempotency-key': key });
    expect(bob.status).toBe(201);
    expect(await incoming()).toEqual([]);
  });

  test('Idempotency-Key: a retry sent while the first upload is still arriving gets the same asset', async () => {
    const key = crypto.randomUUID();
    const bytes = png([70, 80, 90], 100_000);
    // The multipart body, sent in two parts with a pause the test controls.
    const request = new Request('http://x', { method: 'POST', body: form(bytes) });
    const contentType = request.headers.get('content-type')!;
    const raw = new Uint8Array(await request.arrayBuffer());
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let sentFirstPart!: () => void;
    const started = new Promise<void>((resolve) => (sentFirstPart = resolve));
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(raw.subarray(0, 1000));
        sentFirstPart();
        await held;
        controller.enqueue(raw.subarray(1000));
        controller.close();
      },
    });
    const slow = fetch(`${bridge.url}/api/v2/assets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ALICE}`, 'content-type': contentType, 'idempotency-key': key },
      body: stream,
      duplex: 'half',
    } as RequestInit);
    await started;
    const count = records();
    const retry = await upload(ALICE, bytes, {}, { 'idempotency-key': key });
    expect(retry.status).toBe(201);
    release();
    const first = await answer(await slow);
    expect(first.status).toBe(201);
    expect(first.headers.get('idempotency-replayed')).toBe('true');
    expect(first.body.id).toBe(retry.body.id);
    expect(records()).toBe(count + 1);
  });

  test('Idempotency-Key: while a request under the key is being handled (here or on another process), 409 with Retry-After', async () => {
    const key = crypto.randomUUID();
    await bridge.engine.collection('v2-asset-keys').claim(`alice\n${key}`, { state: 'pending', at: Date.now() });
    const count = records();
    const busy = await upload(ALICE, png([71, 80, 90]), {}, { 'idempotency-key': key });
    expect(busy.status).toBe(409);
    expect(busy.body.error.code).toBe('idempotency_conflict');
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(records()).toBe(count);
    expect(await incoming()).toEqual([]);
  });
});

describe('minting from a hash', () => {
  let hash: string;
  beforeAll(async () => {
    const bytes = png([100, 110, 120]);
    hash = (await upload(ALICE, bytes)).body.hash;
  });

  test('from-hash mints over the caller\'s bytes; the same reference again is returned as is', async () => {
    const minted = await postJson(ALICE, '/api/v2/assets/from-hash', { hash, file_path: 'copy.png', tags: ['input'] });
    expect(minted.status).toBe(201);
    expect(minted.body).toMatchObject({ hash, file_path: 'copy.png', tags: ['input'], content_type: 'image/png', created_new: true });
    const same = await postJson(ALICE, '/api/v2/assets/from-hash', { hash, file_path: 'copy.png', tags: ['input'] });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ id: minted.body.id, created_new: false });
    const other = await postJson(ALICE, '/api/v2/assets/from-hash', { hash, file_path: 'another.png' });
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(minted.body.id);
  });

  test('a hash nobody uploaded, or that only another key uploaded, is 404 blob_not_found alike', async () => {
    const unknown = await postJson(ALICE, '/api/v2/assets/from-hash', { hash: hashOf(Buffer.from('never uploaded')) });
    const others = await postJson(BOB, '/api/v2/assets/from-hash', { hash });
    expect(unknown.status).toBe(404);
    expect(others.status).toBe(404);
    expect(others.body.error.code).toBe('blob_not_found');
    expect(unknown.body.error.code).toBe('blob_not_found');
    const malformed = await postJson(ALICE, '/api/v2/assets/from-hash', { hash: 'sha256:abc' });
    expect(malformed.status).toBe(404);
    const missing = await postJson(ALICE, '/api/v2/assets/from-hash', { file_path: 'x.png' });
    expect(missing.status).toBe(422);
    expect(missing.body.error.code).toBe('invalid_request');
  });

  test('HEAD by-hash: 200 for the caller\'s bytes, 404 for another key\'s and for unknown ones', async () => {
    const head = (key: string, h: string) => call(key, 'HEAD', `/api/v2/assets/by-hash/${h}`);
    const mine = await head(ALICE, hash);
    expect(mine.status).toBe(200);
    expect(await mine.text()).toBe('');
    expect((await head(BOB, hash)).status).toBe(404);
    expect((await head(ALICE, hashOf(Buffer.from('never uploaded')))).status).toBe(404);
    expect((await head(ALICE, 'not-a-hash')).status).toBe(404);
  });
});

describe('reading an asset', () => {
  let bytes: Buffer;
  let asset: any;
  beforeAll(async () => {
    bytes = png([130, 140, 150], 5000);
    asset = (await upload(ALICE, bytes, { file_path: 'read-me.png' })).body;
  });

  test('GET answers the asset with a fresh signed URL that works without a key', async () => {
    const got = await answer(await call(ALICE, 'GET', `/api/v2/assets/${asset.id}`));
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id: asset.id, hash: hashOf(bytes), size_bytes: bytes.length, content_type: 'image/png', file_path: 'read-me.png' });
    expect(got.body.created_new).toBeUndefined();
    expect(got.body.url).toMatch(new RegExp(`^${bridge.url}/api/v2/assets/${asset.id}/content\\?`));
    const expires = new Date(got.body.url_expires_at).getTime();
    expect(expires).toBeGreaterThan(Date.now() + 30 * 60_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 61 * 60_000);

    const content = await fetch(got.body.url);
    expect(content.status).toBe(200);
    expect(content.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await content.arrayBuffer()).equals(bytes)).toBe(true);
    // A signed URL takes a Range too.
    const part = await fetch(got.body.url, { headers: { range: 'bytes=0-7' } });
    expect(part.status).toBe(206);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(0, 8))).toBe(true);
  });

  test('a tampered, moved or expired URL is refused (403)', async () => {
    const { url } = (await answer(await call(ALICE, 'GET', `/api/v2/assets/${asset.id}`))).body;
    const u = new URL(url);
    const tampered = new URL(u);
    const sig = u.searchParams.get('signature')!;
    tampered.searchParams.set('signature', (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
    const later = new URL(u);
    later.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 3600));
    const other = (await upload(ALICE, png([131, 140, 150]))).body.id as string;
    const moved = new URL(u.href.replace(asset.id, other));
    for (const bad of [tampered, later, moved]) {
      const res = await answer(await fetch(bad));
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('forbidden');
    }
    const expired = await assetsOf(bridge.engine).urls.sign(asset.id, Date.now() - 2 * 3600_000);
    const res = await answer(await fetch(`${bridge.url}${expired.path}`));
    expect(res.status).toBe(403);
    // Without a signature, the key is needed again.
    expect((await fetch(`${bridge.url}/api/v2/assets/${asset.id}/content`)).status).toBe(401);
  });

  test('another key\'s asset answers 404 exactly like a missing one', async () => {
    const missing = '01900000-0000-7000-8000-000000000000';
    for (const route of [`/api/v2/assets/${asset.id}`, `/api/v2/assets/${asset.id}/content`]) {
      const theirs = await answer(await call(BOB, 'GET', route));
      const none = await answer(await call(BOB, 'GET', route.replace(asset.id, missing)));
      expect(theirs.status).toBe(404);
      expect(theirs.body.error.code).toBe('not_found');
      expect(none.status).toBe(404);
      expect(theirs.body.error.message.replace(asset.id, missing)).toBe(none.body.error.message);
    }
  });

  test('content: whole, one Range as 206, an unsatisfiable one as 416, and HEAD', async () => {
    const route = `/api/v2/assets/${asset.id}/content`;
    const whole = await call(ALICE, 'GET', route);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    expect(whole.headers.get('content-length')).toBe(String(bytes.length));
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);

    const middle = await call(ALICE, 'GET', route, { headers: { range: 'bytes=100-199' } });
    expect(middle.status).toBe(206);
    expect(middle.headers.get('content-range')).toBe(`bytes 100-199/${bytes.length}`);
    expect(middle.headers.get('content-length')).toBe('100');
    expect(Buffer.from(await middle.arrayBuffer()).equals(bytes.subarray(100, 200))).toBe(true);

    const tail = await call(ALICE, 'GET', route, { headers: { range: 'bytes=-10' } });
    expect(tail.status).toBe(206);
    expect(Buffer.from(await tail.arrayBuffer()).equals(bytes.subarray(bytes.length - 10))).toBe(true);
    const open = await call(ALICE, 'GET', route, { headers: { range: `bytes=${bytes.length - 3}-` } });
    expect(Buffer.from(await open.arrayBuffer()).equals(bytes.subarray(bytes.length - 3))).toBe(true);

    const beyond = await answer(await call(ALICE, 'GET', route, { headers: { range: `bytes=${bytes.length}-` } }));
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    expect(beyond.body.error.code).toBe('range_not_satisfiable');

    const head = await call(ALICE, 'HEAD', route);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(head.headers.get('content-type')).toBe('image/png');
    expect(await head.text()).toBe('');
    const headPart = await call(ALICE, 'HEAD', route, { headers: { range: 'bytes=0-9' } });
    expect(headPart.status).toBe(206);
    expect(headPart.headers.get('content-length')).toBe('10');
  });
});

describe('job outputs are assets', () => {
  let job: Job;
  let id: string;
  let bytes: Buffer;
  beforeAll(async () => {
    job = await runJob('alice', {
      '1': { class_type: 'EmptyImage', inputs: { width: 16, height: 16, batch_size: 1, color: 0x336699 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'v2-output' } },
    });
    expect(job.state).toBe('completed');
    id = outputAssetId(job.id, job.outputs[0]!);
    bytes = await onBackend(job.outputs[0]!.backend, job.outputs[0]!);
  });

  test('GET describes an output of the caller\'s job, asked of the backend that made it', async () => {
    const got = await answer(await call(ALICE, 'GET', `/api/v2/assets/${id}`));
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, hash: null, size_bytes: bytes.length, content_type: 'image/png', file_path: job.outputs[0]!.filename, tags: ['output'] });
    const viaUrl = await fetch(got.body.url);
    expect(viaUrl.status).toBe(200);
    expect(Buffer.from(await viaUrl.arrayBuffer()).equals(bytes)).toBe(true);
    expect((await answer(await call(BOB, 'GET', `/api/v2/assets/${id}`))).status).toBe(404);
    expect((await answer(await call(BOB, 'GET', `/api/v2/assets/${id}/content`))).status).toBe(404);
  });

  test('content is streamed from that backend, with Range, 416 and HEAD passed through', async () => {
    const route = `/api/v2/assets/${id}/content`;
    const whole = await call(ALICE, 'GET', route);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    const part = await call(ALICE, 'GET', route, { headers: { range: 'bytes=8-23' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 8-23/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(bytes.subarray(8, 24))).toBe(true);
    const beyond = await answer(await call(ALICE, 'GET', route, { headers: { range: `bytes=${bytes.length + 10}-` } }));
    expect(beyond.status).toBe(416);
    expect(beyond.headers.get('content-range')).toBe(`bytes */${bytes.length}`);
    expect(beyond.body.error.code).toBe('range_not_satisfiable');
    const head = await call(ALICE, 'HEAD', route);
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(bytes.length));
    expect(await head.text()).toBe('');
  });

  test('an output is an asset until its job is removed', async () => {
    const other = await runJob('alice', {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 1 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'v2-gone' } },
    });
    const gone = outputAssetId(other.id, other.outputs[0]!);
    expect((await call(ALICE, 'GET', `/api/v2/assets/${gone}`)).status).toBe(200);
    await bridge.engine.forget([other.id]);
    const res = await answer(await call(ALICE, 'GET', `/api/v2/assets/${gone}`));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('core/ASSET references in a workflow', () => {
  const ref = (id: unknown) => ({ __type: 'core/ASSET', info: { id, file_path: 'photo.png' } });
  const invert = (image: unknown) => ({
    '1': { class_type: 'LoadImage', inputs: { image } },
    '2': { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
    '3': { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'v2-inverted' } },
  });

  test('an uploaded asset reaches the backend that runs the job, under the key\'s folder there', async () => {
    const bytes = png([200, 10, 60]);
    const asset = (await upload(ALICE, bytes)).body;
    const hex = asset.hash.slice('blake3:'.length);
    const resolved = assetsOf(bridge.engine).resolveAssets(invert(ref(asset.id)) as never, 'alice');
    expect(resolved.uploads).toEqual([`bridge-assets/${hex}.png`]);
    expect(resolved.prompt['1']!.inputs.image).toBe(`bridge-assets/${hex}.png`);
    // The rewritten graph passes ComfyUI's checks against the pool, though no backend has the file yet.
    const info = await bridge.engine.pool.objectInfo();
    expect(checkPrompt(structuredClone(resolved.prompt), undefined, info!, isAssetInput).ok).toBe(true);

    const job = await runJob('alice', resolved.prompt, resolved.uploads);
    expect(job.state).toBe('completed');
    const placed = { filename: `${hex}.png`, subfolder: 'bridge-tenant-alice/bridge-assets', type: 'input' };
    expect(simOf(job.backend!).inputFiles()).toContain(`${placed.subfolder}/${placed.filename}`);
    expect((await onBackend(job.backend!, placed)).equals(bytes)).toBe(true);
    const sent = simOf(job.backend!).receivedPrompts().find((p) => p.promptId === job.id)!;
    expect((sent.prompt as any)['1'].inputs.image).toBe(`${placed.subfolder}/${placed.filename}`);
    // The job read those bytes: its output is their inverse.
    const out = await onBackend(job.backend!, job.outputs[0]!);
    expect(pngFirstPixel(out)?.rgb).toEqual([55, 245, 195]);
  });

  test('an output of an earlier job can be the input of the next, wherever each runs', async () => {
    const first = await runJob('alice', {
      '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0x102030 } },
      '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'v2-chain' } },
    });
    const made = await onBackend(first.outputs[0]!.backend, first.outputs[0]!);
    const outputId = outputAssetId(first.id, first.outputs[0]!);
    const resolved = assetsOf(bridge.engine).resolveAssets(invert(ref(outputId)) as never, 'alice');
    const job = await runJob('alice', resolved.prompt, resolved.uploads);
    expect(job.state).toBe('completed');
    expect((await onBackend(job.backend!, { filename: `${outputId}.png`, subfolder: 'bridge-tenant-alice/bridge-assets', type: 'input' })).equals(made)).toBe(true);
    expect(pngFirstPixel(await onBackend(job.backend!, job.outputs[0]!))?.rgb).toEqual([0xef, 0xdf, 0xcf]);
    // Bob cannot name Alice's output.
    expect(() => assetsOf(bridge.engine).resolveAssets(invert(ref(outputId)) as never, 'bob')).toThrow(V2Error);
  });

  test('as a job extension of the door: the graph is rewritten and the inputs added before validation', async () => {
    const asset = (await upload(ALICE, png([202, 10, 60]))).body;
    const extension = assetReferences(bridge.engine);
    const request = { who: { tenant: 'alice', admin: false }, prompt: invert(ref(asset.id)) as never, uploads: [] as string[] };
    extension.prepare(request);
    const input = `bridge-assets/${asset.hash.slice('blake3:'.length)}.png`;
    expect((request.prompt as any)['1'].inputs.image).toBe(input);
    expect(request.uploads).toEqual([input]);
    expect(extension.stored(input)).toBe(true);
    expect(extension.stored('example.png')).toBe(false);
    expect(() => extension.prepare({ who: { tenant: 'bob', admin: false }, prompt: invert(ref(asset.id)) as never, uploads: [] })).toThrow(V2Error);
  });

  test('unknown, another key\'s or malformed references are 422 missing_asset, each named', async () => {
    const alices = (await upload(ALICE, png([201, 10, 60]))).body.id;
    const graph = {
      ...invert(ref(alices)),
      '4': { class_type: 'LoadImage', inputs: { image: ref('01900000-0000-7000-8000-000000000000') } },
      '5': { class_type: 'LoadImage', inputs: { image: { __type: 'core/ASSET', info: { hash: 'blake3:00' } } } },
    };
    let error: unknown;
    try {
      assetsOf(bridge.engine).resolveAssets(graph as never, 'bob');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(V2Error);
    const e = error as V2Error;
    expect(e.status).toBe(422);
    expect(e.code).toBe('missing_asset');
    expect(e.details).toEqual({
      assets: [
        { node_id: '1', input: 'image', id: alices, reason: 'not_found' },
        { node_id: '4', input: 'image', id: '01900000-0000-7000-8000-000000000000', reason: 'not_found' },
        { node_id: '5', input: 'image', id: null, reason: 'malformed' },
      ],
    });
    // A graph without references is left as it is.
    const plain = { '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 0 } } };
    expect(assetsOf(bridge.engine).resolveAssets(plain as never, 'bob')).toEqual({ prompt: plain, uploads: [] });
  });
});

test('after a restart, assets and the outputs of kept jobs are still there', async () => {
  const bytes = png([33, 66, 99]);
  const asset = (await upload(ALICE, bytes)).body;
  const job = await runJob('alice', {
    '1': { class_type: 'EmptyImage', inputs: { width: 8, height: 8, batch_size: 1, color: 7 } },
    '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'v2-restart' } },
  });
  const output = outputAssetId(job.id, job.outputs[0]!);
  const signed = (await answer(await call(ALICE, 'GET', `/api/v2/assets/${asset.id}`))).body.url as string;

  await bridge.stop();
  bridge = await startBridge(
    sims.map((s) => s.url),
    { API_KEYS: `alice:${ALICE},bob:${BOB}` },
    bridge.dir,
  );
  await backendsUp(bridge);

  const again = await answer(await call(ALICE, 'GET', `/api/v2/assets/${asset.id}`));
  expect(again.status).toBe(200);
  expect(again.body.hash).toBe(hashOf(bytes));
  expect((await upload(ALICE, bytes)).body.created_new).toBe(false);
  expect((await answer(await call(ALICE, 'GET', `/api/v2/assets/${output}`))).status).toBe(200);
  // The same secret signs after the restart: a URL made before still works.
  const before = await fetch(signed.replace(/^http:\/\/[^/]+/, bridge.url));
  expect(before.status).toBe(200);
  expect(Buffer.from(await before.arrayBuffer()).equals(bytes)).toBe(true);
});
