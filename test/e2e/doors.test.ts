// Locked doors end to end: API keys, the admin token, CORS, per-client and global limits, and
// clientIds that own their work.
import { readdir } from 'node:fs/promises';
import WebSocket from 'ws';
import { ConfigError, loadConfig } from '../../src/config.js';
import { keyDigestName } from '../../src/engine/tenants.js';
import { previewPng } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { TestClient, backendsUp, engineUntil, readParts, simEvent, startBridge, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';

// ── helpers ─────────────────────────────────────────────────────────────────────────────────

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

interface CallOptions {
  headers?: Record<string, string>;
  json?: unknown;
  form?: FormData;
}

async function call(method: string, url: string, opts: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  let body: RequestInit['body'];
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  }
  const res = await fetch(url, { method, headers, body });
  const type = res.headers.get('content-type') ?? '';
  if (type.startsWith('multipart/')) {
    return { status: res.status, body: await readParts(res), headers: res.headers };
  }
  const text = await res.text();
  let parsed: unknown = text === '' ? undefined : text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

const PNG = previewPng([12, 34, 56]);

function pngForm(): FormData {
  const form = new FormData();
  form.append('image', new Blob([PNG], { type: 'image/png' }), 'photo.png');
  return form;
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Every endpoint of the client API, as a request that would succeed for a client with a job. */
interface Door {
  name: string;
  method: 'GET' | 'POST';
  path: (clientId: string) => string;
  json?: unknown;
  form?: boolean;
}

const DOORS: Door[] = [
  { name: 'workflow-list', method: 'GET', path: () => '/workflow-list' },
  { name: 'workflow-info', method: 'GET', path: () => '/workflow-info?workflow=invert' },
  { name: 'upload', method: 'POST', path: () => '/upload', form: true },
  { name: 'generate-based-workflow', method: 'POST', path: (c) => `/generate-based-workflow?clientId=${c}`, json: { workflow: 'invert', '1/color': 77 } },
  { name: 'execution-info', method: 'GET', path: (c) => `/execution-info?clientId=${c}` },
  { name: 'history', method: 'GET', path: (c) => `/history?clientId=${c}` },
  { name: 'interrupt', method: 'POST', path: (c) => `/interrupt?clientId=${c}` },
  { name: 'free', method: 'POST', path: (c) => `/free?clientId=${c}` },
  { name: 'generation-count', method: 'GET', path: () => '/generation-count' },
];

function knock(bridge: TestBridge, door: Door, clientId: string, headers: Record<string, string> = {}): Promise<Answer> {
  return call(door.method, `${bridge.url}${door.path(clientId)}`, { headers, json: door.json, form: door.form ? pngForm() : undefined });
}

function submit(bridge: TestBridge, clientId: string, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<Answer> {
  return call('POST', `${bridge.url}/generate-based-workflow?clientId=${encodeURIComponent(clientId)}`, { headers, json: body });
}

let canvas = 0;
/** A sleeping job that is never a cache hit on the backend (a repeated prompt would finish at once). */
const sleepJob = (seconds = 30) => ({ workflow: 'sleep.json', '1/color': ++canvas, '2/seconds': seconds });

type Upgrade = { opened: true } | { opened: false; status: number; body: any };

/** Try a websocket upgrade with optional request headers; a refusal comes back with its status and body. */
function upgrade(url: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('unexpected-response', (_req, res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // keep the text
        }
        resolve({ opened: false, status: res.statusCode ?? 0, body });
      });
    });
    ws.on('open', () => {
      ws.close();
      resolve({ opened: true });
    });
    ws.on('error', (err) => {
      if (!/Unexpected server response/.test(err.message)) reject(err);
    });
  });
}

/** Everything a refused request must leave as it was. */
async function footprint(bridge: TestBridge, sims: ComfySimulator[]) {
  const sum = (f: (s: ComfySimulator) => number) => sims.reduce((n, s) => n + f(s), 0);
  const uploads = (await readdir(bridge.engine.uploads.dir)).filter((n) => !n.startsWith('.'));
  const incoming = await readdir(bridge.engine.uploads.incomingDir);
  return {
    jobs: [...bridge.engine.jobs()].map((j) => `${j.id}:${j.state}`).sort(),
    generationCount: bridge.engine.generationCount.value,
    prompts: sum((s) => s.stats.prompts),
    interrupts: sum((s) => s.stats.interrupts),
    frees: sum((s) => s.stats.frees),
    uploads: uploads.sort(),
    incoming,
  };
}

function jobRunning(bridge: TestBridge, clientId: string, tenant = ''): Promise<void> {
  return engineUntil(bridge.engine, () => bridge.engine.jobsOf(clientId, undefined, tenant).some((j) => j.state === 'running'));
}

const unfinished = (bridge: TestBridge) => [...bridge.engine.jobs()].filter((j) => !['completed', 'failed', 'cancelled'].includes(j.state));

/** Let every sleep finish at once: the simulated clock runs a million times faster. */
function hurry(sim: ComfySimulator): void {
  sim.setSpeed(1_000_000);
}

const RETRY_AFTER = /^[1-9]\d*$/;

// ── start-up refuses bad settings ───────────────────────────────────────────────────────────

describe('bad settings stop start-up with a message naming the setting', () => {
  const base = { COMFYUI_SERVERS: '127.0.0.1:8188' };

  function refusal(env: Record<string, string>): ConfigError {
    try {
      loadConfig({ ...base, ...env });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return err as ConfigError;
    }
    throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
  }

  test.each([
    ['a single short key', 'short-key-15chr'],
    ['one short key among long ones', 'a-long-enough-client-key-0001,tooshort'],
  ])('API_KEYS with %s', (_what, keys) => {
    const err = refusal({ API_KEYS: keys });
    expect(err.message).toContain('API_KEYS');
    expect(err.message).toMatch(/16/);
    // The message names the setting, not the secret.
    for (const key of keys.split(',')) expect(err.message).not.toContain(key);
  });

  test('ADMIN_TOKEN shorter than 16 characters', () => {
    const err = refusal({ ADMIN_TOKEN: 'admin-15-chars!' });
    expect(err.message).toContain('ADMIN_TOKEN');
    expect(err.message).not.toContain('admin-15-chars!');
  });

  test.each(['app.example.com', 'https://app.example.com/', 'https://app.example.com/path', 'ftp://app.example.com', 'https://'])('CORS_ORIGINS entry %j', (origin) => {
    const err = refusal({ CORS_ORIGINS: `https://ok.example.com,${origin}` });
    expect(err.message).toContain('CORS_ORIGINS');
    expect(err.message).toContain(JSON.stringify(origin));
  });

  test('keys and tokens of 16 characters and well-formed origins are accepted', () => {
    const config = loadConfig({
      ...base,
      API_KEYS: ' key-of-16-chars!, another-key-0002 ',
      ADMIN_TOKEN: 'admin-of-16-char',
      CORS_ORIGINS: 'https://app.example.com, http://localhost:3000,*',
    });
    expect(config.apiKeys.map((k) => k.key)).toEqual(['key-of-16-chars!', 'another-key-0002']);
    expect(config.adminToken).toBe('admin-of-16-char');
    expect(config.corsOrigins).toEqual(['https://app.example.com', 'http://localhost:3000', '*']);
  });
});

// ── API keys and the admin token ────────────────────────────────────────────────────────────

describe('with API_KEYS and ADMIN_TOKEN set', () => {
  const KEYS = ['client-key-number-one-0001', 'client-key-number-two-0002'];
  /** The tenant each key stands for: its work is found there. */
  const TENANTS = KEYS.map(keyDigestName);
  const ADMIN = 'admin-token-that-is-long-enough';
  let sims: ComfySimulator[];
  let bridge: TestBridge;

  beforeAll(async () => {
    sims = await startSims(2);
    bridge = await startBridge(
      sims.map((s) => s.url),
      { API_KEYS: KEYS.join(','), ADMIN_TOKEN: ADMIN },
    );
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await Promise.all((sims ?? []).map((s) => s.close()));
  });

  const ALL_DOORS: Door[] = [...DOORS, { name: 'free (all backends)', method: 'POST', path: () => '/free' }];
  const WRONG: [string, Record<string, string>][] = [
    ['no key', {}],
    ['a wrong key', bearer('not-one-of-the-configured-keys')],
    ['a key that is a prefix of a real one', bearer(KEYS[0].slice(0, -1))],
    ['the key without the Bearer scheme', { authorization: KEYS[0] }],
    ['the key as Basic credentials', { authorization: `Basic ${Buffer.from(`x:${KEYS[0]}`).toString('base64')}` }],
    ['the key in X-Api-Key', { 'x-api-key': KEYS[0] }],
  ];

  describe.each(WRONG)('with %s', (_what, headers) => {
    test.each(ALL_DOORS.map((d) => [d.name, d] as const))('%s → 401 {detail} with WWW-Authenticate: Bearer, and nothing happens', async (_name, door) => {
      const before = await footprint(bridge, sims);
      const res = await knock(bridge, door, 'locked-out-client', headers);
      expect(res.status).toBe(401);
      expect(Object.keys(res.body)).toEqual(['detail']);
      expect(typeof res.body.detail).toBe('string');
      expect(res.body.detail).toMatch(/key/i);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer\b/);
      expect(await footprint(bridge, sims)).toEqual(before);
    });
  });

  test.each(KEYS.map((k, i) => [i + 1, k] as const))('every endpoint works with key %i', async (n, key) => {
    const auth = bearer(key);
    const clientId = `keyed-client-${n}`;

    const list = await call('GET', `${bridge.url}/workflow-list`, { headers: auth });
    expect(list.status).toBe(200);
    expect(list.body).toEqual(expect.arrayContaining(['invert', 'txt2img']));

    const info = await call('GET', `${bridge.url}/workflow-info?workflow=invert`, { headers: auth });
    expect(info.status).toBe(200);
    expect(Object.keys(info.body)).toContain('1/color');

    const uploaded = await call('POST', `${bridge.url}/upload`, { headers: auth, form: pngForm() });
    expect(uploaded.status).toBe(200);
    expect(uploaded.body.image).toMatch(/^[0-9a-f-]{36}\.png$/);

    const count = bridge.engine.generationCount.value;
    const submitted = await submit(bridge, clientId, { workflow: 'invert', '1/color': 4000 + n }, auth);
    expect(submitted.status).toBe(200);
    expect(submitted.body.detail).toMatch(/^queued \/ \d+$/);

    const status = await call('GET', `${bridge.url}/execution-info?clientId=${clientId}`, { headers: auth });
    expect(status.status).toBe(200);
    expect(['queued', 'progress', 'closed']).toContain(status.body.status);

    await waitFinal(bridge, clientId, TENANTS[n - 1]);
    const history = await call('GET', `${bridge.url}/history?clientId=${clientId}`, { headers: auth });
    expect(history.status).toBe(200);
    expect(history.body).toHaveLength(1);

    const interrupt = await call('POST', `${bridge.url}/interrupt?clientId=${clientId}`, { headers: auth });
    expect(interrupt.status).toBe(200);

    const served = sims.find((s) => s.url === bridge.engine.jobsOf(clientId, undefined, TENANTS[n - 1])[0].backend)!;
    const freed = simEvent(served, 'free');
    const free = await call('POST', `${bridge.url}/free?clientId=${clientId}`, { headers: auth });
    expect(free.status).toBe(200);
    expect(free.body).toEqual({ detail: `server memory free now / ${clientId}` });
    await freed;

    const generations = await call('GET', `${bridge.url}/generation-count`, { headers: auth });
    expect(generations.status).toBe(200);
    expect(generations.body).toBe(count + 1);
  });

  test('a request without a key cannot interrupt a running job', async () => {
    const clientId = 'keyed-runner-01';
    const started = simEvent<string>(sims[0], 'started').then(() => undefined);
    const started1 = simEvent<string>(sims[1], 'started').then(() => undefined);
    expect((await submit(bridge, clientId, sleepJob(), bearer(KEYS[0]))).status).toBe(200);
    await Promise.race([started, started1]);
    await jobRunning(bridge, clientId, TENANTS[0]);
    const before = await footprint(bridge, sims);
    const job = () => bridge.engine.jobsOf(clientId, undefined, TENANTS[0])[0];

    const refused = await call('POST', `${bridge.url}/interrupt?clientId=${clientId}`);
    expect(refused.status).toBe(401);
    expect(await footprint(bridge, sims)).toEqual(before);
    expect(job().state).toBe('running');

    // Another key's clientId of that name is another client: nothing of the first key's is touched.
    const other = await call('POST', `${bridge.url}/interrupt?clientId=${clientId}`, { headers: bearer(KEYS[1]) });
    expect(other.status).toBe(200);
    expect(await footprint(bridge, sims)).toEqual(before);
    expect(job().state).toBe('running');

    const res = await call('POST', `${bridge.url}/interrupt?clientId=${clientId}`, { headers: bearer(KEYS[0]) });
    expect(res.status).toBe(200);
    await waitFinal(bridge, clientId, TENANTS[0]);
    expect(job().state).toBe('cancelled');
  });

  describe('the websocket', () => {
    const wsUrl = (query: string) => `${bridge.wsUrl}/ws?clientId=socket-client-01${query}`;

    test.each([
      ['no key', '', {}],
      ['a wrong ?token=', '&token=not-one-of-the-configured-keys', {}],
      ['a wrong Authorization header', '', bearer('not-one-of-the-configured-keys')],
    ] as const)('is refused with HTTP 401 before the upgrade given %s', async (_what, query, headers) => {
      const res = await upgrade(wsUrl(query), headers);
      expect(res).toEqual({ opened: false, status: 401, body: { detail: expect.stringMatching(/key/i) } });
    });

    test.each([
      ['?token=<first key>', `&token=${KEYS[0]}`, {}],
      ['?token=<second key>', `&token=${KEYS[1]}`, {}],
      ['Authorization: Bearer <first key>', '', bearer(KEYS[0])],
      ['Authorization: Bearer <second key>', '', bearer(KEYS[1])],
      ['?token=<admin token>', `&token=${ADMIN}`, {}],
    ] as const)('is accepted with %s', async (_what, query, headers) => {
      expect(await upgrade(wsUrl(query), headers)).toEqual({ opened: true });
    });

    test('an accepted socket says connected', async () => {
      const ws = new WebSocket(wsUrl(`&token=${encodeURIComponent(KEYS[1])}`));
      const first = await new Promise<any>((resolve, reject) => {
        ws.once('message', (raw) => resolve(JSON.parse(raw.toString())));
        ws.once('error', reject);
      });
      expect(first.status).toBe('connected');
      ws.close();
    });
  });

  test('the admin token opens the client API too', async () => {
    for (const door of DOORS) {
      const res = await knock(bridge, door, 'admin-as-client', bearer(ADMIN));
      expect(`${door.name} ${res.status}`).not.toBe(`${door.name} 401`);
      expect(res.status).toBeLessThan(500);
    }
    const list = await call('GET', `${bridge.url}/workflow-list`, { headers: bearer(ADMIN) });
    expect(list.status).toBe(200);
    const submitted = await submit(bridge, 'admin-as-client-2', { workflow: 'invert' }, bearer(ADMIN));
    expect(submitted.status).toBe(200);
    await waitFinal(bridge, 'admin-as-client-2');
  });

  test('POST /free for every backend needs the admin token; a client key is not enough', async () => {
    for (const headers of [bearer(KEYS[0]), { ...bearer(KEYS[0]), 'x-admin-token': 'not-the-admin-token-at-all' }, { ...bearer(KEYS[0]), 'x-admin-token': KEYS[1] }]) {
      const before = await footprint(bridge, sims);
      const res = await call('POST', `${bridge.url}/free`, { headers });
      expect(res.status).toBe(403);
      expect(Object.keys(res.body)).toEqual(['detail']);
      expect(res.body.detail).toMatch(/admin/i);
      expect(await footprint(bridge, sims)).toEqual(before);
    }
  });

  test('POST /free for every backend with a client key and X-Admin-Token frees every backend', async () => {
    const freed = sims.map((s) => simEvent(s, 'free'));
    const res = await call('POST', `${bridge.url}/free`, { headers: { ...bearer(KEYS[1]), 'x-admin-token': ADMIN } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ detail: 'server memory free now / ALL' });
    await Promise.all(freed);
  });

  test('POST /free for every backend with the admin token as the bearer frees every backend', async () => {
    const freed = sims.map((s) => simEvent(s, 'free'));
    const res = await call('POST', `${bridge.url}/free`, { headers: bearer(ADMIN) });
    expect(res.status).toBe(200);
    await Promise.all(freed);
  });

  // The documented way to send the admin token (X-Admin-Token) also opens the client API.
  test('POST /free for every backend with only X-Admin-Token is allowed', async () => {
    const freed = sims.map((s) => simEvent(s, 'free'));
    const res = await call('POST', `${bridge.url}/free`, { headers: { 'x-admin-token': ADMIN } });
    expect(res.status).toBe(200);
    await Promise.all(freed);
  });

  test('POST /free?clientId= needs only the client key', async () => {
    const clientId = 'keyed-freer-01';
    expect((await submit(bridge, clientId, { workflow: 'invert' }, bearer(KEYS[0]))).status).toBe(200);
    await waitFinal(bridge, clientId, TENANTS[0]);
    const served = sims.find((s) => s.url === bridge.engine.jobsOf(clientId, undefined, TENANTS[0])[0].backend)!;
    const other = sims.find((s) => s !== served)!;
    const otherFrees = other.stats.frees;
    const freed = simEvent(served, 'free');
    const res = await call('POST', `${bridge.url}/free?clientId=${clientId}`, { headers: bearer(KEYS[0]) });
    expect(res.status).toBe(200);
    await freed;
    expect(other.stats.frees).toBe(otherFrees);
  });
});

describe('with only ADMIN_TOKEN set', () => {
  const ADMIN = 'only-the-admin-token-is-set-here';
  let sims: ComfySimulator[];
  let bridge: TestBridge;

  beforeAll(async () => {
    sims = await startSims(2);
    bridge = await startBridge(
      sims.map((s) => s.url),
      { ADMIN_TOKEN: ADMIN },
    );
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await Promise.all((sims ?? []).map((s) => s.close()));
  });

  test.each([
    ['no token', {}],
    ['a wrong X-Admin-Token', { 'x-admin-token': 'this-is-not-the-admin-token' }],
    ['the token with a character missing', { 'x-admin-token': ADMIN.slice(1) }],
  ] as const)('POST /free without clientId → 403 with %s, and no backend is freed', async (_what, headers) => {
    const before = await footprint(bridge, sims);
    const res = await call('POST', `${bridge.url}/free`, { headers });
    expect(res.status).toBe(403);
    expect(Object.keys(res.body)).toEqual(['detail']);
    expect(res.body.detail).toMatch(/admin token/);
    expect(await footprint(bridge, sims)).toEqual(before);
  });

  test('POST /free without clientId → 200 with X-Admin-Token, and every backend saw the free', async () => {
    const freed = sims.map((s) => simEvent<Record<string, unknown>>(s, 'free'));
    const res = await call('POST', `${bridge.url}/free`, { headers: { 'x-admin-token': ADMIN } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ detail: 'server memory free now / ALL' });
    for (const body of await Promise.all(freed)) expect(body).toMatchObject({ unload_models: true, free_memory: true });
  });

  test('POST /free?clientId= does not need the token and frees only that client’s backend', async () => {
    const clientId = 'admin-free-client';
    expect((await submit(bridge, clientId, { workflow: 'invert' })).status).toBe(200);
    await waitFinal(bridge, clientId);
    const served = sims.find((s) => s.url === bridge.engine.jobsOf(clientId)[0].backend)!;
    const other = sims.find((s) => s !== served)!;
    const otherFrees = other.stats.frees;
    const freed = simEvent(served, 'free');
    const res = await call('POST', `${bridge.url}/free?clientId=${clientId}`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ detail: `server memory free now / ${clientId}` });
    await freed;
    expect(other.stats.frees).toBe(otherFrees);
  });

  test('the client API stays open without a key', async () => {
    for (const door of DOORS) {
      const res = await knock(bridge, door, 'admin-free-client');
      expect([`${door.name} 401`, `${door.name} 403`]).not.toContain(`${door.name} ${res.status}`);
      expect(res.status).toBeLessThan(500);
    }
    expect(await upgrade(`${bridge.wsUrl}/ws?clientId=admin-free-client`)).toEqual({ opened: true });
  });
});

// ── an open bridge, clientId rules and ownership ────────────────────────────────────────────

describe('with neither API_KEYS nor ADMIN_TOKEN', () => {
  let sim: ComfySimulator;
  let bridge: TestBridge;

  beforeAll(async () => {
    [sim] = await startSims(1);
    bridge = await startBridge([sim.url], { BACKEND_PREFETCH: '0' });
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await sim?.close();
  });

  test('every endpoint answers without a key, and POST /free frees every backend', async () => {
    const clientId = 'open-door-client';
    const answers: Record<string, number> = {};
    for (const door of DOORS) {
      const res = await knock(bridge, door, clientId);
      answers[door.name] = res.status;
      expect(res.headers.get('www-authenticate')).toBeNull();
      if (door.name === 'generate-based-workflow') await waitFinal(bridge, clientId);
    }
    expect(answers).toEqual({
      'workflow-list': 200,
      'workflow-info': 200,
      upload: 200,
      'generate-based-workflow': 200,
      'execution-info': 200,
      history: 200,
      interrupt: 200,
      free: 200,
      'generation-count': 200,
    });
    const freed = simEvent(sim, 'free');
    const all = await call('POST', `${bridge.url}/free`);
    expect(all.status).toBe(200);
    await freed;
    expect(await upgrade(`${bridge.wsUrl}/ws?clientId=${clientId}`)).toEqual({ opened: true });
  });

  const BAD_IDS: [string, string][] = [
    ['too short', 'short'],
    ['129 characters', 'x'.repeat(129)],
    ['a path', 'a/b/../../x'],
    ['with a space', 'has a space'],
    ['with a slash', 'abcdefgh/ij'],
  ];
  const ID_DOORS = DOORS.filter((d) => d.path('CLIENT').includes('CLIENT'));

  describe.each(BAD_IDS)('a clientId %s', (_what, badId) => {
    test.each(ID_DOORS.map((d) => [d.name, d] as const))('%s → 400 saying what a clientId must be; nothing happens', async (_name, door) => {
      const before = await footprint(bridge, [sim]);
      const res = await knock(bridge, door, encodeURIComponent(badId));
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(/clientId/);
      expect(res.body.detail).toMatch(/8 to 128/);
      expect(res.body.detail).toMatch(/letters, digits/);
      expect(await footprint(bridge, [sim])).toEqual(before);
      expect(bridge.engine.jobsOf(badId)).toEqual([]);
    });

    test('upload?clientId= → 400', async () => {
      const res = await call('POST', `${bridge.url}/upload?clientId=${encodeURIComponent(badId)}`, { form: pngForm() });
      expect(res.status).toBe(400);
      expect(res.body.detail).toMatch(/8 to 128/);
    });

    test('the websocket → 400 before the upgrade', async () => {
      const res = await upgrade(`${bridge.wsUrl}/ws?clientId=${encodeURIComponent(badId)}`);
      expect(res).toMatchObject({ opened: false, status: 400 });
    });
  });

  test.each([
    ['8 characters', 'abcd-123'],
    ['128 characters', 'A'.repeat(64) + '_.:@-'.repeat(12) + 'z'.repeat(4)],
  ])('a clientId of %s is accepted', async (_what, clientId) => {
    expect(clientId).toMatch(/^[A-Za-z0-9_.:@-]{8,128}$/);
    const res = await submit(bridge, clientId, { workflow: 'invert' });
    expect(res.status).toBe(200);
    await waitFinal(bridge, clientId);
    const history = await call('GET', `${bridge.url}/history?clientId=${encodeURIComponent(clientId)}`);
    expect(history.status).toBe(200);
    expect(history.body).toHaveLength(1);
  });

  test('one client cannot read, collect, follow or cancel another client’s jobs', async () => {
    const X = 'owner-client-x';
    const Y = 'other-client-y';
    const y = await TestClient.connect(bridge, Y);

    // X's job finishes; Y sees none of it.
    expect((await submit(bridge, X, { workflow: 'invert', '1/color': 4321 })).status).toBe(200);
    await waitFinal(bridge, X);
    expect((await call('GET', `${bridge.url}/history?clientId=${Y}`)).status).toBe(204);
    const info = await call('GET', `${bridge.url}/execution-info?clientId=${Y}`);
    expect(info.status).toBe(404);
    expect((await call('POST', `${bridge.url}/free?clientId=${Y}`)).status).toBe(404);
    // X's results were not taken by Y's requests.
    const mine = await call('GET', `${bridge.url}/history?clientId=${X}`);
    expect(mine.status).toBe(200);
    expect(mine.body).toHaveLength(1);

    // X's next job runs; Y's interrupt leaves it alone.
    const started = simEvent<string>(sim, 'started');
    expect((await submit(bridge, X, sleepJob())).status).toBe(200);
    const runningId = await started;
    const job = bridge.engine.jobsOf(X).find((j) => j.id === runningId)!;
    await jobRunning(bridge, X);
    const interrupts = sim.stats.interrupts;
    const res = await call('POST', `${bridge.url}/interrupt?clientId=${Y}`);
    expect(res.status).toBe(200);
    expect(sim.stats.interrupts).toBe(interrupts);
    expect(job.state).toBe('running');
    expect((await call('GET', `${bridge.url}/execution-info?clientId=${Y}`)).status).toBe(404);
    expect((await call('GET', `${bridge.url}/history?clientId=${Y}`)).status).toBe(204);

    hurry(sim);
    try {
      await waitFinal(bridge, X);
    } finally {
      sim.setSpeed(1);
    }
    expect(job.state).toBe('completed');
    expect(sim.stats.interrupts).toBe(interrupts);
    // Y's socket heard nothing about X's work.
    expect(y.statuses()).toEqual(['connected']);
    y.close();
    expect(bridge.engine.jobsOf(Y)).toEqual([]);
  });
});

// ── limits ──────────────────────────────────────────────────────────────────────────────────

describe('MAX_JOBS_PER_CLIENT=2', () => {
  let sim: ComfySimulator;
  let bridge: TestBridge;

  beforeAll(async () => {
    [sim] = await startSims(1);
    bridge = await startBridge([sim.url], { BACKEND_PREFETCH: '0', MAX_JOBS_PER_CLIENT: '2' });
    await backendsUp(bridge);
  });

  afterEach(async () => {
    // Whatever a test left unfinished is run out before the next one.
    sim.setSpeed(1_000_000);
    const clients = new Set(unfinished(bridge).map((j) => j.clientId));
    await Promise.all([...clients].map((c) => waitFinal(bridge, c)));
    sim.setSpeed(1);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await sim?.close();
  });

  test('the third unfinished job of a client → 429 with Retry-After; others still submit; after finishing it submits again', async () => {
    const A = 'limited-client-a';
    const B = 'limited-client-b';
    const started = simEvent<string>(sim, 'started');
    expect((await submit(bridge, A, sleepJob())).status).toBe(200);
    await started;
    // The second waits in the bridge (nothing is prefetched): waiting jobs count too.
    expect((await submit(bridge, A, sleepJob())).status).toBe(200);
    expect(bridge.engine.jobsOf(A).map((j) => j.state).sort()).toEqual(['queued', 'running']);

    const count = bridge.engine.generationCount.value;
    const refused = await submit(bridge, A, { workflow: 'invert' });
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toMatch(RETRY_AFTER);
    expect(refused.body.detail).toContain('MAX_JOBS_PER_CLIENT');
    expect(refused.body.detail).toMatch(/\b2\b/);
    expect(bridge.engine.jobsOf(A)).toHaveLength(2);
    expect(bridge.engine.generationCount.value).toBe(count);

    const other = await submit(bridge, B, { workflow: 'invert' });
    expect(other.status).toBe(200);

    hurry(sim);
    await waitFinal(bridge, A);
    sim.setSpeed(1);
    expect(bridge.engine.jobsOf(A).map((j) => j.state)).toEqual(['completed', 'completed']);
    // Finished but not collected: they no longer count.
    expect(bridge.engine.jobsOf(A).every((j) => j.collectedAt === undefined)).toBe(true);
    const again = await submit(bridge, A, { workflow: 'invert' });
    expect(again.status).toBe(200);
    await Promise.all([waitFinal(bridge, A), waitFinal(bridge, B)]);
    expect(bridge.engine.jobsOf(B).map((j) => j.state)).toEqual(['completed']);
    expect(bridge.engine.generationCount.value).toBe(count + 2);
  });

  test('a burst of simultaneous submissions from one client gets exactly two through', async () => {
    const C = 'bursting-client-c';
    const answers = await Promise.all(Array.from({ length: 6 }, () => submit(bridge, C, sleepJob())));
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429, 429, 429]);
    expect(bridge.engine.jobsOf(C)).toHaveLength(2);
  });

  test('cancelled jobs free the client’s slots too', async () => {
    const D = 'cancelling-client-d';
    expect((await submit(bridge, D, sleepJob())).status).toBe(200);
    expect((await submit(bridge, D, sleepJob())).status).toBe(200);
    expect((await submit(bridge, D, sleepJob())).status).toBe(429);
    expect((await call('POST', `${bridge.url}/interrupt?clientId=${D}`)).status).toBe(200);
    await waitFinal(bridge, D);
    expect((await submit(bridge, D, { workflow: 'invert' })).status).toBe(200);
  });
});

describe('MAX_QUEUE=3', () => {
  let sim: ComfySimulator;
  let bridge: TestBridge;

  beforeAll(async () => {
    [sim] = await startSims(1);
    bridge = await startBridge([sim.url], { BACKEND_PREFETCH: '0', MAX_QUEUE: '3' });
    await backendsUp(bridge);
  });

  afterEach(async () => {
    sim.setSpeed(1_000_000);
    const clients = new Set(unfinished(bridge).map((j) => j.clientId));
    await Promise.all([...clients].map((c) => waitFinal(bridge, c)));
    sim.setSpeed(1);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await sim?.close();
  });

  test('the fourth unfinished job → 503 with Retry-After; the three accepted all complete and only they are counted', async () => {
    const before = (await call('GET', `${bridge.url}/generation-count`)).body as number;
    const clients = ['queued-client-1', 'queued-client-2', 'queued-client-3'];
    const started = simEvent<string>(sim, 'started');
    expect((await submit(bridge, clients[0], sleepJob())).status).toBe(200);
    await started;
    expect((await submit(bridge, clients[1], sleepJob())).status).toBe(200);
    expect((await submit(bridge, clients[2], sleepJob())).status).toBe(200);

    const refused = await submit(bridge, 'queued-client-4', { workflow: 'invert' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(RETRY_AFTER);
    expect(refused.body.detail).toContain('MAX_QUEUE');
    expect(bridge.engine.jobsOf('queued-client-4')).toEqual([]);
    expect((await call('GET', `${bridge.url}/execution-info?clientId=queued-client-4`)).status).toBe(404);

    hurry(sim);
    for (const c of clients) await waitFinal(bridge, c);
    sim.setSpeed(1);
    for (const c of clients) {
      expect(bridge.engine.jobsOf(c).map((j) => j.state)).toEqual(['completed']);
      const res = await call('GET', `${bridge.url}/history?clientId=${c}`);
      expect(res.status).toBe(200);
      expect(res.body).toHaveLength(1);
    }
    expect((await call('GET', `${bridge.url}/generation-count`)).body).toBe(before + 3);
    expect(sim.receivedPrompts()).toHaveLength(3);

    // With room again, the refused client gets in.
    expect((await submit(bridge, 'queued-client-4', { workflow: 'invert' })).status).toBe(200);
    await waitFinal(bridge, 'queued-client-4');
    expect((await call('GET', `${bridge.url}/generation-count`)).body).toBe(before + 4);
  });

  // Requests that arrive together are counted while their store write is under way.
  test('a burst of simultaneous submissions from different clients gets exactly three through', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => submit(bridge, `burst-client-${i + 1}`, sleepJob())));
    const accepted = answers.filter((a) => a.status === 200).length;
    expect(unfinished(bridge).length).toBeLessThanOrEqual(3);
    expect(accepted).toBe(3);
    expect(answers.filter((a) => a.status === 503)).toHaveLength(3);
  });
});

// ── CORS ────────────────────────────────────────────────────────────────────────────────────

describe('CORS_ORIGINS=https://app.example.com (with API_KEYS)', () => {
  const ORIGIN = 'https://app.example.com';
  const KEY = 'browser-app-key-0000001';
  let sim: ComfySimulator;
  let bridge: TestBridge;

  beforeAll(async () => {
    [sim] = await startSims(1);
    bridge = await startBridge([sim.url], { CORS_ORIGINS: ORIGIN, API_KEYS: KEY });
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await sim?.close();
  });

  const preflight = (origin: string, path = '/generate-based-workflow?clientId=browser-client') =>
    call('OPTIONS', `${bridge.url}${path}`, {
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });

  test('a request from the allowed origin gets Access-Control-Allow-Origin and Vary: Origin', async () => {
    const res = await call('GET', `${bridge.url}/workflow-list`, { headers: { origin: ORIGIN, ...bearer(KEY) } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/i);
    // so a page can read when to come back after a 429 or 503
    expect(res.headers.get('access-control-expose-headers')).toMatch(/\bRetry-After\b/i);
  });

  test('a preflight from the allowed origin → 204 with Allow-Methods and Allow-Headers, without a key', async () => {
    const res = await preflight(ORIGIN);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const methods = (res.headers.get('access-control-allow-methods') ?? '').split(',').map((s) => s.trim());
    expect(methods).toEqual(expect.arrayContaining(['GET', 'POST']));
    const allowed = (res.headers.get('access-control-allow-headers') ?? '').split(',').map((s) => s.trim().toLowerCase());
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type']));
    expect(res.headers.get('vary')).toMatch(/\bOrigin\b/i);
    expect(bridge.engine.jobsOf('browser-client')).toEqual([]);
  });

  test('a refusal from the allowed origin is readable by the page (401 carries the CORS headers)', async () => {
    const res = await call('GET', `${bridge.url}/workflow-list`, { headers: { origin: ORIGIN } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(ORIGIN);
  });

  test.each(['https://evil.example.com', 'http://app.example.com', 'https://app.example.com.evil.net', 'https://app.example.com:8443', 'null'])(
    'origin %s gets no CORS headers, on requests or preflights',
    async (origin) => {
      const res = await call('GET', `${bridge.url}/workflow-list`, { headers: { origin, ...bearer(KEY) } });
      expect(res.status).toBe(200);
      const pre = await preflight(origin);
      for (const r of [res, pre]) {
        for (const h of ['access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'access-control-allow-credentials']) {
          expect(r.headers.get(h)).toBeNull();
        }
      }
    },
  );

  test('a request without Origin gets no CORS headers', async () => {
    const res = await call('GET', `${bridge.url}/workflow-list`, { headers: bearer(KEY) });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS_ORIGINS=*', () => {
  let sim: ComfySimulator;
  let bridge: TestBridge;

  beforeAll(async () => {
    [sim] = await startSims(1);
    bridge = await startBridge([sim.url], { CORS_ORIGINS: '*' });
    await backendsUp(bridge);
  });

  afterAll(async () => {
    await bridge?.dispose();
    await sim?.close();
  });

  test.each(['https://app.example.com', 'https://anything.example.org', 'http://localhost:5173'])('origin %s is allowed', async (origin) => {
    const res = await call('GET', `${bridge.url}/workflow-list`, { headers: { origin } });
    expect(res.status).toBe(200);
    expect(['*', origin]).toContain(res.headers.get('access-control-allow-origin'));
    const pre = await call('OPTIONS', `${bridge.url}/generate-based-workflow?clientId=any-browser-1`, {
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });
    expect(pre.status).toBe(204);
    expect(['*', origin]).toContain(pre.headers.get('access-control-allow-origin'));
    expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect((pre.headers.get('access-control-allow-headers') ?? '').toLowerCase()).toContain('content-type');
  });
});
