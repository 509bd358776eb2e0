// GET /view and POST /upload/image, /upload/mask, with ComfyUI's name rules.
//
// /view streams a backend's file when the subfolder carries that backend's tag (every file this
// door reports does), and serves the door's own uploads otherwise. Uploads stay at the bridge and
// are sent to whichever backend runs a prompt that names them.
import { createReadStream, promises as fs } from 'node:fs';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import { isHttpError } from 'http-errors';
import { receiveUpload } from '../../http/uploads.js';
import type { ReceivedFile } from '../../http/uploads.js';
import type { Dispatcher } from 'undici';
import { annotatedName, isFolderType, resolveInside } from '../../comfy/file-names.js';
import { viewContentType } from '../../comfy/mime.js';
import { backendTag, untagSubfolder } from '../file-names.js';
import { UploadRefused } from '../input-store.js';
import { checkImage } from '../../uploads/image-check.js';
import { plain } from '../errors.js';
import { isPlainObject } from '../../workflows/graph.js';
import type { DoorContext } from './context.js';
import type { Engine } from '../../engine/index.js';
import { queryString } from './context.js';
import { callerOf } from '../../server/params.js';

/** Headers of a backend's /view answer worth passing on. */
const PASSED_HEADERS = ['content-type', 'content-length', 'content-disposition', 'content-range', 'accept-ranges', 'last-modified'];

/** ComfyUI's Content-Disposition, with a UTF-8 form for names a header cannot carry as is. */
export function contentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return ascii === name ? `filename="${name}"` : `filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name)}`;
}

/** What a /view query asks for, checked as ComfyUI checks it; a refusal carries its status. */
export type ViewTarget =
  | { ok: true; filename: string; type: string; subfolder: string }
  | { ok: false; status: 400 | 403 | 404; reason: string };

export function viewTarget(query: { filename?: string; type?: string; subfolder?: string }): ViewTarget {
  if (query.filename === undefined) return { ok: false, status: 404, reason: 'filename is required' };
  const { name, type: annotated } = annotatedName(query.filename);
  if (!name || name.startsWith('/') || name.includes('..')) return { ok: false, status: 400, reason: 'invalid filename' };
  const type = annotated ?? query.type ?? 'output';
  if (!isFolderType(type)) return { ok: false, status: 400, reason: 'type must be output, input or temp' };
  let subfolder = '';
  if (query.subfolder !== undefined) {
    const inside = resolveInside(query.subfolder);
    if (inside === null) return { ok: false, status: 403, reason: 'subfolder leaves its folder' };
    subfolder = inside;
  }
  // Only the base name counts; a directory in it is dropped, as ComfyUI does.
  return { ok: true, filename: path.posix.basename(name), type, subfolder };
}

function fieldOf(fields: Record<string, string[]>, name: string): string | undefined {
  return fields[name]?.[0];
}

export function fileRoutes({ engine, door, inputs, maxBodyBytes }: DoorContext): Router {
  const router = new Router();

  router.get('/view', async (ctx) => {
    const target = viewTarget({ filename: queryString(ctx, 'filename'), type: queryString(ctx, 'type'), subfolder: queryString(ctx, 'subfolder') });
    if (!target.ok) throw plain(target.status, target.reason);
    const who = callerOf(ctx);
    const tagged = untagSubfolder(target.subfolder);
    if (tagged) {
      const backend = engine.backendUrls().find((url) => backendTag(url) === tagged.tag);
      if (!backend) throw plain(404, 'no such file: the backend that made it is no longer configured');
      // With API keys, a backend file is shown only to the tenants whose prompts made it.
      if (!who.admin && !door.madeFor(who, backend, { filename: target.filename, subfolder: tagged.subfolder, type: target.type })) throw plain(404, 'no such file');
      await proxyView(ctx, engine, backend, { filename: target.filename, type: target.type, subfolder: tagged.subfolder });
      return;
    }
    const ref = { type: target.type as 'input' | 'output' | 'temp', path: target.subfolder ? `${target.subfolder}/${target.filename}` : target.filename };
    if (!inputs.has(ref, who.tenant)) throw plain(404, 'no such file');
    const file = inputs.diskPath(ref, who.tenant);
    const stat = await fs.stat(file).catch(() => undefined);
    if (!stat?.isFile()) throw plain(404, 'no such file');
    ctx.set('Content-Disposition', contentDisposition(target.filename));
    ctx.type = viewContentType(target.filename);
    ctx.length = stat.size;
    ctx.body = createReadStream(file);
  });

  const upload = (mask: boolean) => async (ctx: Context) => {
    if (!ctx.is('multipart/form-data')) throw plain(400, 'send the file as multipart/form-data with an "image" part');
    let received: ReceivedFile[];
    let fields: Record<string, string[]>;
    try {
      ({ files: received, fields } = await receiveUpload(ctx.req, {
        dir: inputs.incomingDir,
        maxFileBytes: maxBodyBytes,
        maxTotalBytes: maxBodyBytes,
        setting: 'UPLOAD_MAX_SIZE',
        maxFiles: 4,
        maxFields: 16,
        maxFieldsBytes: 64 * 1024,
        allowEmptyFiles: true,
        // Our own name while receiving; the client's name is applied by the store's rules.
        newName: () => randomUUID(),
        bareNames: true,
      }));
    } catch (err) {
      if (isHttpError(err)) throw plain(err.status, err.message);
      throw err;
    }
    const image = received.find((f) => f.field === 'image');
    try {
      if (!image || !image.originalFilename) throw plain(400, 'an "image" file part with a file name is required');
      const subfolder = fieldOf(fields, 'subfolder') ?? '';
      const inside = resolveInside(subfolder);
      if (inside === null) throw plain(400, 'subfolder leaves the upload folder');
      if (untagSubfolder(inside)) throw plain(400, `subfolder ${JSON.stringify(subfolder)} is reserved for backend outputs; choose another`);
      if (mask) {
        const original = fieldOf(fields, 'original_ref');
        let ref: unknown;
        try {
          ref = original === undefined ? undefined : JSON.parse(original);
        } catch {
          ref = undefined;
        }
        if (!isPlainObject(ref) || typeof ref.filename !== 'string') throw plain(400, 'original_ref is required: a JSON object {"filename", "subfolder", "type"} naming the image the mask is for');
      }
      const check = await checkImage(image.filepath, { maxPixels: engine.config.uploadMaxPixels });
      if (!check.ok) throw plain(400, `${JSON.stringify(image.originalFilename)} ${check.reason}`);
      const overwrite = fieldOf(fields, 'overwrite');
      ctx.body = await inputs.save(image.filepath, {
        filename: image.originalFilename,
        subfolder,
        type: fieldOf(fields, 'type') ?? 'input',
        overwrite: overwrite === 'true' || overwrite === '1',
      }, callerOf(ctx).tenant);
    } catch (err) {
      if (err instanceof UploadRefused) throw plain(400, err.message);
      throw err;
    } finally {
      // Whatever the store did not keep (other parts, refused uploads) goes.
      await Promise.all(received.map((f) => fs.rm(f.filepath, { force: true })));
    }
  };
  router.post('/upload/image', upload(false));
  router.post('/upload/mask', upload(true));

  return router;
}

/** Stream one file from a backend's /view, never holding it whole. */
async function proxyView(ctx: Context, engine: Engine, backend: string, file: { filename: string; type: string; subfolder: string }): Promise<void> {
  const params: Record<string, string> = {};
  for (const name of ['preview', 'channel']) {
    const value = queryString(ctx, name);
    if (value !== undefined) params[name] = value;
  }
  let res: Dispatcher.ResponseData;
  try {
    res = await engine.viewOnBackend(backend, file, { head: ctx.method === 'HEAD', range: ctx.get('range') || undefined, params });
  } catch (err) {
    throw plain(502, `the backend holding this file did not answer: ${(err as Error).message}`);
  }
  if (res.statusCode !== 200 && res.statusCode !== 206) {
    await res.body.dump().catch(() => undefined);
    throw plain(res.statusCode === 404 || res.statusCode === 400 || res.statusCode === 403 || res.statusCode === 416 ? res.statusCode : 502, res.statusCode === 404 ? 'no such file' : `the backend answered ${res.statusCode}`);
  }
  ctx.status = res.statusCode;
  for (const name of PASSED_HEADERS) {
    const value = res.headers[name];
    if (typeof value === 'string') ctx.set(name, value);
  }
  // Koa destroys the body when the client goes away, which aborts the backend request.
  ctx.body = res.body;
}
