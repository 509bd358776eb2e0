// formidable's multipart parser accepts only letters and "-" in part header names, but clients of
// the original bridge name files with an `ori_file_id` part header. This stream renames that
// header to `ori-file-id` on the way in (same length, so Content-Length stays right).
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

const FROM = Buffer.from('\r\nori_file_id:');
const TO = Buffer.from('\r\nori-file-id:');
/** The header name formidable will show. */
export const ORI_FILE_ID = 'ori-file-id';

function matchesAt(buf: Buffer, at: number): boolean {
  for (let i = 0; i < FROM.length; i++) {
    const c = buf[at + i];
    // Header names are case-insensitive; compare letters in lower case.
    const lower = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    if (lower !== FROM[i]) return false;
  }
  return true;
}

export class PartHeaderNames extends Transform {
  /** Bytes held back because a match could straddle two chunks. */
  private tail: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    const buf = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
    let i = buf.indexOf(0x0d); // every match starts with CR
    while (i !== -1 && i + FROM.length <= buf.length) {
      if (matchesAt(buf, i)) TO.copy(buf, i);
      i = buf.indexOf(0x0d, i + 1);
    }
    const keep = Math.min(FROM.length - 1, buf.length);
    this.tail = Buffer.from(buf.subarray(buf.length - keep));
    done(null, buf.subarray(0, buf.length - keep));
  }

  override _flush(done: TransformCallback): void {
    done(null, this.tail);
  }
}
