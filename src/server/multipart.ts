// A multipart/form-data body written as a stream: each part's bytes are pulled from its source
// only when the client is ready for them, so a large result is never held in memory whole.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface Part {
  name: string;
  filename: string;
  contentType: string;
  body: AsyncIterable<Uint8Array>;
}

export function newBoundary(): string {
  return `----comfy-bridge-${randomBytes(12).toString('hex')}`;
}

/** Quote a header parameter value the way browsers do (WHATWG): percent-encode `"`, CR and LF. */
function quote(value: string): string {
  return `"${value.replace(/"/g, '%22').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}"`;
}

export function partHeader(boundary: string, part: Omit<Part, 'body'>): Buffer {
  return Buffer.from(
    `--${boundary}\r\n` +
      `Content-Disposition: form-data; name=${quote(part.name)}; filename=${quote(part.filename)}\r\n` +
      `Content-Type: ${part.contentType}\r\n\r\n`,
  );
}

/** Stream parts as they are produced; `parts` may open each source lazily. */
export function multipartStream(boundary: string, parts: AsyncIterable<Part>): Readable {
  async function* generate(): AsyncGenerator<Uint8Array> {
    for await (const part of parts) {
      yield partHeader(boundary, part);
      yield* part.body;
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return Readable.from(generate(), { objectMode: false });
}
