// The dashboard's routes and live feed over a real bridge and simulated backends: who may read
// it, that snapshot plus deltas always add up to the bridge's state, the operator's actions, and
// that a page that stops reading costs the bridge a bounded amount of memory.
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { ComfySimulator } from '../../src/sim/index.js';
import { FeedClient } from '../../src/dashboard/stream.js';
import { backendsUp, engineUntil, postJson, startBridge, startSims } from '../e2e/harness.js';
import type { TestBridge } from '../e2e/harness.js';
import { FeedReader } from './support.js';

const ADMIN = 'admin-token-0123456789';
const ALICE = 'alice-key-0123456789abcdef';

async function get(url: string, token?: string): Promise<{ status: number; type: string | null; headers: Headers; body: any }> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, redirect: 'manual' });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, type: res.headers.get('content-type'), headers: res.headers, body };
}

describe('who may use the dashboard', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;

  beforeAll(async () => {
    sims = await startSims(1);
    bridge = await startBridge([sims[0].url], { API_KEYS: `alice:${ALICE}`, ADMIN_TOKEN: ADMIN });
  });
  afterAll(async () => {
    await bridge.dispose();
    await Promise.all(sims.map((s) => s.close()));
  });

  test('the page and its files are open to all: they hold no data', async () => {
    const page = await get(`${bridge.url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.type).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect((await get(`${bridge.url}/dashboard/dashboard.js`)).type).toMatch(/^text\/javascript/);
    expect((await get(`${bridge.url}/dashboard/dashboard.css`)).type).toMatch(/^text\/css/);
    expect((await get(`${bridge.url}/dashboard/`)).headers.get('location')).toBe('../dashboard');
  });

  test('nothing else is served from its folder', async () => {
    for (const name of ['nope.js', '..%2Fview.ts', 'eta.d.ts', '.hidden.js']) {
      expect((await get(`${bridge.url}/dashboard/${name}`)).status).toBe(401);
      expect((await get(`${bridge.url}/dashboard/${name}`, ADMIN)).status).toBe(404);
    }
  });

  test('the page learns in words whether its token makes it the operator', async () => {
    expect((await get(`${bridge.url}/dashboard/access`)).body).toMatchObject({ operator: false, detail: expect.stringContaining('admin token') });
    expect((await get(`${bridge.url}/dashboard/access`, ALICE)).body).toEqual({ operator: false, detail: 'That is not the admin token.' });
    expect((await get(`${bridge.url}/dashboard/access`, ADMIN)).body).toEqual({ operator: true });
  });

  test('the feed and the actions need the admin token: an API key is not enough', async () => {
    expect((await get(`${bridge.url}/dashboard/events`)).status).toBe(401);
    expect((await get(`${bridge.url}/dashboard/events`, ALICE)).status).toBe(403);
    const cancel = await postJson(`${bridge.url}/admin/jobs/0190a000-0000-7000-8000-000000000000/cancel`, undefined, { headers: { authorization: `Bearer ${ALICE}` } });
    expect(cancel.status).toBe(403);
    const feed = await FeedReader.open(bridge.url, ADMIN);
    expect(feed.state.backends).toHaveLength(1);
    feed.close();
  });

  test('with API keys but no ADMIN_TOKEN nobody is the operator here', async () => {
    const other = await startBridge([sims[0].url], { API_KEYS: `alice:${ALICE}` });
    try {
      const access = await get(`${other.url}/dashboard/access`, ALICE);
      expect(access.body).toMatchObject({ operator: false, detail: expect.stringContaining('Set ADMIN_TOKEN') });
      expect((await get(`${other.url}/dashboard/events`, ALICE)).status).toBe(403);
    } finally {
      await other.dispose();
    }
  });
});

describe('the live feed', () => {
  let sims: ComfySimulator[];
  let bridge: TestBridge;
  let canvas = 0;
  const sleepJob = (seconds = 30) => ({ workflow: 'sleep.json', '1/color': ++canvas, '2/seconds': seconds });

  beforeAll(async () => {
    sims = await startSims(2);
    bridge = await startBridge(
      sims.map((s) => s.url),
      { BACKEND_PREFETCH: '0' },
    );
    await backendsUp(bridge);
  });
  afterAll(async () => {
    await bridge.dispose();
    await Promise.all(sims.map((s) => s.close()));
  });

  test('snapshot and deltas add up to what the bridge holds; cancels and failures show', async () => {
    const feed = await FeedReader.open(bridge.url);
    for (let i = 0; i < 6; i++) expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=feed-client-${i}`, sleepJob())).status).toBe(200);
    const running = () => feed.state.backends.flatMap((b) => b.jobs.filter((j) => j.state === 'running'));
    await feed.until(() => feed.state.queue.ids.length === 4 && running().length === 2);
    expect(feed.state.queue.ids).toEqual(bridge.engine.waiting().map((j) => j.id));
    expect(feed.state.queue.rows.get(feed.state.queue.ids[0])).toMatchObject({ clientId: expect.stringMatching(/^feed-client-/), workflow: 'sleep.json', units: 3 });

    // The operator cancels a waiting job and a running one.
    const waiting = feed.state.queue.ids[1];
    const cancel = await postJson(`${bridge.url}/admin/jobs/${waiting}/cancel`);
    expect(cancel).toMatchObject({ status: 200, body: { state: 'cancelled' } });
    expect((await postJson(`${bridge.url}/admin/jobs/${waiting}/cancel`)).status).toBe(409);
    expect((await postJson(`${bridge.url}/admin/jobs/0190a000-0000-7000-8000-000000000000/cancel`)).status).toBe(404);
    await feed.until(() => !feed.state.queue.ids.includes(waiting));
    const victim = running()[0].id;
    expect((await postJson(`${bridge.url}/admin/jobs/${victim}/cancel`)).status).toBe(200);
    expect(bridge.engine.get(victim)?.state).toBe('cancelled');

    // A failure, with its cause.
    await postJson(`${bridge.url}/generate-based-workflow?clientId=feed-fails-0`, { workflow: 'fail.json', '1/color': 7 });
    for (const s of sims) s.setSpeed(1e6);
    await engineUntil(bridge.engine, () => bridge.engine.unfinished() === 0);
    await feed.until(() => feed.state.queue.ids.length === 0 && running().length === 0 && feed.state.problems.length > 0);
    const failure = feed.state.problems.find((p) => p.kind === 'failed')!;
    expect(failure).toMatchObject({ clientId: 'feed-fails-0', workflow: 'fail.json', jobId: expect.any(String), message: expect.any(String) });
    await feed.until(() => feed.state.stats!.finished.reduce((a, b) => a + b, 0) === 4);
    expect(feed.state.stats!.failed.reduce((a, b) => a + b, 0)).toBe(1);

    // A page opened now is told the same.
    const fresh = await FeedReader.open(bridge.url);
    await feed.until(() => feed.state.v >= fresh.state.v);
    expect(feed.outOfStep).toBe(0);
    const same = (s: typeof feed.state) => ({ backends: s.backends, queue: s.queue.ids, problems: s.problems, bridge: s.bridge });
    expect(same(feed.state)).toEqual(same(fresh.state));
    feed.close();
    fresh.close();
    for (const s of sims) s.setSpeed(1);
  });

  test('a backend can free its memory', async () => {
    const feed = await FeedReader.open(bridge.url);
    const [first] = feed.state.backends;
    const before = sims.map((s) => s.stats.frees);
    const freed = await postJson(`${bridge.url}/admin/backends/${first.id}/free`);
    expect(freed).toMatchObject({ status: 200, body: { detail: expect.stringContaining(first.url) } });
    const after = sims.map((s) => s.stats.frees);
    expect(after.reduce((a, b) => a + b, 0) - before.reduce((a, b) => a + b, 0)).toBe(1);
    expect((await postJson(`${bridge.url}/admin/backends/nobody/free`)).status).toBe(404);
    feed.close();
  });
});

describe('a page that stops reading', () => {
  test('is skipped while behind, then sent the latest snapshot: the bridge never queues for it', async () => {
    const limits = { softBytes: 64 * 1024, hardBytes: 4 * 1024 * 1024, heartbeatMs: 60_000 };
    let snapshots = 0;
    let client: FeedClient | undefined;
    const server = http.createServer((_req, res) => {
      client = new FeedClient(res, () => `event: snapshot\ndata: {"n":${++snapshots}}\n\n`, limits, () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => {
      const check = () => (received.includes('"n":1') ? resolve() : socket.once('data', check));
      check();
    });
    socket.pause();

    // 2,000 deltas of 16 KB: 32 MB, far beyond what the sockets hold.
    const delta = `event: delta\ndata: "${'x'.repeat(16 * 1024)}"\n\n`;
    let most = 0;
    const res = (client as unknown as { res: http.ServerResponse }).res;
    for (let i = 0; i < 2000; i++) {
      client!.delta(delta);
      most = Math.max(most, res.writableLength);
      // Let the sockets move what they can.
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(most).toBeLessThanOrEqual(limits.softBytes + delta.length);

    // Reading again: what was queued arrives, then the latest snapshot instead of what was skipped.
    socket.resume();
    await new Promise<void>((resolve) => {
      const check = () => {
        if (received.includes('"n":2')) resolve();
        else {
          client!.delta(delta);
          socket.once('data', check);
        }
      };
      check();
    });
    expect(received.length).toBeLessThan(2000 * delta.length);
    socket.destroy();
    client!.end();
    await new Promise((resolve) => server.close(resolve));
  });
});
