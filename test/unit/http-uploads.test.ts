import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Koa from 'koa';
import { errorMiddleware } from '../../src/http/errors.js';
import { listen } from '../../src/http/listen.js';
import type { Listening } from '../../src/http/listen.js';
import { fileNameProblem, receiveUpload } from '../../src/http/uploads.js';

let dir: string;
let server: Listening;
let n = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'uploads-test-'));
  const app = new Koa();
  app.use(errorMiddleware((_s, message) => ({ detail: message })));
  app.use(async (ctx) => {
    const { files } = await receiveUpload(ctx.req, {
      dir,
      maxFileBytes: 64 * 1024,
      maxTotalBytes: 64 * 1024,
      setting: 'UPLOAD_MAX_SIZE',
      maxFiles: 8,
      maxFields: 8,
      maxFieldsBytes: 1024,
      allowEmptyFiles: false,
      newName: () => `part-${++n}`,
      oriFileId: true,
      bareNames: true,
    });
    ctx.body = files.map((f) => ({ field: f.field, id: f.oriFileId, size: f.size }));
  });
  server = await listen(app.callback(), '127.0.0.1', 0);
});
afterAll(async () => {
  await server.close(100);
  await rm(dir, { recursive: true, force: true });
});

function raw(parts: { name: string; filename: string; bytes: Buffer; extra?: string }[], end = true): Buffer {
  const b = 'xyzBOUNDARY';
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="${p.name}"; filename="${p.filename}"\r\n${p.extra ?? ''}Content-Type: image/png\r\n\r\n`), p.bytes, Buffer.from('\r\n'));
  }
  if (end) chunks.push(Buffer.from(`--${b}--\r\n`));
  return Buffer.concat(chunks);
}

const post = (body: Buffer) =>
  fetch(server.url, { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=xyzBOUNDARY' }, body: new Uint8Array(body) });

test('files arrive with their field and ori_file_id', async () => {
  const res = await post(raw([{ name: 'a', filename: 'a.png', bytes: Buffer.alloc(10, 1), extra: 'ori_file_id: photo-1\r\n' }]));
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual([{ field: 'a', id: 'photo-1', size: 10 }]);
  await rm(path.join(dir, `part-${n}`));
});

test('a part over the limit → 413 naming UPLOAD_MAX_SIZE; no file is left', async () => {
  const parts = Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, filename: `f${i}.png`, bytes: Buffer.alloc(20 * 1024, i) }));
  const res = await post(raw(parts));
  expect(res.status).toBe(413);
  expect(((await res.json()) as { detail: string }).detail).toContain('UPLOAD_MAX_SIZE');
  expect(await readdir(dir)).toEqual([]);
});

test('a body that ends mid-part (parse failure) leaves no file', async () => {
  const res = await post(raw([{ name: 'a', filename: 'a.png', bytes: Buffer.alloc(1000, 1) }, { name: 'b', filename: 'b.png', bytes: Buffer.alloc(1000, 2) }], false));
  expect(res.status).toBe(400);
  expect(await readdir(dir)).toEqual([]);
});

test('1,000 parts → refused, no file is left', async () => {
  const parts = Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}`, filename: `f${i}.png`, bytes: Buffer.alloc(16, 1) }));
  const res = await post(raw(parts));
  expect(res.status).toBe(413);
  expect(await readdir(dir)).toEqual([]);
});

test('a file name with a NUL → 400; no file is left', async () => {
  const res = await post(raw([{ name: 'a', filename: 'ok.png', bytes: Buffer.alloc(10, 1) }, { name: 'b', filename: 'x\0y.png', bytes: Buffer.alloc(10, 1) }]));
  expect(res.status).toBe(400);
  expect(((await res.json()) as { detail: string }).detail).toContain('control character');
  expect(await readdir(dir)).toEqual([]);
});

test('fileNameProblem', () => {
  expect(fileNameProblem('photo.png', true)).toBeUndefined();
  expect(fileNameProblem('a\0b', false)).toMatch(/control/);
  expect(fileNameProblem('sub/a.png', true)).toMatch(/path separator/);
  expect(fileNameProblem('sub/a.png', false)).toBeUndefined();
  expect(fileNameProblem('..', true)).toBeDefined();
});
