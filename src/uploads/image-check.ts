// Whether an uploaded file is the image it claims to be: a known format by its first bytes, within
// the pixel limit by its header, and structurally whole. PNG and BMP are walked here (chunk
// lengths and CRCs; pixel data and RLE runs inside the file); everything but BMP is then decoded
// in full by sharp (libvips), which the bridge's prebuilt copy cannot do for BMP.
//
// The pixel limit is checked from the header before anything is decoded, so a small file that
// claims a huge image (a decompression bomb) costs nothing; sharp is given the same limit as a
// second guard.
import { promises as fs } from 'node:fs';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { sniffImage } from './sniff.js';
import type { ImageKind } from './sniff.js';

export interface ImageLimits {
  /** Most pixels an image may have (all frames of an animation together): UPLOAD_MAX_PIXELS. */
  maxPixels: number;
}

/**
 * The verdict on one file. A refusal's `reason` reads after the file's name, e.g.
 * `"a.png" ${reason}` → `"a.png" is not a valid PNG: chunk IDAT is cut short`.
 */
export type ImageCheck = { ok: true; kind: ImageKind; width: number; height: number } | { ok: false; reason: string };

/** What the bridge accepts, in the words a refusal uses. */
const ACCEPTED_FORMATS = 'PNG, JPEG, GIF, WebP, BMP or TIFF';

const FORMAT_NAMES: Record<string, string> = { png: 'PNG', jpg: 'JPEG', gif: 'GIF', webp: 'WebP', bmp: 'BMP', tiff: 'TIFF' };

/** A structural fault found while walking a file. */
class Damaged extends Error {}

interface Size {
  width: number;
  height: number;
  /** Frames of an animation or pages of a TIFF. */
  frames: number;
  /** All frames' pixels together, when frames differ in size (TIFF pages may). */
  pixels?: number;
}

export async function checkImage(input: Buffer | string, limits: ImageLimits): Promise<ImageCheck> {
  const bytes = typeof input === 'string' ? await fs.readFile(input) : input;
  const kind = sniffImage(bytes);
  if (!kind) return { ok: false, reason: `is not an image (${ACCEPTED_FORMATS} by content)` };
  const format = FORMAT_NAMES[kind.ext] ?? kind.ext.toUpperCase();
  const invalid = (why: string): ImageCheck => ({ ok: false, reason: `is not a valid ${format}: ${why}` });
  const tooLarge = (size: Size) => pixelLimitProblem(size, limits.maxPixels);
  try {
    if (kind.ext === 'png') {
      const size = walkPng(bytes, (header) => tooLarge(header));
      if (typeof size === 'string') return { ok: false, reason: size };
      await decode(bytes, size, limits);
      return { ok: true, kind, width: size.width, height: size.height };
    }
    if (kind.ext === 'bmp') {
      const header = bmpHeader(bytes);
      const problem = tooLarge(header);
      if (problem) return { ok: false, reason: problem };
      walkBmpPixels(bytes, header);
      return { ok: true, kind, width: header.width, height: header.height };
    }
    const size = await headerSize(bytes, kind.ext === 'tiff');
    const problem = tooLarge(size);
    if (problem) return { ok: false, reason: problem };
    await decode(bytes, size, limits, kind.ext === 'tiff');
    return { ok: true, kind, width: size.width, height: size.height };
  } catch (err) {
    if (err instanceof Damaged) return invalid(err.message);
    return invalid(decoderWords(err));
  }
}

/** The refusal for an image over the limit, or undefined. */
export function pixelLimitProblem({ width, height, frames, pixels = width * height * frames }: Size, maxPixels: number): string | undefined {
  if (pixels <= maxPixels) return undefined;
  const shape = frames === 1 ? `${width}×${height}` : pixels === width * height * frames ? `${frames} frames of ${width}×${height}` : `${frames} pages, the first ${width}×${height},`;
  return `is too large: ${shape} = ${megapixels(pixels, maxPixels)} megapixels; UPLOAD_MAX_PIXELS allows ${megapixels(maxPixels)}`;
}

/** Pixels in megapixels, with as many digits as it takes to differ from `other`. */
function megapixels(pixels: number, other?: number): string {
  for (let digits = 3; digits < 12; digits++) {
    const text = String(Number((pixels / 1e6).toPrecision(digits)));
    if (other === undefined || text !== String(Number((other / 1e6).toPrecision(digits)))) return text;
  }
  return String(pixels / 1e6);
}

// ── PNG ──────────────────────────────────────────────────────────────────────────────────────

const PNG_SIGNATURE_BYTES = 8;
/** Bit depths allowed for each colour type (PNG spec, IHDR). */
const PNG_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };
const MAX_PNG_INT = 2 ** 31 - 1;

/**
 * Walk every chunk: lengths inside the file, CRCs right, IHDR first, at least one IDAT, IEND last
 * and nothing after it. `checkHeader` sees the size as soon as IHDR is read, and its answer (a
 * refusal) stops the walk. Throws Damaged for a structural fault.
 */
function walkPng(bytes: Buffer, checkHeader: (size: Size) => string | undefined): Size | string {
  let pos = PNG_SIGNATURE_BYTES;
  let size: Size | undefined;
  let idat = false;
  for (let index = 0; ; index++) {
    if (pos === bytes.length) throw new Damaged(index === 0 ? 'it has nothing after its signature' : 'it ends without an IEND chunk (the file is cut short)');
    if (pos + 8 > bytes.length) throw new Damaged('it ends inside a chunk header (the file is cut short)');
    const length = bytes.readUInt32BE(pos);
    const typeBytes = bytes.subarray(pos + 4, pos + 8);
    const type = typeBytes.toString('latin1');
    if (!/^[A-Za-z]{4}$/.test(type)) throw new Damaged(`chunk ${index + 1} has no valid type (the data is damaged)`);
    if (length > MAX_PNG_INT) throw new Damaged(`chunk ${type} claims an impossible length`);
    const end = pos + 8 + length + 4;
    if (end > bytes.length) throw new Damaged(`chunk ${type} is cut short`);
    const data = bytes.subarray(pos + 8, pos + 8 + length);
    if ((crc32(data, crc32(typeBytes)) >>> 0) !== bytes.readUInt32BE(end - 4)) throw new Damaged(`chunk ${type} fails its CRC check (the data is damaged)`);
    if (index === 0) {
      if (type !== 'IHDR') throw new Damaged(`it starts with chunk ${type} instead of IHDR`);
      size = pngHeader(data);
      const refusal = checkHeader(size);
      if (refusal) return refusal;
    } else if (type === 'IHDR') throw new Damaged('it has more than one IHDR chunk');
    if (type === 'IDAT') idat = true;
    pos = end;
    if (type === 'IEND') {
      if (!idat) throw new Damaged('it has no IDAT chunk (no pixel data)');
      if (pos !== bytes.length) throw new Damaged(`it has ${bytes.length - pos} bytes after its IEND chunk`);
      return size!;
    }
  }
}

function pngHeader(data: Buffer): Size {
  if (data.length !== 13) throw new Damaged('its IHDR chunk has the wrong length');
  const width = data.readUInt32BE(0);
  const height = data.readUInt32BE(4);
  if (width === 0 || height === 0 || width > MAX_PNG_INT || height > MAX_PNG_INT) throw new Damaged(`its header gives an impossible size, ${width}×${height}`);
  const depth = data[8]!;
  const colourType = data[9]!;
  if (!PNG_DEPTHS[colourType]?.includes(depth)) throw new Damaged(`its header gives an impossible colour type and bit depth (${colourType}, ${depth})`);
  return { width, height, frames: 1 };
}

// ── BMP ──────────────────────────────────────────────────────────────────────────────────────

interface BmpHeader extends Size {
  pixelOffset: number;
  bitsPerPixel: number;
  compression: number;
}

const BMP_FILE_HEADER = 14;
const BI_RGB = 0;
const BI_RLE8 = 1;
const BI_RLE4 = 2;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

function bmpHeader(bytes: Buffer): BmpHeader {
  const dibSize = bytes.readUInt32LE(BMP_FILE_HEADER);
  if (bytes.length < BMP_FILE_HEADER + Math.min(dibSize, 40)) throw new Damaged('its header is cut short');
  const pixelOffset = bytes.readUInt32LE(10);
  const core = dibSize === 12;
  const width = core ? bytes.readUInt16LE(18) : bytes.readInt32LE(18);
  const rawHeight = core ? bytes.readUInt16LE(20) : bytes.readInt32LE(22);
  const bitsPerPixel = bytes.readUInt16LE(core ? 24 : 28);
  const compression = core ? BI_RGB : bytes.readUInt32LE(30);
  if (width <= 0 || rawHeight === 0 || rawHeight === -(2 ** 31)) throw new Damaged(`its header gives an impossible size, ${width}×${rawHeight}`);
  if (![1, 4, 8, 16, 24, 32].includes(bitsPerPixel)) throw new Damaged(`its header gives an impossible bit depth, ${bitsPerPixel}`);
  if (pixelOffset < BMP_FILE_HEADER + dibSize) throw new Damaged('its pixel data would start inside its header');
  return { width, height: Math.abs(rawHeight), frames: 1, pixelOffset, bitsPerPixel, compression };
}

/** The pixel rows, or the run-length stream up to its end marker, lie inside the file. */
function walkBmpPixels(bytes: Buffer, { width, height, pixelOffset, bitsPerPixel, compression }: BmpHeader): void {
  if (compression === BI_RGB || compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
    const rowBytes = Math.floor((width * bitsPerPixel + 31) / 32) * 4;
    if (pixelOffset + rowBytes * height > bytes.length) throw new Damaged('its pixel data is cut short');
    return;
  }
  if ((compression === BI_RLE8 && bitsPerPixel === 8) || (compression === BI_RLE4 && bitsPerPixel === 4)) {
    const bytesFor = (pixels: number) => (compression === BI_RLE8 ? pixels : Math.ceil(pixels / 2));
    let pos = pixelOffset;
    while (pos + 2 <= bytes.length) {
      const count = bytes[pos]!;
      const code = bytes[pos + 1]!;
      pos += 2;
      if (count > 0) continue; // a run: one value repeated `count` times
      if (code === 1) return; // end of bitmap
      if (code === 2) pos += 2; // move by (dx, dy)
      else if (code > 2) pos += bytesFor(code) + (bytesFor(code) % 2); // literal pixels, padded to 16 bits
    }
    throw new Damaged('its run-length pixel data is cut short');
  }
  throw new Damaged(`it uses a kind of compression (${compression}) that BMP readers do not commonly support`);
}

// ── the rest, through sharp ──────────────────────────────────────────────────────────────────

/** Size from the header only; no pixel is decoded. TIFF pages may differ, so each is read. */
async function headerSize(bytes: Buffer, pageByPage: boolean): Promise<Size> {
  const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  if (!meta.width || !meta.height) throw new Damaged('its header gives no size');
  const size: Size = { width: meta.width, height: meta.pageHeight ?? meta.height, frames: meta.pages ?? 1 };
  if (!pageByPage || size.frames === 1) return size;
  let pixels = 0;
  for (let page = 0; page < size.frames; page++) {
    const pageMeta = page === 0 ? meta : await sharp(bytes, { limitInputPixels: false, page }).metadata();
    pixels += (pageMeta.width ?? 0) * (pageMeta.height ?? 0);
  }
  return { ...size, pixels };
}

/**
 * Decode every pixel of every frame, failing on any damage. Animations decode as one tall image
 * (their frames share a size); TIFF pages may differ in size, so each is decoded alone.
 */
async function decode(bytes: Buffer, size: Size, limits: ImageLimits, pageByPage = false): Promise<void> {
  const limitInputPixels = Math.max(1, Math.floor(limits.maxPixels));
  if (!pageByPage || size.frames === 1) {
    await sharp(bytes, { failOn: 'error', limitInputPixels, pages: -1 }).stats();
    return;
  }
  for (let page = 0; page < size.frames; page++) await sharp(bytes, { failOn: 'error', limitInputPixels, page }).stats();
}

/** A decoder's complaint in plain words: its own prefixes ("VipsJpeg: …") dropped. */
function decoderWords(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const lines = message
    .split('\n')
    .map((l) => l.replace(/^Input (buffer|file) (has corrupt header|contains unsupported image format):?\s*/i, '').replace(/^\w+:\s*/, '').trim())
    .filter(Boolean);
  const detail = [...new Set(lines)].slice(0, 2).join('; ');
  return detail ? `its data is damaged or cut short (${detail})` : 'its data is damaged or cut short';
}
