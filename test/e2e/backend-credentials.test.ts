// Backends behind a proxy that asks for credentials: Basic from COMFYUI_SERVERS (user:password@)
// or POST /admin/backends (username and password), Bearer from POST /admin/backends (token). The
// simulators check them on every request and websocket upgrade; the bridge's logs (at debug),
// answers and events never show them.
import { once } from 'node:events';
import { createServer } from 'node:net';
import { ComfySimulator } from '../../src/sim/index.js';
import { setLogDestination } from '../../src/log.js';
import type { EngineEvent } from '../../src/engine/index.js';
import { engineUntil, getJson, postJson, readParts, startBridge, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';

const ADMIN = 'credentials-admin-token-000001';
const USER = 'bridge-user';
const PASSWORD = 'p@ss:W0rd-basic-7f3e';
const PASSWORD_2 = 'second-Basic-pw-91c2';
const TOKEN = 'tok-SECRET-4b1d-bearer';
const WRONG = 'wrong-SECRET-0a9e';

/** Every form a credential could leak in: as given, percent-encoded, and inside a Basic header. */
const SECRETS = [
  PASSWORD,
  encodeURIComponent(PASSWORD),
  PASSWORD_2,
  TOKEN,
  WRONG,
  Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
  Buffer.from(`${USER}:${PASSWORD_2}`).toString('base64'),
  Buffer.from(`${USER}:${WRONG}`).toString('base64'),
];

function expectNoSecret(what: string, text: string): void {
  for (const secret of SECRETS) {
    if (text.includes(secret)) throw new Error(`${what} shows a credential (${secret.slice(0, 4)}…): ${text.slice(Math.max(0, text.indexOf(secret) - 200), text.indexOf(secret) + 50)}`);
  }
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

async function admin(bridge: TestBridge, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; body: any }> {
  const res = await fetch(`${bridge.url}${path}`, {
    method,
    headers: { 'x-admin-token': ADMIN, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, body: text ? JSON.parse(text) : undefined };
}

let basic: ComfySimulator;
let basic2: ComfySimulator;
let bearer: ComfySimulator;
let refusing: ComfySimulator;
let bridge: TestBridge;
let compat: string;
const lines: string[] = [];
const events: EngineEvent[] = [];
let previous: ReturnType<typeof setLogDestination> | undefined;
let unsubscribe: (() => void) | undefined;

beforeAll(async () => {
  const opts = { stepMs: 1, nodeMs: 0 };
  [basic, basic2, bearer, refusing] = await Promise.all([
    ComfySimulator.start({ ...opts, name: 'basic', credentials: { username: USER, password: PASSWORD } }),
    ComfySimulator.start({ ...opts, name: 'basic2', credentials: { username: USER, password: PASSWORD_2 } }),
    ComfySimulator.start({ ...opts, name: 'bearer', credentials: { token: TOKEN } }),
    ComfySimulator.start({ ...opts, name: 'refusing', credentials: { username: USER, password: 'the-right-one' } }),
  ]);
  previous = setLogDestination({ write: (line: string) => void lines.push(line) });
  const port = await freePort();
  compat = `http://127.0.0.1:${port}`;
  const withCredentials = basic.url.replace('http://', `http://${USER}:${encodeURIComponent(PASSWORD)}@`);
  bridge = await startBridge([withCredentials], { LOG_LEVEL: 'debug', ADMIN_TOKEN: ADMIN, COMFY_COMPAT_PORT: String(port) });
  unsubscribe = bridge.engine.events.subscribe((e) => void events.push(e));
});

afterAll(async () => {
  unsubscribe?.();
  await bridge?.dispose();
  if (previous) setLogDestination(previous);
  await Promise.all([basic, basic2, bearer, refusing].map((s) => s?.close()));
});

test('credentials reach every backend on every request and websocket; jobs run and their files are read there', async () => {
  for (const body of [
    { url: basic2.url, username: USER, password: PASSWORD_2, labels: ['basic'] },
    { url: bearer.url, token: TOKEN },
    { url: refusing.url.replace('http://', `http://${USER}:${WRONG}@`) },
  ]) {
    const added = await admin(bridge, 'POST', '/admin/backends', body);
    expect(added.status).toBe(201);
    expectNoSecret('POST /admin/backends', added.text);
  }
  const good = [basic, basic2, bearer];
  await engineUntil(bridge.engine, () => bridge.engine.healthyBackends().length === 3);
  expect(bridge.engine.healthyBackends()).toEqual(good.map((s) => s.url));

  const clients = Array.from({ length: 6 }, (_, i) => `credentials-client-${i}`);
  for (const id of clients) expect((await postJson(`${bridge.url}/generate-based-workflow?clientId=${id}`, { workflow: 'sleep.json', '2/seconds': 0.2 })).status).toBe(200);
  await Promise.all(clients.map((id) => waitFinal(bridge, id)));
  expect(clients.map((id) => bridge.engine.jobsOf(id)[0].state)).toEqual(clients.map(() => 'completed'));
  for (const sim of good) {
    expect(sim.stats.prompts).toBeGreaterThan(0);
    expect(sim.stats.wsConnections).toBeGreaterThan(0);
    // Every request and upgrade carried them, the first probe included.
    expect(sim.stats.unauthorized).toBe(0);
  }
  for (const id of clients) {
    const res = await fetch(`${bridge.url}/history?clientId=${id}`);
    expect(res.status).toBe(200);
    expect((await readParts(res)).length).toBe(1);
  }

  // Wrong credentials: refused there, so it stays down and takes nothing; the log says why.
  expect(refusing.stats.unauthorized).toBeGreaterThan(0);
  expect(refusing.stats.prompts).toBe(0);
  const listed = await admin(bridge, 'GET', '/admin/backends');
  expect(listed.body.map((b: { url: string; state: string }) => [b.url, b.state])).toEqual([...good.map((s) => [s.url, 'up']), [refusing.url, 'down']]);
  expect(lines.some((l) => l.includes(refusing.url) && l.includes('401'))).toBe(true);
});

test('no answer, event or log line shows them', async () => {
  const answers: [string, string][] = [];
  const keep = async (what: string, res: Response) => answers.push([what, `${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`]);
  const asAdmin = { headers: { 'x-admin-token': ADMIN } };
  await keep('GET /admin/backends', await fetch(`${bridge.url}/admin/backends`, asAdmin));
  for (const b of bridge.engine.backendsInfo()) await keep(`GET /admin/backends/${b.id}`, await fetch(`${bridge.url}/admin/backends/${b.id}`, asAdmin));
  await keep('GET /readyz', await fetch(`${bridge.url}/readyz`));
  const metrics = await fetch(`${bridge.url}/metrics`, asAdmin);
  expect(metrics.status).toBe(200);
  await keep('GET /metrics', metrics);
  await keep('GET /system_stats', await fetch(`${compat}/system_stats`, asAdmin));
  await keep('GET /queue', await fetch(`${compat}/queue`, asAdmin));
  await keep('GET /object_info', await fetch(`${compat}/object_info`, asAdmin));
  await keep('GET /history', await fetch(`${compat}/history`, asAdmin));
  // Mistakes that quote what was sent: a malformed URL with credentials, one the pool has, a bad token.
  const malformed = await admin(bridge, 'POST', '/admin/backends', { url: `http://${USER}:${WRONG}@gpu9` });
  expect(malformed.status).toBe(400);
  expect(malformed.body.detail).toContain('***@gpu9');
  answers.push(['400', malformed.text]);
  const twice = await admin(bridge, 'POST', '/admin/backends', { url: basic.url.replace('http://', `http://${USER}:${encodeURIComponent(PASSWORD)}@`) });
  expect(twice.status).toBe(409);
  answers.push(['409', twice.text]);
  const badToken = await admin(bridge, 'POST', '/admin/backends', { url: 'http://gpu9:8188', token: `${TOKEN} ${WRONG}` });
  expect(badToken.status).toBe(400);
  answers.push(['400 token', badToken.text]);
  const both = await admin(bridge, 'POST', '/admin/backends', { url: `http://${USER}:${WRONG}@gpu9:8188`, token: TOKEN });
  expect(both.status).toBe(400);
  answers.push(['400 twice', both.text]);
  expect((await getJson(`${bridge.url}/readyz`)).body.checks.backends).toBe(3);

  for (const [what, text] of answers) expectNoSecret(what, text);
  expectNoSecret('engine events', JSON.stringify(events));
  expect(events.some((e) => e.kind === 'backend')).toBe(true);
  expect(lines.length).toBeGreaterThan(30);
  expect(lines.some((l) => l.includes('"level":"debug"'))).toBe(true);
  expectNoSecret('the log', lines.join('\n'));
});

test('credentials changed in COMFYUI_SERVERS replace the stored ones at the next start (the pool itself stays)', async () => {
  const sim = await ComfySimulator.start({ stepMs: 1, nodeMs: 0, credentials: { username: USER, password: PASSWORD_2 } });
  const as = (password: string) => sim.url.replace('http://', `http://${USER}:${encodeURIComponent(password)}@`);
  let own = await startBridge([as(WRONG)], { ADMIN_TOKEN: ADMIN });
  try {
    // Refused: nothing happens in the engine, so the simulator's requests are what is waited on.
    await new Promise<void>((resolve) => {
      // Counted once the request is answered, just after it is announced.
      const onRequest = () =>
        setImmediate(() => {
          if (sim.stats.unauthorized < 3) return;
          sim.off('request', onRequest);
          resolve();
        });
      sim.on('request', onRequest);
    });
    expect(own.engine.healthyBackends()).toEqual([]);
    await own.stop();
    own = await startBridge([as(PASSWORD_2)], { ADMIN_TOKEN: ADMIN }, own.dir);
    await engineUntil(own.engine, () => own.engine.healthyBackends().length === 1);
    const refused = sim.stats.unauthorized;
    expect((await postJson(`${own.url}/generate-based-workflow?clientId=rotated-client`, { workflow: 'sleep.json', '2/seconds': 0 })).status).toBe(200);
    await waitFinal(own, 'rotated-client');
    expect(own.engine.jobsOf('rotated-client')[0].state).toBe('completed');
    expect(sim.stats.unauthorized).toBe(refused);
  } finally {
    await own.dispose();
    await sim.close();
  }
});
