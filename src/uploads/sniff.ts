// What kind of image a file is, judged by its first bytes (never by its name).

export interface ImageKind {
  ext: string;
  mime: string;
}

const SIGNATURES: { ext: string; mime: string; test: (b: Buffer) => boolean }[] = [
  { ext: 'png', mime: 'image/png', test: (b) => b.length >= 8 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a },
  { ext: 'jpg', mime: 'image/jpeg', test: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { ext: 'gif', mime: 'image/gif', test: (b) => b.length >= 6 && (b.toString('latin1', 0, 6) === 'GIF87a' || b.toString('latin1', 0, 6) === 'GIF89a') },
  { ext: 'webp', mime: 'image/webp', test: (b) => b.length >= 12 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP' },
  {
    ext: 'bmp',
    mime: 'image/bmp',
    // "BM", a plausible file size, reserved bytes zero, and a known DIB header size.
    test: (b) =>
      b.length >= 26 &&
      b.toString('latin1', 0, 2) === 'BM' &&
      b.readUInt32LE(2) >= 26 &&
      b.readUInt32LE(6) === 0 &&
      [12, 40, 52, 56, 64, 108, 124].includes(b.readUInt32LE(14)),
  },
  { ext: 'tiff', mime: 'image/tiff', test: (b) => b.length >= 4 && (b.readUInt32BE(0) === 0x49492a00 || b.readUInt32BE(0) === 0x4d4d002a) },
];

/** How many leading bytes `sniffImage` needs. */
export const SNIFF_BYTES = 32;

export function sniffImage(head: Buffer): ImageKind | undefined {
  const hit = SIGNATURES.find((s) => s.test(head));
  return hit ? { ext: hit.ext, mime: hit.mime } : undefined;
}
