// File contents as a list of buffers and runs of zero bytes, so that padded
// "big output" files cost almost no memory until they are read.
import { createHash } from 'node:crypto';

export type Segment = Buffer | number;

const ZERO_SLICE = 64 * 1024;

export class ByteSegments {
  readonly size: number;
  private digest: string | null = null;

  constructor(private readonly segments: readonly Segment[]) {
    this.size = segments.reduce<number>((n, s) => n + (typeof s === 'number' ? s : s.length), 0);
  }

  static of(buf: Buffer): ByteSegments {
    return new ByteSegments([buf]);
  }

  /** Yields the bytes in [start, end) as buffers of bounded size. */
  *read(start = 0, end = this.size): Generator<Buffer> {
    let offset = 0;
    for (const segment of this.segments) {
      const length = typeof segment === 'number' ? segment : segment.length;
      const from = Math.max(start, offset);
      const to = Math.min(end, offset + length);
      if (from < to) {
        if (typeof segment === 'number') {
          for (let p = from; p < to; p += ZERO_SLICE) yield Buffer.alloc(Math.min(ZERO_SLICE, to - p));
        } else {
          yield segment.subarray(from - offset, to - offset);
        }
      }
      offset += length;
      if (offset >= end) return;
    }
  }

  /** The bytes in [start, end), still without materialising zero runs. */
  slice(start: number, end: number): ByteSegments {
    const out: Segment[] = [];
    let offset = 0;
    for (const segment of this.segments) {
      const length = typeof segment === 'number' ? segment : segment.length;
      const from = Math.max(start, offset);
      const to = Math.min(end, offset + length);
      if (from < to) out.push(typeof segment === 'number' ? to - from : segment.subarray(from - offset, to - offset));
      offset += length;
    }
    return new ByteSegments(out);
  }

  toBuffer(): Buffer {
    return Buffer.concat([...this.read()]);
  }

  /** Contents hash (uploads compare files by it, LoadImage's cache key uses it); contents never change, so it is computed once. */
  sha256(): string {
    if (this.digest === null) {
      const hash = createHash('sha256');
      for (const part of this.read()) hash.update(part);
      this.digest = hash.digest('hex');
    }
    return this.digest;
  }
}
