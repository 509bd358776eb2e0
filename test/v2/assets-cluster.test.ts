// The v2 assets across two bridge processes on one Redis and one UPLOAD_DIR: an asset made on one
// is found, served and minted from on the other, a URL one signs works on the other, and a job
// submitted on either gets its core/ASSET input onto the backend that runs it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeSolidPng } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { assetsOf } from '../../src/v2/assets.js';
import { engineUntil, startBridgePair, startSims } from '../e2e/harness.js';
import type { BridgePair, TestBridge } from '../e2e/harness.js';

const ALICE = 'alice-key-0000000001';

let pair: BridgePair;
let sims: ComfySimulator[];
let shared: string;
let one: TestBridge;
let two: TestBridge;

beforeAll(async () => {
  sims = await startSims(2);
  shared = await mkdtemp(path.join(tmpdir(), 'assets-cluster-'));
  pair = await startBridgePair(sims.map((s) => s.url), { API_KEYS: `alice:${ALICE}`, REDIS_PREFIX: 'assets-cluster:', UPLOAD_DIR: path.join(shared, 'uploads') });
  ({ one, two } = pair);
});

afterAll(async () => {
  await pair?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
  await rm(shared, { recursive: true, force: true });
});

function call(bridge: TestBridge, method: string, route: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${ALICE}`);
  return fetch(`${bridge.url}${route}`, { ...init, method, headers });
}

async function upload(bridge: TestBridge, bytes: Buffer): Promise<{ status: number; body: any }> {
  const form = new FormData();
  form.append('file', new Blob([new Uint8Array(bytes)]), 'photo.png');
  form.append('content_type', 'image/png');
  form.append('file_path', 'photo.png');
  const res = await call(bridge, 'POST', '/api/v2/assets', { body: form });
  return { status: res.status, body: await res.json() };
}

/** Resolves once the bridge holds a record of the collection with this id. */
function holds(bridge: TestBridge, collection: string, id: string): Promise<void> {
  if (bridge.engine.collection(collection).has(id)) return Promise.resolve();
  return new Promise((resolve) => {
    const stop = bridge.engine.onRecord((c, i, value) => {
      if (c !== collection || i !== id || value === undefined) return;
      stop();
      resolve();
    });
  });
}

test('an asset made on one process is read, served and minted from on the other', async () => {
  const bytes = encodeSolidPng({ width: 8, height: 8, rgb: [12, 34, 56] }).toBuffer();
  const made = await upload(one, bytes);
  expect(made.status).toBe(201);
  await holds(two, 'v2-assets', made.body.id);
  await holds(two, 'v2-asset-blobs', `alice\n${made.body.hash.slice('blake3:'.length)}`);

  expect((await call(two, 'HEAD', `/api/v2/assets/by-hash/${made.body.hash}`)).status).toBe(200);
  const got = await call(two, 'GET', `/api/v2/assets/${made.body.id}/content`);
  expect(got.status).toBe(200);
  expect(Buffer.from(await got.arrayBuffer()).equals(bytes)).toBe(true);

  const again = await upload(two, bytes);
  expect(again.status).toBe(200);
  expect(again.body.created_new).toBe(false);
  const minted = await call(two, 'POST', '/api/v2/assets/from-hash', { body: JSON.stringify({ hash: made.body.hash }), headers: { 'content-type': 'application/json' } });
  expect(minted.status).toBe(201);

  // Signed by one process, checked by the other: the secret is the cluster's.
  const signed = new URL(((await (await call(one, 'GET', `/api/v2/assets/${made.body.id}`)).json()) as { url: string }).url);
  const elsewhere = await fetch(`${two.url}${signed.pathname}${signed.search}`);
  expect(elsewhere.status).toBe(200);
  expect(Buffer.from(await elsewhere.arrayBuffer()).equals(bytes)).toBe(true);
});

test('a job submitted on either process gets its asset input onto the backend that runs it', async () => {
  const bytes = encodeSolidPng({ width: 8, height: 8, rgb: [90, 80, 70] }).toBuffer();
  const made = await upload(one, bytes);
  await holds(two, 'v2-assets', made.body.id);
  const hex = made.body.hash.slice('blake3:'.length);
  for (const bridge of [one, two]) {
    const resolved = assetsOf(bridge.engine).resolveAssets(
      {
        '1': { class_type: 'LoadImage', inputs: { image: { __type: 'core/ASSET', info: { id: made.body.id } } } },
        '2': { class_type: 'SaveImage', inputs: { images: ['1', 0], filename_prefix: 'cluster' } },
      },
      'alice',
    );
    const { job } = await bridge.engine.as({ tenant: 'alice', admin: false }).submit({ clientId: 'assets-cluster', door: 'v2', prompt: resolved.prompt, uploads: resolved.uploads });
    await engineUntil(bridge.engine, () => bridge.engine.get(job.id)?.state === 'completed' || bridge.engine.get(job.id)?.state === 'failed');
    const done = bridge.engine.get(job.id)!;
    expect(done.state).toBe('completed');
    const res = await fetch(`${done.backend}/view?${new URLSearchParams({ filename: `${hex}.png`, subfolder: 'bridge-tenant-alice/bridge-assets', type: 'input' })}`);
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  }
});
