// The SSE writer against a client that stops reading: what waits for it stays bounded. Droppable
// frames are skipped while it is behind, it hears of the latest once it catches up, and a client
// still further behind is cut off rather than buffered for.
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { EventStream } from '../../src/v2/sse.js';

const LIMITS = { softBytes: 64 * 1024, hardBytes: 256 * 1024, heartbeatMs: 60_000 };
const FRAME = { blob: 'x'.repeat(8 * 1024) };

let server: http.Server;
let streams: { stream: EventStream; res: http.ServerResponse }[];
let connected: Promise<void>;
let onConnect: () => void;

beforeEach(async () => {
  streams = [];
  connected = new Promise((resolve) => (onConnect = resolve));
  server = http.createServer((_req, res) => {
    streams.push({ stream: new EventStream(res, LIMITS), res });
    onConnect();
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

/** A client that sends its request and then reads nothing until told to. */
async function stalledClient(): Promise<net.Socket> {
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write('GET /events HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n');
  socket.pause();
  await connected;
  return socket;
}

test('droppable frames are skipped while the client is behind; what waits stays under the bound', async () => {
  const socket = await stalledClient();
  const { stream, res } = streams[0];
  let sent = 0;
  let skipped = 0;
  for (let i = 0; i < 2000; i++) {
    if (stream.send('progress', FRAME, i, { droppable: true })) sent++;
    else skipped++;
    expect(res.writableLength).toBeLessThanOrEqual(LIMITS.softBytes + 16 * 1024);
  }
  expect(skipped).toBeGreaterThan(1500);
  expect(stream.isClosed).toBe(false);

  // Once it reads again it catches up, and is told so (to be sent the latest).
  const caughtUp = new Promise<void>((resolve) => (stream.onCatchUp = resolve));
  socket.resume();
  await caughtUp;
  expect(stream.send('progress', FRAME, 2001, { droppable: true })).toBe(true);
  socket.destroy();
});

test('a client too far behind for frames that cannot be skipped is cut off', async () => {
  const socket = await stalledClient();
  const { stream, res } = streams[0];
  const closed = new Promise<void>((resolve) => stream.whenClosed(resolve));
  let i = 0;
  while (!stream.isClosed && i < 10_000) {
    stream.send('output', FRAME, i++);
    expect(res.writableLength).toBeLessThanOrEqual(LIMITS.hardBytes + 16 * 1024);
  }
  await closed;
  expect(stream.isClosed).toBe(true);
  expect(i).toBeLessThan(10_000);
  socket.destroy();
});

test('ids never go down within a stream, and frames are event/id/data blocks', async () => {
  const { port } = server.address() as net.AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}/events`);
  await connected;
  const { stream } = streams[0];
  stream.send('status', { status: 'running' }, 5);
  stream.send('progress', { value: 0.5 }, 3);
  stream.end();
  expect(await res.text()).toBe('event: status\nid: 5\ndata: {"status":"running"}\n\nevent: progress\nid: 5\ndata: {"value":0.5}\n\n');
  expect(res.headers.get('cache-control')).toBe('no-cache, no-store');
});
