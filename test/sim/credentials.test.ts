// A simulator that requires credentials, as a proxy in front of ComfyUI does: 401 on every
// request and websocket upgrade without them, the usual answers with them.
import WebSocket from 'ws';
import { ComfySimulator } from '../../src/sim/index.js';
import type { SimCredentials } from '../../src/sim/index.js';

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** The status of a websocket upgrade with these headers (101 when it opened). */
function upgrade(sim: ComfySimulator, headers: Record<string, string>): Promise<{ status: number; challenge?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${sim.url.replace('http', 'ws')}/ws?clientId=abc`, { headers });
    ws.on('open', () => {
      ws.close();
      resolve({ status: 101 });
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] as string | undefined });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

describe.each<[string, SimCredentials, string, string, string]>([
  ['Basic', { username: 'bridge', password: 'p@ss:word' }, basic('bridge', 'p@ss:word'), basic('bridge', 'other'), 'Basic realm="comfyui"'],
  ['Bearer', { token: 'tok-123' }, 'Bearer tok-123', 'Bearer tok-124', 'Bearer realm="comfyui"'],
])('%s credentials', (_kind, credentials, good, wrong, challenge) => {
  let sim: ComfySimulator;
  beforeAll(async () => {
    sim = await ComfySimulator.start({ credentials });
  });
  afterAll(() => sim.close());

  test('HTTP: 401 with a challenge without them or with wrong ones, the usual answer with them', async () => {
    for (const path of ['/system_stats', '/api/prompt', '/view?filename=x.png', '/nope']) {
      const none = await fetch(`${sim.url}${path}`);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe(challenge);
      expect((await fetch(`${sim.url}${path}`, { headers: { authorization: wrong } })).status).toBe(401);
    }
    expect((await fetch(`${sim.url}/system_stats`, { headers: { authorization: good } })).status).toBe(200);
    expect((await fetch(`${sim.url}/nope`, { headers: { authorization: good } })).status).toBe(404);
  });

  test('websocket: the upgrade is refused with 401 without them, accepted with them', async () => {
    const before = sim.stats.unauthorized;
    expect(await upgrade(sim, {})).toEqual({ status: 401, challenge });
    expect((await upgrade(sim, { authorization: wrong })).status).toBe(401);
    expect((await upgrade(sim, { authorization: good })).status).toBe(101);
    expect(sim.stats.unauthorized).toBe(before + 2);
  });
});

test('without credentials set, nothing is asked for', async () => {
  const sim = await ComfySimulator.start();
  try {
    expect((await fetch(`${sim.url}/system_stats`)).status).toBe(200);
    expect((await upgrade(sim, {})).status).toBe(101);
    expect(sim.stats.unauthorized).toBe(0);
  } finally {
    await sim.close();
  }
});
