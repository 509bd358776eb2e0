import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { Sharp } from 'sharp';
import { checkImage, pixelLimitProblem } from '../../src/uploads/image-check.js';
import { encodeSolidPng } from '../../src/sim/png.js';

const LIMITS = { maxPixels: 100_000_000 };

function png(width = 9, height = 7): Buffer {
  return encodeSolidPng({ width, height, rgb: [10, 20, 30] }).toBuffer();
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function ihdr(width: number, height: number): Buffer {
  const data = Buffer.alloc(13);
  data.writeUInt32BE(width, 0);
  data.writeUInt32BE(height, 4);
  data[8] = 8;
  data[9] = 2;
  return chunk('IHDR', data);
}

/** Byte offset of a PNG's chunk of this type. */
function chunkAt(bytes: Buffer, type: string): number {
  const at = bytes.indexOf(Buffer.from(type, 'latin1')) - 4;
  if (at < 8) throw new Error(`no ${type}`);
  return at;
}

function picture(): Sharp {
  return sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 200, g: 40, b: 10 } } }).composite([
    { input: Buffer.from('<svg width="40" height="30"><circle cx="18" cy="14" r="10" fill="blue"/></svg>') },
  ]);
}

/** A 1×1 24-bit BMP: file header, BITMAPINFOHEADER, one padded row. */
function bmp(width = 1, height = 1, pixelBytes?: number): Buffer {
  const rowBytes = Math.floor((width * 24 + 31) / 32) * 4;
  const data = pixelBytes ?? rowBytes * height;
  const b = Buffer.alloc(54 + data);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

/** A 2×2 8-bit run-length BMP (palette of 256 greys). */
function rleBmp(stream: number[]): Buffer {
  const palette = Buffer.alloc(256 * 4);
  const offset = 54 + palette.length;
  const b = Buffer.alloc(offset + stream.length);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(offset, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(2, 18);
  b.writeInt32LE(2, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(8, 28);
  b.writeUInt32LE(1, 30); // BI_RLE8
  palette.copy(b, 54);
  Buffer.from(stream).copy(b, offset);
  return b;
}

function refusal(result: Awaited<ReturnType<typeof checkImage>>): string {
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(result)}`);
  return result.reason;
}

describe('valid images pass, with their format and size', () => {
  test('PNG', async () => {
    expect(await checkImage(png(9, 7), LIMITS)).toEqual({ ok: true, kind: { ext: 'png', mime: 'image/png' }, width: 9, height: 7 });
  });

  test.each(['jpeg', 'webp', 'gif', 'tiff'] as const)('%s made by sharp', async (format) => {
    const bytes = await picture().toFormat(format).toBuffer();
    const result = await checkImage(bytes, LIMITS);
    expect(result).toMatchObject({ ok: true, width: 40, height: 30 });
  });

  test('an uncompressed BMP and a run-length BMP', async () => {
    expect(await checkImage(bmp(3, 2), LIMITS)).toEqual({ ok: true, kind: { ext: 'bmp', mime: 'image/bmp' }, width: 3, height: 2 });
    // Row 1: run of 2; end of line; row 2: 2 literal pixels; end of bitmap.
    expect(await checkImage(rleBmp([2, 7, 0, 0, 0, 3, 1, 2, 3, 0, 0, 1]), LIMITS)).toMatchObject({ ok: true, width: 2, height: 2 });
  });

  test('a file on disk, given by its path', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'image-check-'));
    try {
      const file = path.join(dir, 'upload');
      await writeFile(file, png(5, 4));
      expect(await checkImage(file, LIMITS)).toMatchObject({ ok: true, width: 5, height: 4 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('PNG: every chunk is walked', () => {
  test('a 20-byte PNG (signature and a scrap of header) is cut short', async () => {
    expect(refusal(await checkImage(png().subarray(0, 20), LIMITS))).toBe('is not a valid PNG: chunk IHDR is cut short');
  });

  test('a PNG cut inside its pixel data names the chunk', async () => {
    const bytes = png(64, 64);
    const idat = chunkAt(bytes, 'IDAT');
    expect(refusal(await checkImage(bytes.subarray(0, idat + 12), LIMITS))).toBe('is not a valid PNG: chunk IDAT is cut short');
  });

  test('only a signature', async () => {
    expect(refusal(await checkImage(SIGNATURE, LIMITS))).toBe('is not a valid PNG: it has nothing after its signature');
  });

  test('a wrong CRC', async () => {
    const bytes = Buffer.from(png());
    const idat = chunkAt(bytes, 'IDAT');
    bytes[idat + 8] ^= 0xff; // first data byte
    expect(refusal(await checkImage(bytes, LIMITS))).toBe('is not a valid PNG: chunk IDAT fails its CRC check (the data is damaged)');
  });

  test('no IEND', async () => {
    const bytes = png();
    expect(refusal(await checkImage(bytes.subarray(0, chunkAt(bytes, 'IEND')), LIMITS))).toBe('is not a valid PNG: it ends without an IEND chunk (the file is cut short)');
  });

  test('bytes after IEND', async () => {
    expect(refusal(await checkImage(Buffer.concat([png(), Buffer.from('extra')]), LIMITS))).toBe('is not a valid PNG: it has 5 bytes after its IEND chunk');
  });

  test('no IDAT', async () => {
    const bytes = Buffer.concat([SIGNATURE, ihdr(2, 2), chunk('IEND', Buffer.alloc(0))]);
    expect(refusal(await checkImage(bytes, LIMITS))).toBe('is not a valid PNG: it has no IDAT chunk (no pixel data)');
  });

  test('sound chunks whose pixel data is garbage are caught by decoding', async () => {
    const bytes = Buffer.concat([SIGNATURE, ihdr(8, 8), chunk('IDAT', Buffer.alloc(40, 0x5a)), chunk('IEND', Buffer.alloc(0))]);
    const reason = refusal(await checkImage(bytes, LIMITS));
    expect(reason).toMatch(/^is not a valid PNG: its data is damaged or cut short/);
    expect(reason).not.toMatch(/vips|sharp|buffer/i);
  });

  test('too few pixel rows for the header are caught by decoding', async () => {
    const rows = deflateSync(Buffer.alloc(1 + 3 * 8)); // one row of an 8×8 RGB image
    const bytes = Buffer.concat([SIGNATURE, ihdr(8, 8), chunk('IDAT', rows), chunk('IEND', Buffer.alloc(0))]);
    expect(refusal(await checkImage(bytes, LIMITS))).toMatch(/^is not a valid PNG: its data is damaged or cut short/);
  });
});

describe('the pixel limit is read from the header, before decoding', () => {
  test('a small PNG claiming 20000×20000 is refused by size, naming UPLOAD_MAX_PIXELS', async () => {
    // Its pixel data is a few bytes: decoding would find it damaged; the size is refused first.
    const bytes = Buffer.concat([SIGNATURE, ihdr(20_000, 20_000), chunk('IDAT', deflateSync(Buffer.alloc(10))), chunk('IEND', Buffer.alloc(0))]);
    expect(refusal(await checkImage(bytes, { maxPixels: 64_000_000 }))).toBe('is too large: 20000×20000 = 400 megapixels; UPLOAD_MAX_PIXELS allows 64');
  });

  test('the header is checked even when the rest of the file is missing', async () => {
    const bytes = Buffer.concat([SIGNATURE, ihdr(100_000, 100_000)]);
    expect(refusal(await checkImage(bytes, LIMITS))).toBe('is too large: 100000×100000 = 10000 megapixels; UPLOAD_MAX_PIXELS allows 100');
  });

  test('a JPEG whose header claims 60000×60000', async () => {
    const bytes = Buffer.from(await picture().jpeg().toBuffer());
    const sof = bytes.indexOf(Buffer.from([0xff, 0xc0]));
    bytes.writeUInt16BE(60_000, sof + 5);
    bytes.writeUInt16BE(60_000, sof + 7);
    expect(refusal(await checkImage(bytes, LIMITS))).toBe('is too large: 60000×60000 = 3600 megapixels; UPLOAD_MAX_PIXELS allows 100');
  });

  test('a BMP whose header claims 50000×50000', async () => {
    expect(refusal(await checkImage(bmp(50_000, 50_000, 4), LIMITS))).toBe('is too large: 50000×50000 = 2500 megapixels; UPLOAD_MAX_PIXELS allows 100');
  });

  test('an animation counts all its frames', async () => {
    const frames = 4;
    const colours = ['#336699', '#993366', '#669933', '#000000'];
    const frameImages = await Promise.all(colours.map((background) => sharp({ create: { width: 10, height: 10, channels: 3, background } }).png().toBuffer()));
    const anim = await sharp(frameImages, { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(anim).metadata()).pages).toBe(frames);
    expect(await checkImage(anim, LIMITS)).toMatchObject({ ok: true, width: 10, height: 10 });
    expect(refusal(await checkImage(anim, { maxPixels: 300 }))).toBe('is too large: 4 frames of 10×10 = 0.0004 megapixels; UPLOAD_MAX_PIXELS allows 0.0003');
  });

  test('a multi-page TIFF counts every page', async () => {
    const pages = await Promise.all(['#336699', '#993366', '#669933'].map((background) => sharp({ create: { width: 10, height: 10, channels: 3, background } }).png().toBuffer()));
    const tiff = await sharp(pages, { join: { animated: true } }).tiff().toBuffer();
    expect(await checkImage(tiff, LIMITS)).toMatchObject({ ok: true, width: 10, height: 10 });
    expect(refusal(await checkImage(tiff, { maxPixels: 250 }))).toBe('is too large: 3 frames of 10×10 = 0.0003 megapixels; UPLOAD_MAX_PIXELS allows 0.00025');
  });

  test('exactly at the limit passes; one pixel over is refused with distinguishable numbers', async () => {
    expect(await checkImage(png(10, 10), { maxPixels: 100 })).toMatchObject({ ok: true });
    expect(pixelLimitProblem({ width: 64_000_001, height: 1, frames: 1 }, 64_000_000)).toBe(
      'is too large: 64000001×1 = 64.000001 megapixels; UPLOAD_MAX_PIXELS allows 64',
    );
  });
});

describe('other formats are decoded whole', () => {
  test.each(['jpeg', 'webp', 'gif', 'tiff'] as const)('a truncated %s', async (format) => {
    const bytes = await picture().toFormat(format).toBuffer();
    const reason = refusal(await checkImage(bytes.subarray(0, Math.floor(bytes.length * 0.6)), LIMITS));
    expect(reason).toMatch(/^is not a valid (JPEG|WebP|GIF|TIFF): its data is damaged or cut short/);
    expect(reason).not.toMatch(/vips|gifload|Input buffer/i);
  });

  test.each(['jpeg', 'webp', 'gif'] as const)('a %s that sniffs as an image but is garbage after its header', async (format) => {
    const good = await picture().toFormat(format).toBuffer();
    const bytes = Buffer.concat([good.subarray(0, 32), Buffer.alloc(good.length - 32, 0x5a)]);
    expect(refusal(await checkImage(bytes, LIMITS))).toMatch(/^is not a valid (JPEG|WebP|GIF): /);
  });

  test('a BMP whose pixel rows are cut short', async () => {
    const bytes = bmp(4, 4);
    expect(refusal(await checkImage(bytes.subarray(0, bytes.length - 3), LIMITS))).toBe('is not a valid BMP: its pixel data is cut short');
  });

  test('a run-length BMP without its end marker', async () => {
    expect(refusal(await checkImage(rleBmp([2, 7, 0, 0, 0, 3, 1, 2]), LIMITS))).toBe('is not a valid BMP: its run-length pixel data is cut short');
  });
});

test('a file that is no image at all', async () => {
  expect(refusal(await checkImage(Buffer.from('just some text, not an image at all'), LIMITS))).toBe('is not an image (PNG, JPEG, GIF, WebP, BMP or TIFF by content)');
  expect(refusal(await checkImage(Buffer.alloc(0), LIMITS))).toBe('is not an image (PNG, JPEG, GIF, WebP, BMP or TIFF by content)');
});
