// GET /view and POST /upload/image, /upload/mask, with server.py's path rules.
import { posix } from 'node:path';
import { ByteSegments } from '../bytes.js';
import type { BackendContext } from '../context.js';
import type { FolderType } from '../../comfy/file-names.js';
import { annotatedName, isFolderType, resolveInside } from '../../comfy/file-names.js';
import { viewContentType } from '../../comfy/mime.js';
import type { FormField } from '../http/multipart.js';
import { parseForm } from '../http/multipart.js';
import type { SimRequest } from '../http/request.js';
import type { Router } from '../http/router.js';
import type { SimResponse } from '../http/response.js';
import { empty, json } from '../http/response.js';
import { encodeSolidPng, isPng, pngFirstPixel, pngSize, readPngText } from '../png.js';
import { isPlainObject, pySplitext, PyError } from '../../comfy/python.js';

function fieldValue(field: FormField | undefined): string | undefined {
  return field?.kind === 'value' ? field.value : undefined;
}

/** Parses a single "bytes=a-b" range; null means "serve everything", 'invalid' means 416. */
function parseRange(header: string | undefined, size: number): [number, number] | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
  }
  if (start >= size || start >= end) return 'invalid';
  return [start, end];
}

function view(ctx: BackendContext, req: SimRequest): SimResponse {
  if (!req.query.has('filename')) return empty(404);
  const parsed = annotatedName(req.query.get('filename')!);
  const name = parsed.name;
  if (!name) return empty(400);
  if (name.startsWith('/') || name.includes('..')) return empty(400);
  const type = parsed.type ?? req.query.get('type') ?? 'output';
  if (!isFolderType(type)) return empty(400);
  let dir = '';
  if (req.query.has('subfolder')) {
    const inside = resolveInside(req.query.get('subfolder')!);
    if (inside === null) return empty(403);
    dir = inside;
  }
  const base = posix.basename(name);
  const file = ctx.files.get(type, dir === '' ? base : `${dir}/${base}`);
  if (!file) return empty(404);

  const size = file.bytes.size;
  const headers: Record<string, string> = {
    'Content-Type': viewContentType(base),
    'Content-Disposition': `filename="${base}"`,
    'Accept-Ranges': 'bytes',
    'Last-Modified': file.mtime.toUTCString(),
  };
  const range = parseRange(req.headers.range, size);
  if (range === 'invalid') return { status: 416, headers: { 'Content-Range': `bytes */${size}` }, body: '' };
  if (range) {
    headers['Content-Range'] = `bytes ${range[0]}-${range[1] - 1}/${size}`;
    return { status: 206, headers, body: file.bytes.slice(range[0], range[1]) };
  }
  return { status: 200, headers, body: file.bytes };
}

/** Writes the mask's alpha onto the referenced image, keeping that image's text chunks. */
function composeMask(ctx: BackendContext, form: Map<string, FormField>, mask: Buffer): ByteSegments | null {
  const refText = fieldValue(form.get('original_ref'));
  if (refText === undefined) throw new PyError('TypeError', 'the JSON object must be str, bytes or bytearray, not NoneType');
  let ref: unknown;
  try {
    ref = JSON.parse(refText);
  } catch {
    throw new PyError('JSONDecodeError', 'Expecting value');
  }
  if (!isPlainObject(ref) || typeof ref.filename !== 'string') throw new PyError('KeyError', "'filename'");
  const parsed = annotatedName(ref.filename);
  // ComfyUI's save function returns early (writing nothing) on these, yet the upload still answers 200.
  if (!parsed.name || parsed.name.startsWith('/') || parsed.name.includes('..')) return null;
  const type = parsed.type ?? (typeof ref.type === 'string' ? ref.type : 'output');
  if (!isFolderType(type)) return null;
  const dir = typeof ref.subfolder === 'string' && ref.subfolder !== '' ? resolveInside(ref.subfolder) : '';
  if (dir === null) return null;
  const original = ctx.files.get(type, dir === '' ? parsed.name : `${dir}/${parsed.name}`);
  if (!original) return null;
  const source = original.bytes.toBuffer();
  const size = isPng(source) ? pngSize(source) : { width: 512, height: 512 };
  const rgb = (isPng(source) ? pngFirstPixel(source)?.rgb : null) ?? [128, 128, 128];
  const alpha = isPng(mask) ? (pngFirstPixel(mask)?.alpha ?? 255) : 255;
  const text = isPng(source) ? Object.entries(readPngText(source)) : [];
  return encodeSolidPng({ width: size.width, height: size.height, rgb, alpha, text });
}

async function upload(ctx: BackendContext, req: SimRequest, mask: boolean): Promise<SimResponse> {
  const form = parseForm(req.contentType, await req.body());
  const image = form.get('image');
  const typeField = form.get('type');
  const type: unknown = typeField === undefined ? 'input' : fieldValue(typeField);
  // An unknown type is a server bug in ComfyUI (UnboundLocalError), hence a 500.
  if (!isFolderType(type)) throw new PyError('UnboundLocalError', 'type_dir referenced before assignment');
  if (!image) return empty(400);
  if (image.kind !== 'file') throw new PyError('AttributeError', "'str' object has no attribute 'file'");
  let filename = image.filename;
  if (!filename) return empty(400);
  const subfolder = fieldValue(form.get('subfolder')) ?? '';
  let path = resolveInside(subfolder, filename);
  if (path === null || path === '') return empty(400);

  const data = ByteSegments.of(image.data);
  const overwrite = fieldValue(form.get('overwrite'));
  let duplicate = false;
  if (overwrite !== 'true' && overwrite !== '1') {
    // Same name and same bytes: reuse it. Same name, other bytes: "name (1).ext", "name (2).ext", ...
    const [stem, ext] = pySplitext(filename);
    const hash = data.sha256();
    for (let i = 1; ctx.files.has(type, path!); i++) {
      if (ctx.files.get(type, path!)!.bytes.sha256() === hash) {
        duplicate = true;
        break;
      }
      filename = `${stem} (${i})${ext}`;
      path = resolveInside(subfolder, filename);
      if (path === null) return empty(400);
    }
  }
  if (!duplicate) {
    const stored = mask ? composeMask(ctx, form, image.data) : data;
    if (stored) ctx.files.put(type as FolderType, path!, stored);
  }
  ctx.stats.uploads++;
  ctx.emit('upload', filename);
  return json({ name: filename, subfolder, type });
}

export function fileRoutes(router: Router, ctx: BackendContext): void {
  router.get('/view', (req) => view(ctx, req));
  router.post('/upload/image', (req) => upload(ctx, req, false));
  router.post('/upload/mask', (req) => upload(ctx, req, true));
}
