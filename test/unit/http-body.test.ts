import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import Koa from 'koa';
import { errorMiddleware } from '../../src/http/errors.js';
import { jsonDepth, parseJson, readJson } from '../../src/http/body.js';
import { listen } from '../../src/http/listen.js';
import type { Listening } from '../../src/http/listen.js';

describe('parseJson', () => {
  test('an empty or blank body says it is empty', () => {
    expect(parseJson('')).toEqual({ ok: false, reason: expect.stringContaining('the body is empty') });
    expect(parseJson('  \n')).toEqual({ ok: false, reason: expect.stringContaining('the body is empty') });
  });
  test('malformed JSON says where', () => {
    const parsed = parseJson('{"a": 1,\n "b": }');
    expect(parsed.ok).toBe(false);
    // V8 quotes the text around the mistake (older versions give its position instead).
    if (!parsed.ok) expect(parsed.reason).toMatch(/malformed JSON body: Unexpected token '\}'.*("b": \}|line 2)/s);
  });
  test('10,000 levels of nesting are refused without a stack overflow', () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    expect(parseJson(deep)).toEqual({ ok: false, reason: expect.stringContaining('nested 10000 levels') });
    const objects = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    expect(parseJson(objects).ok).toBe(false);
  });
  test('brackets inside strings do not count', () => {
    expect(jsonDepth('{"a": "[[[[{{{{\\"]]]"}')).toBe(1);
    expect(parseJson(JSON.stringify({ text: '['.repeat(500) })).ok).toBe(true);
  });
  test('100 levels are fine', () => {
    expect(parseJson('['.repeat(100) + ']'.repeat(100)).ok).toBe(true);
  });
});

describe('readJson over HTTP', () => {
  let server: Listening;
  let bytesRead = 0;
  beforeAll(async () => {
    const app = new Koa();
    app.use(errorMiddleware((_s, message) => ({ detail: message })));
    app.use(async (ctx) => {
      ctx.req.socket.once('close', () => (bytesRead = ctx.req.socket.bytesRead));
      ctx.body = { value: await readJson(ctx, { bytes: 1024 * 1024, setting: 'TEST_LIMIT' }, { idleMs: 200 }) };
    });
    server = await listen(app.callback(), '127.0.0.1', 0);
  });
  afterAll(() => server.close(100));

  /** Send raw bytes on a fresh connection; resolve with the answer text when the server closes or answers. */
  function raw(head: string, body: Buffer | string, { chunked = false } = {}): Promise<{ status: number; text: string; closed: boolean }> {
    const { port } = new URL(server.url);
    return new Promise((resolve) => {
      const socket = net.connect(Number(port), '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (text += d));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve({ status: Number(text.split(' ')[1]), text, closed: true }));
      socket.write(head);
      if (chunked) {
        const buf = Buffer.from(body);
        const step = 64 * 1024;
        const write = (at: number) => {
          if (socket.destroyed || at >= buf.length) return;
          const part = buf.subarray(at, at + step);
          socket.write(`${part.length.toString(16)}\r\n`);
          socket.write(part);
          socket.write('\r\n', () => setImmediate(() => write(at + step)));
        };
        write(0);
      } else socket.write(body);
    });
  }

  test('a 10 MB chunked body against a 1 MB limit is refused before it is all read', async () => {
    const body = Buffer.alloc(10 * 1024 * 1024, 0x20);
    const res = await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n', body, { chunked: true });
    expect(res.status).toBe(413);
    expect(res.text).toContain('TEST_LIMIT allows 1 MB');
    expect(bytesRead).toBeLessThan(5 * 1024 * 1024);
  });

  test('a declared Content-Length over the limit is refused before any body byte is read', async () => {
    const res = await raw(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${5_452_595}\r\n\r\n`, '');
    expect(res.status).toBe(413);
    expect(res.text).toContain('the body is 5.2 MB; TEST_LIMIT allows 1 MB');
  });

  test('an empty body → 400 the body is empty', async () => {
    const res = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain('the body is empty');
  });

  test('a body that stops arriving → 408', async () => {
    const res = await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n', '{"a":');
    expect(res.status).toBe(408);
  });

  test('deep nesting → 400', async () => {
    const res = await fetch(server.url, { method: 'POST', body: '['.repeat(10_000) + ']'.repeat(10_000) });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { detail: string }).detail).toContain('nested');
  });
});

describe('listen', () => {
  test('a client that sends half its headers is disconnected within the headers timeout', async () => {
    const server = await listen((_req, res) => res.end('ok'), '127.0.0.1', 0, { timeouts: { headersMs: 300, requestMs: 300 } });
    try {
      const { port } = new URL(server.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      socket.resume();
      await once(socket, 'connect');
      const started = Date.now();
      socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
      await once(socket, 'close');
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await server.close(100);
    }
  });

  test('close() resolves with an idle keep-alive connection open', async () => {
    const server = await listen((_req, res) => res.end('ok'), '127.0.0.1', 0);
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve) => http.get(server.url, { agent }, (res) => res.resume().on('end', resolve)));
    await server.close(5000);
    agent.destroy();
  });
});
