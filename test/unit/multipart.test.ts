import type { Readable } from 'node:stream';
import { Response } from 'undici';
import type { Part } from '../../src/server/multipart.js';
import { multipartStream, newBoundary, partHeader } from '../../src/server/multipart.js';

async function* chunks(...list: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of list) yield c;
}

async function* each<T>(items: T[]): AsyncGenerator<T> {
  for (const item of items) yield item;
}

async function collect(stream: Readable): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of stream) out.push(Buffer.from(c as Uint8Array));
  return Buffer.concat(out);
}

async function parse(body: Buffer, boundary: string) {
  const form = await new Response(body, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }).formData();
  const parts: { name: string; filename: string; type: string; bytes: Buffer }[] = [];
  for (const [name, value] of form) {
    if (typeof value === 'string') throw new Error(`part ${name} has no filename`);
    parts.push({ name, filename: value.name, type: value.type, bytes: Buffer.from(await value.arrayBuffer()) });
  }
  return parts;
}

async function roundTrip(parts: { name: string; filename: string; contentType: string; bytes: Buffer[] }[]) {
  const boundary = newBoundary();
  const body = await collect(
    multipartStream(
      boundary,
      each(parts.map((p): Part => ({ name: p.name, filename: p.filename, contentType: p.contentType, body: chunks(...p.bytes) }))),
    ),
  );
  return { body, boundary, parsed: await parse(body, boundary) };
}

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

describe('multipartStream', () => {
  test('parts come back with the same names, filenames, types and bytes', async () => {
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31 + 7) & 0xff;
    const { parsed } = await roundTrip([
      { name: 'result_0', filename: 'ComfyUI_00001_.png', contentType: 'image/png', bytes: [allBytes] },
      { name: 'result_1', filename: 'clip_00001.mp4', contentType: 'video/mp4', bytes: [big.subarray(0, 100_000), big.subarray(100_000, 250_000), big.subarray(250_000)] },
      { name: 'result_2', filename: 'caption.txt', contentType: 'text/plain; charset=utf-8', bytes: [Buffer.from('a cat\r\n--not-a-boundary\r\n')] },
    ]);
    expect(parsed.map(({ name, filename, type }) => ({ name, filename, type }))).toEqual([
      { name: 'result_0', filename: 'ComfyUI_00001_.png', type: 'image/png' },
      { name: 'result_1', filename: 'clip_00001.mp4', type: 'video/mp4' },
      { name: 'result_2', filename: 'caption.txt', type: 'text/plain; charset=utf-8' },
    ]);
    expect(parsed[0].bytes.equals(allBytes)).toBe(true);
    expect(parsed[1].bytes.equals(big)).toBe(true);
    expect(parsed[2].bytes.toString()).toBe('a cat\r\n--not-a-boundary\r\n');
  });

  test('an empty body and a body of many tiny chunks', async () => {
    const bytes = Buffer.from('0123456789');
    const { parsed } = await roundTrip([
      { name: 'empty', filename: 'empty.bin', contentType: 'application/octet-stream', bytes: [] },
      { name: 'tiny', filename: 'tiny.bin', contentType: 'application/octet-stream', bytes: [...bytes].map((b) => Buffer.from([b])) },
    ]);
    expect(parsed.map((p) => [p.name, p.bytes.length])).toEqual([
      ['empty', 0],
      ['tiny', 10],
    ]);
    expect(parsed[1].bytes.equals(bytes)).toBe(true);
  });

  test('plain Uint8Array chunks are accepted', async () => {
    const boundary = 'b0und4ry';
    const body = await collect(
      multipartStream(boundary, each([{ name: 'r', filename: 'r.bin', contentType: 'application/octet-stream', body: chunks(new Uint8Array([1, 2, 3])) }])),
    );
    expect((await parse(body, boundary))[0].bytes).toEqual(Buffer.from([1, 2, 3]));
  });

  test('the exact bytes on the wire', async () => {
    const body = await collect(
      multipartStream('XyZ', each([{ name: 'result_0', filename: 'a.png', contentType: 'image/png', body: chunks(Buffer.from('PNG')) }])),
    );
    expect(body.toString('latin1')).toBe(
      '--XyZ\r\n' +
        'Content-Disposition: form-data; name="result_0"; filename="a.png"\r\n' +
        'Content-Type: image/png\r\n' +
        '\r\n' +
        'PNG\r\n' +
        '--XyZ--\r\n',
    );
  });

  test('no parts gives just the closing delimiter', async () => {
    const body = await collect(multipartStream('XyZ', each<Part>([])));
    expect(body.toString()).toBe('--XyZ--\r\n');
  });

  test('a non-ASCII filename is sent as UTF-8 and comes back intact', async () => {
    const { parsed } = await roundTrip([{ name: 'result_0', filename: 'ネコ_été_00001_.png', contentType: 'image/png', bytes: [Buffer.from('x')] }]);
    expect(parsed[0].filename).toBe('ネコ_été_00001_.png');
  });

  test('parts and their bodies are pulled only as the reader consumes them', async () => {
    const log: string[] = [];
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    async function* body(label: string, count: number): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < count; i++) {
        log.push(`${label}:${i}`);
        yield chunk;
      }
    }
    async function* parts(): AsyncGenerator<Part> {
      log.push('open 0');
      yield { name: 'result_0', filename: 'a.bin', contentType: 'application/octet-stream', body: body('a', 32) };
      log.push('open 1');
      yield { name: 'result_1', filename: 'b.bin', contentType: 'application/octet-stream', body: body('b', 2) };
    }
    const stream = multipartStream('B', parts());
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setImmediate(r));
    // Only a bounded read-ahead: far less than the 2 MiB of the first part, and nothing of the second.
    expect(log).not.toContain('open 1');
    expect(log.filter((l) => l.startsWith('a:')).length).toBeLessThan(8);
    stream.destroy();
  });

  test('an error in a part body ends the stream with that error', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('partial');
      throw new Error('backend went away');
    }
    const stream = multipartStream('B', each([{ name: 'r', filename: 'r.png', contentType: 'image/png', body: failing() }]));
    await expect(collect(stream)).rejects.toThrow('backend went away');
  });

  test('an error while opening the next part ends the stream with that error', async () => {
    async function* parts(): AsyncGenerator<Part> {
      yield { name: 'r0', filename: 'a.png', contentType: 'image/png', body: chunks(Buffer.from('a')) };
      throw new Error('cannot open result 1');
    }
    await expect(collect(multipartStream('B', parts()))).rejects.toThrow('cannot open result 1');
  });
});

describe('awkward filenames', () => {
  test('CR and LF never reach the header raw, and filenames with them round-trip', async () => {
    const boundary = 'B';
    const header = partHeader(boundary, { name: 'result_0', filename: 'evil\r\nContent-Type: text/html\r\n\r\n.png', contentType: 'image/png' }).toString();
    const lines = header.split('\r\n');
    // --B, Content-Disposition, Content-Type, blank, (end)
    expect(lines).toHaveLength(5);
    expect(lines[0]).toBe('--B');
    expect(lines[1].startsWith('Content-Disposition: form-data; name="result_0"; filename="')).toBe(true);
    expect(lines[2]).toBe('Content-Type: image/png');
    expect(header).not.toMatch(/evil[\r\n]/);

    const { parsed } = await roundTrip([
      { name: 'result_0', filename: 'two\r\nlines.png', contentType: 'image/png', bytes: [Buffer.from('1')] },
      { name: 'result_1', filename: 'lf\nonly.png', contentType: 'image/png', bytes: [Buffer.from('2')] },
      { name: 'result_2', filename: 'cr\ronly.png', contentType: 'image/png', bytes: [Buffer.from('3')] },
    ]);
    expect(parsed.map((p) => p.bytes.toString())).toEqual(['1', '2', '3']);
    expect(parsed.map((p) => p.type)).toEqual(['image/png', 'image/png', 'image/png']);
    expect(parsed.map((p) => p.filename)).toEqual(['two\r\nlines.png', 'lf\nonly.png', 'cr\ronly.png']);
  });

  test('CR/LF in the field name are dropped as well', () => {
    const header = partHeader('B', { name: 'a\r\nb', filename: 'f.png', contentType: 'image/png' }).toString();
    expect(header.split('\r\n')).toHaveLength(5);
  });

  test('a quote cannot end the quoted value early', () => {
    const header = partHeader('B', { name: 'result_0', filename: 'say "cheese".png', contentType: 'image/png' }).toString();
    const disposition = header.split('\r\n')[1];
    // After the opening quote, every quote inside the value is escaped, so the value runs to the last quote.
    const value = disposition.slice(disposition.indexOf('filename="') + 'filename="'.length, -1);
    expect(value.endsWith('.png')).toBe(true);
    expect(value).not.toMatch(/(^|[^\\])"/);
  });

  // partHeader escapes quotes as \" and backslashes as \\ (RFC 822 quoted-pair style). The
  // multipart/form-data parsers of the fetch standard (undici's Response.formData, as browsers) and
  // formidable end a quoted value at the first " and decode only %22, %0D, %0A: the body below makes
  // undici throw "Failed to parse body as FormData" (expected CRLF), losing every part.
  test('a filename with a double quote comes back intact', async () => {
    const { parsed } = await roundTrip([{ name: 'result_0', filename: 'say "cheese".png', contentType: 'image/png', bytes: [Buffer.from('x')] }]);
    expect(parsed[0].filename).toBe('say "cheese".png');
  });

  // Same cause: the backslash is doubled on the wire and parsers that follow the fetch standard
  // keep both, so 'a\b.png' is read back as 'a\\b.png'.
  test('a filename with a backslash comes back intact', async () => {
    const { parsed } = await roundTrip([{ name: 'result_0', filename: 'a\\b.png', contentType: 'image/png', bytes: [Buffer.from('x')] }]);
    expect(parsed[0].filename).toBe('a\\b.png');
  });
});

describe('newBoundary', () => {
  test('is a valid RFC 2046 boundary with a recognisable prefix', () => {
    const b = newBoundary();
    expect(b).toMatch(/^----comfy-bridge-[0-9a-f]{24}$/);
    expect(b.length).toBeLessThanOrEqual(70);
  });

  test('differs every time', () => {
    const seen = new Set(Array.from({ length: 200 }, () => newBoundary()));
    expect(seen.size).toBe(200);
  });
});
