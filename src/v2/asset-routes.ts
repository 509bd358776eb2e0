// The asset routes of the v2 door, under /api/v2:
//   POST /assets                 multipart upload (blake3 while receiving, dedup per key, Idempotency-Key)
//   POST /assets/from-hash       mint over bytes the caller uploaded before
//   HEAD /assets/by-hash/{hash}  may the caller mint from this hash?
//   GET  /assets/{id}            the asset, with a fresh signed content URL
//   GET  /assets/{id}/content    the bytes (Range, HEAD); with a valid signature, no API key needed
// Every refusal is the spec's ErrorEnvelope; another key's asset answers as a missing one.
import { createReadStream, promises as fs } from 'node:fs';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { Dispatcher } from 'undici';
import type { Engine } from '../engine/index.js';
import type { Doors } from '../server/auth.js';
import { callerOf } from '../server/params.js';
import { receiveUpload } from '../http/uploads.js';
import type { ReceivedFile } from '../http/uploads.js';
import { JSON_BODY_LIMIT, readJson } from '../http/body.js';
import { V2Error, v2Errors } from './errors.js';
import { check } from '../http/validate.js';
import { FromHashBody } from './openapi.js';
import { contentHash, hexOf, newContentDigest } from './content-hash.js';
import { assetsOf, checkFilePath, checkTags } from './assets.js';
import type { Assets, FoundAsset } from './assets.js';
import type { OutputAsset } from './output-index.js';
import { UploadKeys, isIdempotencyKey, uploadFingerprint } from './asset-idempotency.js';
import type { Begun } from './asset-idempotency.js';
import { byteRange } from './byte-range.js';

/** Headers of a backend's /view answer passed on with an output's bytes. */
const RELAYED = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'last-modified'];

/** The spec's Asset object. */
export interface AssetView {
  id: string;
  hash: string | null;
  size_bytes: number;
  content_type: string;
  file_path: string | null;
  tags: string[];
  created_new?: boolean;
  created_at: string;
  url: string;
  url_expires_at: string;
}

function notFound(id: string): V2Error {
  return new V2Error(404, 'not_found', `no asset ${JSON.stringify(id.slice(0, 100))}`);
}

/** The caller's key, except on a content URL that carries a signature (checked by the route). */
function keyUnlessSigned(doors: Doors) {
  const requireKey = doors.requireClient();
  return (ctx: Context, next: Next) => (ctx.path.endsWith('/content') && ctx.query.signature !== undefined ? next() : requireKey(ctx, next));
}

/** One text field of a form: absent, or given once. */
function field(fields: Record<string, string[]>, name: string): string | undefined {
  const values = fields[name];
  if (!values || values.length === 0) return undefined;
  if (values.length > 1) throw new V2Error(422, 'invalid_request', `"${name}" is given more than once`);
  return values[0];
}

/** Tags in a form: repeated `tags` (or `tags[]`) fields, or one field holding a JSON list. */
function formTags(fields: Record<string, string[]>): string[] {
  const values = fields.tags ?? fields['tags[]'] ?? [];
  if (values.length === 1 && values[0]!.trim().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values[0]!);
    } catch {
      throw new V2Error(422, 'invalid_request', '"tags" is neither a JSON list nor a tag');
    }
    return checkTags(parsed);
  }
  return checkTags(values);
}

export function assetRoutes(engine: Engine, doors: Doors): Router {
  const assets = assetsOf(engine);
  const keys = new UploadKeys(engine);
  const router = new Router({ prefix: '/api/v2' });
  router.use(v2Errors());
  router.use(keyUnlessSigned(doors));

  router.post('/assets', async (ctx) => {
    const { tenant } = callerOf(ctx);
    if (!ctx.is('multipart/form-data')) {
      throw new V2Error(415, 'invalid_request', 'send the asset as multipart/form-data: a "file" part, and "content_type" and "file_path" fields');
    }
    const key = ctx.get('idempotency-key') || undefined;
    if (key !== undefined && !isIdempotencyKey(key)) throw new V2Error(422, 'invalid_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters (a uuid is a good choice)');
    // The whole upload is received before the key is looked at: a refusal never cuts a body short,
    // and a retry sent while the first is still arriving mostly finds its answer recorded.
    const { fields, files } = await receiveUpload(ctx.req, {
      dir: assets.incomingDir,
      maxFileBytes: engine.config.uploadMaxBytes,
      maxTotalBytes: engine.config.uploadMaxBytes,
      setting: 'UPLOAD_MAX_SIZE',
      maxFiles: 1,
      maxFields: 48,
      maxFieldsBytes: 64 * 1024,
      allowEmptyFiles: false,
      newName: () => engine.uploads.newIncomingName(),
      digest: newContentDigest,
    });
    let begun: Begun | undefined;
    let answered = false;
    try {
      const file: ReceivedFile | undefined = files.find((f) => f.field === 'file');
      if (!file) throw new V2Error(422, 'invalid_request', 'a "file" part is required: the bytes of the asset');
      const contentType = field(fields, 'content_type');
      if (contentType === undefined) throw new V2Error(422, 'invalid_request', '"content_type" is required, e.g. image/png');
      const placement = { filePath: checkFilePath(field(fields, 'file_path'), true), tags: formTags(fields) };
      const expectedHash = field(fields, 'expected_hash');
      if (expectedHash !== undefined && hexOf(expectedHash) === undefined) {
        throw new V2Error(422, 'invalid_request', `expected_hash must be written blake3:<64 hex digits>, not ${JSON.stringify(expectedHash.slice(0, 80))}`);
      }
      const hash = contentHash(file.digest!);
      const fingerprint = uploadFingerprint(hash, { contentType, ...placement, expectedHash });
      begun = key === undefined ? undefined : await keys.begin(tenant, key);
      if (begun?.kind === 'busy') {
        throw new V2Error(409, 'idempotency_conflict', 'a request with this Idempotency-Key is still being handled; retry shortly', undefined, { 'Retry-After': '1' });
      }
      if (begun?.kind === 'done') {
        if (begun.recorded.fingerprint !== fingerprint) {
          throw new V2Error(422, 'idempotency_key_reuse', 'this Idempotency-Key was used for another upload; use a new key for new content');
        }
        const found = assets.findAny(begun.recorded.assetId);
        if (!found) throw notFound(begun.recorded.assetId);
        ctx.set('Idempotency-Replayed', 'true');
        ctx.status = begun.recorded.status;
        ctx.body = await view(assets, ctx, found, begun.recorded.createdNew);
        return;
      }
      const minted = await assets.keep({ path: file.filepath, digest: file.digest!, size: file.size }, placement, tenant, expectedHash);
      const status = minted.createdNew ? 201 : 200;
      if (begun?.kind === 'mine') await keys.finish(tenant, key!, { fingerprint, status, assetId: minted.record.id, createdNew: minted.createdNew });
      answered = true;
      ctx.status = status;
      ctx.body = await view(assets, ctx, { kind: 'upload', record: minted.record }, minted.createdNew);
    } finally {
      await Promise.all(files.map((f) => fs.rm(f.filepath, { force: true })));
      // A request that failed gives its key back, so that it can be retried.
      if (begun?.kind === 'mine' && !answered) await keys.abandon(tenant, key!).catch(() => undefined);
    }
  });

  router.post('/assets/from-hash', async (ctx) => {
    if (!ctx.is('application/json')) throw new V2Error(415, 'invalid_request', 'send a JSON body: {"hash": "blake3:<hex>", "file_path"?, "tags"?}');
    const checked = check(FromHashBody, await readJson(ctx, JSON_BODY_LIMIT));
    if (!checked.ok) throw new V2Error(422, 'invalid_request', checked.problems.join('; '), { problems: checked.problems });
    const body = checked.value;
    const placement = { filePath: body.file_path ?? null, tags: checkTags(body.tags) };
    const minted = await assets.fromHash(body.hash, placement, callerOf(ctx).tenant);
    if (!minted) throw new V2Error(404, 'blob_not_found', `no bytes with hash ${JSON.stringify(body.hash.slice(0, 80))} that you may mint from; upload them with POST /api/v2/assets`);
    ctx.status = minted.createdNew ? 201 : 200;
    ctx.body = await view(assets, ctx, { kind: 'upload', record: minted.record }, minted.createdNew);
  });

  router.head('/assets/by-hash/:hash', (ctx) => {
    if (!assets.mintable(ctx.params.hash!, callerOf(ctx).tenant)) throw new V2Error(404, 'blob_not_found', 'no such blob');
    ctx.status = 200;
  });

  router.get('/assets/:id', async (ctx) => {
    const id = ctx.params.id!;
    const found = assets.find(id, callerOf(ctx));
    if (!found) throw notFound(id);
    ctx.body = await view(assets, ctx, found);
  });

  router.get('/assets/:id/content', async (ctx) => {
    const id = ctx.params.id!;
    const { signature, expires } = ctx.query;
    let found: FoundAsset | undefined;
    if (signature !== undefined) {
      const valid = typeof signature === 'string' && typeof expires === 'string' && (await assets.urls.verify(id, expires, signature));
      if (!valid) throw new V2Error(403, 'forbidden', 'this content URL is not valid or has expired; GET /api/v2/assets/{id} gives a fresh one');
      found = assets.findAny(id);
    } else {
      found = assets.find(id, callerOf(ctx));
    }
    if (!found) throw notFound(id);
    if (found.kind === 'upload') await serveBlob(ctx, assets.blobPath(found.record.tenant, hexOf(found.record.hash)!), found.record.contentType, found.record.hash);
    else await relayOutput(ctx, engine, found.output);
  });

  return router;
}

/** The spec's Asset object, with a content URL signed now. */
async function view(assets: Assets, ctx: Context, found: FoundAsset, createdNew?: boolean): Promise<AssetView> {
  const id = found.kind === 'upload' ? found.record.id : found.output.id;
  const signed = await assets.urls.sign(id);
  // Absolute, on the host the client asked (a request without a Host header gets a path).
  const base = ctx.host ? `${ctx.protocol}://${ctx.host}` : '';
  const links = { url: `${base}${signed.path}`, url_expires_at: signed.expiresAt.toISOString() };
  if (found.kind === 'upload') {
    const r = found.record;
    return {
      id,
      hash: r.hash,
      size_bytes: r.size,
      content_type: r.contentType,
      file_path: r.filePath,
      tags: r.tags,
      ...(createdNew !== undefined && { created_new: createdNew }),
      created_at: new Date(r.createdAt).toISOString(),
      ...links,
    };
  }
  const meta = await assets.outputMeta(found.output);
  // Outputs are not hashed: hashing every result on the way out is what the spec lets a server skip.
  return { id, hash: null, size_bytes: meta.size, content_type: meta.contentType, file_path: found.output.file.filename, tags: ['output'], created_at: new Date(found.output.at).toISOString(), ...links };
}

/** A blob from UPLOAD_DIR: whole, or the one range asked for. */
async function serveBlob(ctx: Context, file: string, contentType: string, hash: string): Promise<void> {
  let size: number;
  try {
    size = (await fs.stat(file)).size;
  } catch {
    throw new V2Error(404, 'not_found', 'the bytes of this asset are no longer stored');
  }
  const range = byteRange(ctx.get('range') || undefined, size);
  if (range.kind === 'unsatisfiable') {
    throw new V2Error(416, 'range_not_satisfiable', `the asset has ${size} bytes; ask for a range inside them`, undefined, { 'Content-Range': `bytes */${size}` });
  }
  ctx.set('Accept-Ranges', 'bytes');
  ctx.set('ETag', `"${hexOf(hash)}"`);
  ctx.type = contentType;
  const [start, end] = range.kind === 'part' ? [range.start, range.end] : [0, size - 1];
  if (range.kind === 'part') {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${start}-${end}/${size}`);
  } else {
    ctx.status = 200;
  }
  ctx.length = end - start + 1;
  // HEAD: the headers only, no file opened.
  if (ctx.method !== 'HEAD' && size > 0) ctx.body = createReadStream(file, { start, end });
}

/** An output's bytes as the backend that made it answers them (Range passed on), never held whole. */
async function relayOutput(ctx: Context, engine: Engine, output: OutputAsset): Promise<void> {
  let res: Dispatcher.ResponseData;
  try {
    res = await engine.viewOnBackend(output.file.backend, output.file, { head: ctx.method === 'HEAD', range: ctx.get('range') || undefined });
  } catch (err) {
    if ((err as { status?: number }).status === 404) throw new V2Error(404, 'not_found', 'no such asset: the backend that made it is no longer configured');
    throw new V2Error(502, 'upstream_error', `the backend holding this output did not answer: ${(err as Error).message}`);
  }
  if (res.statusCode !== 200 && res.statusCode !== 206) {
    await res.body.dump().catch(() => undefined);
    if (res.statusCode === 416) {
      const contentRange = res.headers['content-range'];
      throw new V2Error(416, 'range_not_satisfiable', 'the range asked for lies outside the output', undefined, typeof contentRange === 'string' ? { 'Content-Range': contentRange } : {});
    }
    if (res.statusCode === 404) throw new V2Error(404, 'not_found', 'no such asset: the backend that made it no longer has the file');
    throw new V2Error(502, 'upstream_error', `the backend holding this output answered ${res.statusCode}`);
  }
  ctx.status = res.statusCode;
  for (const name of RELAYED) {
    const value = res.headers[name];
    if (typeof value === 'string') ctx.set(name, value);
  }
  if (ctx.method === 'HEAD') {
    await res.body.dump().catch(() => undefined);
    return;
  }
  // Koa destroys the body when the client goes away, which aborts the backend request.
  ctx.body = res.body;
}
