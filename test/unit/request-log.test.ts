import http from 'node:http';
import { EventEmitter, once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { logger, setLogDestination, setLogLevel } from '../../src/log.js';
import { redactQuery, requestLog } from '../../src/http/request-log.js';

/** Captures log lines (parsed) while `body` runs; `body` may wait until some have arrived. */
async function captured(body: (until: (count: number) => Promise<void>) => Promise<void>): Promise<any[]> {
  const lines: any[] = [];
  const arrived = new EventEmitter();
  const previous = setLogDestination({
    write: (line: string) => {
      lines.push(JSON.parse(line));
      arrived.emit('line');
    },
  });
  const until = async (count: number) => {
    while (lines.length < count) await once(arrived, 'line');
  };
  setLogLevel('info');
  try {
    await body(until);
  } finally {
    setLogLevel('silent');
    setLogDestination(previous);
  }
  return lines;
}

beforeAll(() => setLogLevel('silent'));

test('credential query values are replaced, other parameters kept', () => {
  expect(redactQuery('/ws?clientId=a&token=secret-key-0001')).toBe('/ws?clientId=a&token=[redacted]');
  expect(redactQuery('/x?token=abc&api_key=def&apiKey=g#frag')).toBe('/x?token=[redacted]&api_key=[redacted]&apiKey=[redacted]#frag');
  expect(redactQuery('/history?clientId=tokens-are-fine')).toBe('/history?clientId=tokens-are-fine');
});

test('one line per request: method, url without the token, status, duration', async () => {
  const app = new Koa();
  app.use(requestLog(logger('http')));
  app.use((ctx) => {
    if (ctx.path === '/missing') ctx.status = 404;
    else ctx.body = { ok: true };
  });
  const server = http.createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const lines = await captured(async (until) => {
    for (const path of ['/ok?token=secret-key-0001&clientId=c1', '/missing']) await (await fetch(base + path)).text();
    // A line is written when its response closes, which can trail the client's read.
    await until(2);
  });
  server.close();
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatchObject({ level: 'info', scope: 'http', method: 'GET', url: '/ok?token=[redacted]&clientId=c1', statusCode: 200 });
  expect(lines[1]).toMatchObject({ method: 'GET', url: '/missing', statusCode: 404 });
  for (const line of lines) expect(typeof line.responseTime).toBe('number');
  expect(JSON.stringify(lines)).not.toContain('secret-key-0001');
});

test('secrets passed as fields are redacted', async () => {
  const lines = await captured(async () => {
    logger('test').info({ job: 'j1', token: 't0ken', apiKey: 'k3y', headers: { authorization: 'Bearer s3cret', 'x-admin-token': 'adm1n' } }, 'with secrets');
  });
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ scope: 'test', job: 'j1', msg: 'with secrets' });
  for (const secret of ['t0ken', 'k3y', 's3cret', 'adm1n']) expect(JSON.stringify(lines[0])).not.toContain(secret);
});

test('nothing is written below the level', async () => {
  const lines = await captured(async () => {
    logger('test').debug('quiet');
  });
  expect(lines).toEqual([]);
});
