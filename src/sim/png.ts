// Minimal PNG writer/reader: solid-colour images with tEXt metadata, as the
// simulated nodes produce, plus the few read helpers tests and LoadImage need.
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import { ByteSegments } from './bytes.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** Private ancillary chunk used only to make a file as large as asked; decoders skip it. */
const PADDING_CHUNK = 'paDd';
/** Decoded images are capped per side so big graphs stay cheap to encode. */
export const MAX_ENCODED_SIDE = 1024;

export type Rgb = readonly [number, number, number];

export interface PngSpec {
  width: number;
  height: number;
  rgb: Rgb;
  /** When present the image is RGBA with this constant alpha. */
  alpha?: number;
  text?: Array<[string, string]>;
  /** Pad the file with a private chunk until it has at least this many bytes. */
  minBytes?: number;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))), 0);
  return Buffer.concat([head, data, crc]);
}

function clampSide(n: number): number {
  if (!Number.isFinite(n)) return 1;
  return Math.max(1, Math.min(MAX_ENCODED_SIDE, Math.floor(n)));
}

function clampByte(n: number): number {
  return Math.max(0, Math.min(255, Math.round(n)));
}

const idatCache = new Map<string, Buffer>();

/** Pixel data of a solid image; memoised because batches and repeats reuse the same colours. */
function solidIdat(width: number, height: number, pixel: number[]): Buffer {
  const key = `${width}x${height}:${pixel.join(',')}`;
  const hit = idatCache.get(key);
  if (hit) return hit;
  const stride = width * pixel.length;
  const firstRow = Buffer.alloc(1 + stride);
  for (let x = 0; x < width; x++) firstRow.set(pixel, 1 + x * pixel.length);
  // Every later row uses the "Up" filter, so it is all zeros and compresses to nothing.
  const rest = Buffer.alloc((height - 1) * (1 + stride));
  for (let y = 0; y < height - 1; y++) rest[y * (1 + stride)] = 2;
  const idat = chunk('IDAT', deflateSync(Buffer.concat([firstRow, rest])));
  if (idatCache.size > 256) idatCache.clear();
  idatCache.set(key, idat);
  return idat;
}

function zeroChunkCrc(length: number): number {
  // CRC over the chunk type plus `length` zero bytes, computed in slices to bound memory.
  let crc = crc32(Buffer.from(PADDING_CHUNK, 'latin1'));
  const slice = Buffer.alloc(Math.min(length, 1 << 20));
  for (let left = length; left > 0; left -= slice.length) {
    crc = crc32(left >= slice.length ? slice : slice.subarray(0, left), crc);
  }
  return crc >>> 0;
}

/**
 * Encodes a solid-colour PNG. The result is kept as segments so that large
 * padding is never materialised in memory until someone downloads it.
 */
export function encodeSolidPng(spec: PngSpec): ByteSegments {
  const width = clampSide(spec.width);
  const height = clampSide(spec.height);
  const rgba = spec.alpha !== undefined;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8;
  ihdr[9] = rgba ? 6 : 2;
  const pixel = spec.rgb.map(clampByte);
  if (rgba) pixel.push(clampByte(spec.alpha!));
  const parts: Buffer[] = [SIGNATURE, chunk('IHDR', ihdr)];
  for (const [key, value] of spec.text ?? []) {
    parts.push(chunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.alloc(1), Buffer.from(value, 'latin1')])));
  }
  parts.push(solidIdat(width, height, pixel));
  const iend = chunk('IEND', Buffer.alloc(0));
  const head = Buffer.concat(parts);
  const base = head.length + iend.length;
  const minBytes = spec.minBytes ?? 0;
  if (minBytes <= base) return new ByteSegments([head, iend]);
  const padLength = Math.max(0, minBytes - base - 12);
  const padHead = Buffer.alloc(8);
  padHead.writeUInt32BE(padLength, 0);
  padHead.write(PADDING_CHUNK, 4, 'latin1');
  const padCrc = Buffer.alloc(4);
  padCrc.writeUInt32BE(zeroChunkCrc(padLength), 0);
  return new ByteSegments([head, padHead, padLength, padCrc, iend]);
}

/** A tiny preview image as sent in binary websocket frames. */
export function previewPng(rgb: Rgb): Buffer {
  return encodeSolidPng({ width: 8, height: 8, rgb }).toBuffer();
}

interface RawChunk {
  type: string;
  data: Buffer;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function* chunks(bytes: Uint8Array): Generator<RawChunk> {
  const buf = asBuffer(bytes);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(SIGNATURE)) return;
  let pos = 8;
  while (pos + 8 <= buf.length) {
    const length = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    const end = pos + 8 + length;
    if (end > buf.length) return;
    yield { type, data: buf.subarray(pos + 8, end) };
    if (type === 'IEND') return;
    pos = end + 4;
  }
}

export function isPng(bytes: Uint8Array): boolean {
  const buf = asBuffer(bytes);
  return buf.length >= 8 && buf.subarray(0, 8).equals(SIGNATURE);
}

/** All tEXt, zTXt and iTXt entries of a PNG, keyed by keyword. */
export function readPngText(buf: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { type, data } of chunks(buf)) {
    const nul = data.indexOf(0);
    if (nul < 0) continue;
    const key = data.toString('latin1', 0, nul);
    try {
      if (type === 'tEXt') out[key] = data.toString('latin1', nul + 1);
      else if (type === 'zTXt') out[key] = inflateSync(data.subarray(nul + 2)).toString('latin1');
      else if (type === 'iTXt') {
        const compressed = data[nul + 1] === 1;
        const langEnd = data.indexOf(0, nul + 3);
        const transEnd = data.indexOf(0, langEnd + 1);
        if (langEnd < 0 || transEnd < 0) continue;
        const body = data.subarray(transEnd + 1);
        out[key] = (compressed ? inflateSync(body) : body).toString('utf8');
      }
    } catch {
      // A damaged text chunk is skipped, like most readers do.
    }
  }
  return out;
}

export function pngSize(buf: Uint8Array): { width: number; height: number } {
  for (const { type, data } of chunks(buf)) {
    if (type === 'IHDR' && data.length >= 8) return { width: data.readUInt32BE(0), height: data.readUInt32BE(4) };
    break;
  }
  throw new Error('not a PNG image');
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Colour and alpha of the top-left pixel, enough to give a loaded image a colour. */
export function pngFirstPixel(buf: Uint8Array): { rgb: Rgb; alpha: number } | null {
  let colorType = -1;
  let depth = 0;
  let palette: Buffer | null = null;
  const idat: Buffer[] = [];
  for (const { type, data } of chunks(buf)) {
    if (type === 'IHDR' && data.length >= 13) {
      depth = data[8]!;
      colorType = data[9]!;
    } else if (type === 'PLTE') palette = data;
    else if (type === 'IDAT') idat.push(data);
  }
  const channels = CHANNELS[colorType];
  if (channels === undefined || depth !== 8 || idat.length === 0) return null;
  let raw: Buffer;
  try {
    raw = inflateSync(Buffer.concat(idat));
  } catch {
    return null;
  }
  // With no row above and no pixel to the left, every filter leaves the first pixel as stored.
  const px = raw.subarray(1, 1 + channels);
  if (px.length < channels) return null;
  switch (colorType) {
    case 0:
      return { rgb: [px[0]!, px[0]!, px[0]!], alpha: 255 };
    case 4:
      return { rgb: [px[0]!, px[0]!, px[0]!], alpha: px[1]! };
    case 3: {
      const i = px[0]! * 3;
      if (!palette || i + 2 >= palette.length) return null;
      return { rgb: [palette[i]!, palette[i + 1]!, palette[i + 2]!], alpha: 255 };
    }
    case 6:
      return { rgb: [px[0]!, px[1]!, px[2]!], alpha: px[3]! };
    default:
      return { rgb: [px[0]!, px[1]!, px[2]!], alpha: 255 };
  }
}
