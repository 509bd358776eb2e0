import { deflateSync } from 'node:zlib';
import { SNIFF_BYTES, sniffImage } from '../../src/uploads/sniff.js';

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A real 1×1 grey PNG. */
function png(): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.from([0, 0x80]))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function jpeg(): Buffer {
  // SOI, APP0 "JFIF"
  return Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0xff, 0xd9]);
}

function gif(version: '87a' | '89a'): Buffer {
  return Buffer.concat([
    Buffer.from(`GIF${version}`, 'latin1'),
    Buffer.from([1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b]),
  ]);
}

function webp(): Buffer {
  const vp8l = Buffer.from([0x2f, 0, 0, 0, 0, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xfe, 0x07, 0]);
  const body = Buffer.concat([Buffer.from('WEBPVP8L', 'latin1'), Buffer.from([vp8l.length, 0, 0, 0]), vp8l]);
  const size = Buffer.alloc(4);
  size.writeUInt32LE(body.length);
  return Buffer.concat([Buffer.from('RIFF', 'latin1'), size, body]);
}

/** A 1×1 24-bit BMP: 14-byte file header + 40-byte BITMAPINFOHEADER + one padded pixel row. */
function bmp(): Buffer {
  const b = Buffer.alloc(58);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(58, 2); // file size
  b.writeUInt32LE(54, 10); // pixel data offset
  b.writeUInt32LE(40, 14); // DIB header size
  b.writeInt32LE(1, 18);
  b.writeInt32LE(1, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  return b;
}

function tiff(order: 'II' | 'MM'): Buffer {
  const b = Buffer.alloc(16);
  b.write(order, 0, 'latin1');
  if (order === 'II') {
    b.writeUInt16LE(42, 2);
    b.writeUInt32LE(8, 4);
  } else {
    b.writeUInt16BE(42, 2);
    b.writeUInt32BE(8, 4);
  }
  return b;
}

describe('sniffImage', () => {
  test.each([
    ['PNG', png(), 'png', 'image/png'],
    ['JPEG', jpeg(), 'jpg', 'image/jpeg'],
    ['GIF87a', gif('87a'), 'gif', 'image/gif'],
    ['GIF89a', gif('89a'), 'gif', 'image/gif'],
    ['WebP', webp(), 'webp', 'image/webp'],
    ['BMP', bmp(), 'bmp', 'image/bmp'],
    ['TIFF little-endian', tiff('II'), 'tiff', 'image/tiff'],
    ['TIFF big-endian', tiff('MM'), 'tiff', 'image/tiff'],
  ])('%s', (_name, bytes, ext, mime) => {
    expect(sniffImage(bytes)).toEqual({ ext, mime });
  });

  test('only the first SNIFF_BYTES bytes are needed', () => {
    expect(SNIFF_BYTES).toBeGreaterThanOrEqual(26);
    for (const [bytes, ext] of [
      [png(), 'png'],
      [jpeg(), 'jpg'],
      [gif('89a'), 'gif'],
      [webp(), 'webp'],
      [bmp(), 'bmp'],
      [tiff('MM'), 'tiff'],
    ] as const) {
      expect(sniffImage(bytes.subarray(0, SNIFF_BYTES))?.ext).toBe(ext);
    }
  });

  test('JPEG with an EXIF marker', () => {
    expect(sniffImage(Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0x12, 0x34, 0x45, 0x78, 0x69, 0x66]))?.ext).toBe('jpg');
  });

  test.each([
    ['empty', Buffer.alloc(0)],
    ['plain text', Buffer.from('hello, this is not an image at all\n')],
    ['HTML', Buffer.from('<!DOCTYPE html><html><head><title>x</title></head></html>')],
    ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>')],
    ['JSON', Buffer.from('{"prompt": {}}')],
    ['PDF', Buffer.from('%PDF-1.7\n%âãÏÓ\n1 0 obj')],
    ['zip', Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0, 0, 0, 8, 0])],
    ['zeros', Buffer.alloc(64)],
    ['RIFF WAVE', Buffer.concat([Buffer.from('RIFF', 'latin1'), Buffer.from([36, 0, 0, 0]), Buffer.from('WAVEfmt ', 'latin1')])],
    ['GIF with an unknown version', Buffer.from('GIF90a\x01\x00\x01\x00', 'latin1')],
  ])('%s is not an image', (_name, bytes) => {
    expect(sniffImage(bytes)).toBeUndefined();
  });

  test('a PNG signature shifted by one byte is not a PNG', () => {
    expect(sniffImage(Buffer.concat([Buffer.from([0]), png()]))).toBeUndefined();
    expect(sniffImage(Buffer.concat([Buffer.from(' '), png()]))).toBeUndefined();
  });

  test('a PNG signature with a broken line-ending check is not a PNG', () => {
    const p = png();
    p[4] = 0x0a; // "\r\n" mangled to "\n\n", as a text-mode transfer would
    expect(sniffImage(p)).toBeUndefined();
  });

  test('truncated signatures are not images', () => {
    expect(sniffImage(png().subarray(0, 7))).toBeUndefined();
    expect(sniffImage(jpeg().subarray(0, 2))).toBeUndefined();
    expect(sniffImage(gif('89a').subarray(0, 5))).toBeUndefined();
    expect(sniffImage(webp().subarray(0, 11))).toBeUndefined();
    expect(sniffImage(bmp().subarray(0, 25))).toBeUndefined();
    expect(sniffImage(tiff('II').subarray(0, 3))).toBeUndefined();
  });

  test('a BMP header claiming a size smaller than its own headers is rejected', () => {
    const b = bmp();
    b.writeUInt32LE(10, 2);
    expect(sniffImage(b)).toBeUndefined();
  });

  test('a PNG that does not start at byte 0 is not found', () => {
    const buf = Buffer.concat([Buffer.from('image.png '), png()]);
    expect(sniffImage(buf)).toBeUndefined();
  });

  // The BMP test only checks "BM" and that the next four bytes, read as a little-endian size, are
  // at least 26. Any text that starts with "BM" passes (e.g. "BMW…": "W o w" as a size is huge),
  // so a text upload is accepted as image/bmp. Checking the reserved bytes 6..9 are zero and the
  // DIB header size at 14 is one of 12/40/52/56/108/124 would rule this out.
  test('text that happens to start with "BM" is not a BMP', () => {
    expect(sniffImage(Buffer.from('BMW owners club: notes from the March meeting, 2024\n'))).toBeUndefined();
  });
});
