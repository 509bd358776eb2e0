// Client mistakes: each one is a 4xx JSON {"detail"} that says what is wrong, creates nothing,
// reaches no backend, and leaves other clients' work alone. Mistakes only a backend can see
// (validation, execution errors) reach the client on its socket and in execution-info.
import { v4 as uuidv4 } from 'uuid';
import { readPngText } from '../../src/sim/png.js';
import type { ComfySimulator } from '../../src/sim/index.js';
import { TestClient, backendsUp, getJson, postJson, readParts, simEvent, startSims, waitFinal } from './harness.js';
import type { TestBridge } from './harness.js';
import { footprint, send, startOwnBridge, tryUpgrade } from './support.js';
import type { Answer } from './support.js';

let sims: ComfySimulator[];
let bridge: TestBridge;

const BYSTANDER = 'bystander-keeps-going';
const BYSTANDER_COLOR = 0x123456;
const BYSTANDER_SECONDS = 60;
let bystander: TestClient;
let bystanderJobId: string;
let bystanderSim: ComfySimulator;

const WORKFLOWS = ['invert', 'txt2img', 'img2img'];

beforeAll(async () => {
  sims = await startSims(2);
  // One job per backend: the bystander holds one backend, everything else runs on the other.
  bridge = await startOwnBridge(
    sims.map((s) => s.url),
    { BACKEND_PREFETCH: '0' },
  );
  await backendsUp(bridge);

  bystander = await TestClient.connect(bridge, BYSTANDER);
  const started = Promise.race(sims.map((s) => simEvent<string>(s, 'started').then((id) => ({ id, sim: s }))));
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${BYSTANDER}`, {
    workflow: 'sleep.json',
    '1/color': BYSTANDER_COLOR,
    '2/seconds': BYSTANDER_SECONDS,
  });
  expect(res.status).toBe(200);
  bystanderJobId = bridge.engine.jobsOf(BYSTANDER)[0].id;
  const first = await started;
  expect(first.id).toBe(bystanderJobId);
  bystanderSim = first.sim;
});

afterAll(async () => {
  bystander?.close();
  await bridge?.dispose();
  await Promise.all((sims ?? []).map((s) => s.close()));
});

function expectRefused(res: Answer, status: number, ...says: (string | RegExp)[]): void {
  expect({ status: res.status, body: res.body }).toEqual({ status, body: { detail: expect.any(String) } });
  expect(res.contentType).toMatch(/^application\/json/);
  for (const s of says) {
    if (typeof s === 'string') expect(res.body.detail).toContain(s);
    else expect(res.body.detail).toMatch(s);
  }
}

/** Run a refused request and check it changed nothing anywhere. */
async function refusedCleanly(request: () => Promise<Answer>, status: number, ...says: (string | RegExp)[]): Promise<Answer> {
  const before = await footprint(bridge, sims);
  const res = await request();
  expectRefused(res, status, ...says);
  expect(await footprint(bridge, sims)).toEqual(before);
  return res;
}

const submit = (query: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  send(`${bridge.url}/generate-based-workflow${query}`, {
    method: 'POST',
    headers,
    body: typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
  });

const submitAs = (clientId: string, body: unknown) => submit(`?clientId=${encodeURIComponent(clientId)}`, body);

// ── clientId ─────────────────────────────────────────────────────────────────────────────────

const ENDPOINTS: { name: string; call: (query: string) => Promise<Answer> }[] = [
  { name: 'POST /generate-based-workflow', call: (q) => submit(q, { workflow: 'invert' }) },
  { name: 'GET /execution-info', call: (q) => send(`${bridge.url}/execution-info${q}`) },
  { name: 'GET /history', call: (q) => send(`${bridge.url}/history${q}`) },
  { name: 'POST /interrupt', call: (q) => send(`${bridge.url}/interrupt${q}`, { method: 'POST' }) },
];

const BAD_IDS: { what: string; query: string; says: RegExp }[] = [
  { what: 'missing', query: '', says: /clientId is required/ },
  { what: 'empty', query: '?clientId=', says: /clientId is required/ },
  { what: 'too short', query: '?clientId=short', says: /"short" is not valid.*8 to 128/ },
  { what: 'too long', query: `?clientId=${'a'.repeat(129)}`, says: /is not valid.*8 to 128/ },
  { what: 'with a space and !', query: '?clientId=bad%20id%21%21', says: /"bad id!!" is not valid/ },
  { what: 'with a slash', query: '?clientId=abc%2Fdefghij', says: /"abc\/defghij" is not valid/ },
  { what: 'repeated', query: '?clientId=repeat-client-1&clientId=repeat-client-2', says: /"clientId" is given more than once/ },
];

describe.each(ENDPOINTS)('$name', ({ call }) => {
  test.each(BAD_IDS)('clientId $what → 400 naming the problem', async ({ query, says }) => {
    await refusedCleanly(() => call(query), 400, says);
  });
});

test('a clientId of exactly 8 and of exactly 128 allowed characters is accepted', async () => {
  for (const id of ['Az09_.:@', `${'x'.repeat(127)}-`]) {
    const res = await getJson(`${bridge.url}/execution-info?clientId=${encodeURIComponent(id)}`);
    expect(res.status).toBe(404); // valid, simply unknown
    expect(res.body.detail).toContain(id);
  }
});

test('POST /interrupt with the bystander id repeated is refused and cancels nothing', async () => {
  await refusedCleanly(
    () => send(`${bridge.url}/interrupt?clientId=${BYSTANDER}&clientId=${BYSTANDER}`, { method: 'POST' }),
    400,
    /more than once/,
  );
  expect(bridge.engine.jobsOf(BYSTANDER)[0].state).toBe('running');
});

describe('WS /ws upgrade', () => {
  test.each(BAD_IDS.filter((b) => b.what !== 'repeated'))('clientId $what → 400 JSON before the upgrade', async ({ query }) => {
    const before = await footprint(bridge, sims);
    const res = await tryUpgrade(`${bridge.wsUrl}/ws${query}`);
    expect(res.opened).toBe(false);
    if (res.opened) return;
    expect(res.status).toBe(400);
    expect(res.contentType).toMatch(/^application\/json/);
    expect(res.body).toEqual({ detail: expect.stringMatching(/clientId/) });
    expect(await footprint(bridge, sims)).toEqual(before);
  });

  // A repeated clientId is refused before the upgrade, as on every HTTP endpoint.
  test('clientId repeated → 400 before the upgrade', async () => {
    const res = await tryUpgrade(`${bridge.wsUrl}/ws?clientId=repeat-client-1&clientId=repeat-client-2`);
    expect(res).toEqual({ opened: false, status: 400, contentType: expect.stringMatching(/^application\/json/), body: { detail: expect.stringMatching(/more than once/) } });
  });

  test('a valid clientId is upgraded (the refusals above are about the clientId only)', async () => {
    expect(await tryUpgrade(`${bridge.wsUrl}/ws?clientId=valid-ws-client`)).toEqual({ opened: true });
  });
});

// ── the body ─────────────────────────────────────────────────────────────────────────────────

const CLIENT = 'bad-body-client';

test('malformed JSON → 400', async () => {
  await refusedCleanly(() => submitAs(CLIENT, '{"workflow": "invert",'), 400, /malformed JSON/);
  await refusedCleanly(() => submitAs(CLIENT, "{'workflow': 'invert'}"), 400, /malformed JSON/);
});

test.each([
  { what: 'an array', body: '[{"workflow": "invert"}]' },
  { what: 'a string', body: '"invert"' },
  { what: 'a number', body: '42' },
  { what: 'null', body: 'null' },
  { what: 'true', body: 'true' },
])('a body that is $what → 400 asking for a JSON object', async ({ body }) => {
  await refusedCleanly(() => submitAs(CLIENT, body), 400, /object/);
});

test.each<{ what: string; headers: Record<string, string>; body: string | Uint8Array }>([
  { what: 'application/x-www-form-urlencoded', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'workflow=invert' },
  { what: 'multipart/form-data', headers: { 'content-type': 'multipart/form-data; boundary=xyz' }, body: '--xyz\r\nContent-Disposition: form-data; name="workflow"\r\n\r\ninvert\r\n--xyz--\r\n' },
  { what: 'application/octet-stream', headers: { 'content-type': 'application/octet-stream' }, body: JSON.stringify({ workflow: 'invert' }) },
  { what: 'no content type', headers: {}, body: new Uint8Array(Buffer.from(JSON.stringify({ workflow: 'invert' }))) },
])('a body sent as $what → 415', async ({ headers, body }) => {
  await refusedCleanly(() => submit(`?clientId=${CLIENT}`, body, headers), 415, /application\/json/);
});

test('a JSON body over 2 MB → 413', async () => {
  const huge = JSON.stringify({ workflow: 'txt2img', '6/text': 'x'.repeat(2 * 1024 * 1024 + 10) });
  await refusedCleanly(() => submitAs(CLIENT, huge), 413, /too large/);
});

// ── workflow and inputs ──────────────────────────────────────────────────────────────────────

test.each([
  { what: 'no workflow field', body: {} },
  { what: 'only inputs', body: { '6/text': 'a cat' } },
  { what: 'an empty workflow', body: { workflow: '' } },
  { what: 'a workflow that is not a string', body: { workflow: ['txt2img'] } },
])('$what → 400 naming the available workflows', async ({ body }) => {
  await refusedCleanly(() => submitAs(CLIENT, body), 400, /"workflow" is required/, ...WORKFLOWS);
});

test('an unknown workflow → 400 naming it and the available ones', async () => {
  await refusedCleanly(() => submitAs(CLIENT, { workflow: 'text2image' }), 400, '"text2image"', ...WORKFLOWS);
});

test('an unknown input key → 400 naming it and the accepted keys', async () => {
  await refusedCleanly(() => submitAs(CLIENT, { workflow: 'txt2img', '3/sampler_name': 'dpm' }), 400, 'unknown input "3/sampler_name"', '3/seed', '3/steps', '3/cfg', '6/text', '7/text');
});

test.each([
  { what: 'a string for an int', key: '3/seed', value: '12', says: '"3/seed" must be an int, got string "12"' },
  { what: 'a float for an int', key: '3/steps', value: 1.5, says: '"3/steps" must be an int, got number 1.5' },
  { what: 'null for an int', key: '3/seed', value: null, says: '"3/seed" must be an int, got null' },
  { what: 'an object for a float', key: '3/cfg', value: { v: 7 }, says: '"3/cfg" must be a float, got an object' },
  { what: 'a string for a float', key: '3/cfg', value: '7.5', says: '"3/cfg" must be a float, got string "7.5"' },
  { what: 'an array for a string', key: '6/text', value: ['a', 'cat'], says: '"6/text" must be a string, got an array' },
  { what: 'a number for a string', key: '6/text', value: 5, says: '"6/text" must be a string, got number 5' },
  { what: 'a bool for an int', key: '3/seed', value: true, says: '"3/seed" must be an int, got boolean true' },
])('$what → 400 that says so', async ({ key, value, says }) => {
  await refusedCleanly(() => submitAs(CLIENT, { workflow: 'txt2img', [key]: value }), 400, says);
});

test('several problems in one request → one 400 listing every one of them', async () => {
  const res = await refusedCleanly(
    () => submitAs(CLIENT, { workflow: 'txt2img', '3/seed': 'abc', '3/steps': 2.5, '3/cfg': null, '6/text': {}, '9/filename_prefix': 'x', bogus: 1 }),
    400,
    '"3/seed" must be an int',
    '"3/steps" must be an int',
    '"3/cfg" must be a float',
    '"6/text" must be a string',
    'unknown input "9/filename_prefix"',
    'unknown input "bogus"',
  );
  expect(res.body.detail.split('; ')).toHaveLength(6);
});

// ── file inputs ──────────────────────────────────────────────────────────────────────────────

test.each([
  { what: 'a relative path out of the upload folder', value: '../../etc/passwd' },
  { what: 'an absolute path', value: '/etc/passwd' },
  { what: 'a Windows-style relative path', value: '..\\x.png' },
  { what: 'an upload-shaped name behind ../', value: `../${uuidv4()}.png` },
  { what: 'an upload-shaped name in a subfolder', value: `sub/${uuidv4()}.png` },
  { what: 'a file of the backend input folder', value: 'example.png' },
  { what: 'an empty string', value: '' },
])('img2img "1/image" given $what → 400, nothing reaches a backend', async ({ value }) => {
  await refusedCleanly(() => submitAs(CLIENT, { workflow: 'img2img', '1/image': value }), 400, '"1/image" must be the name POST /upload returned');
});

test('img2img "1/image" given an upload name that was never uploaded → 400, nothing reaches a backend', async () => {
  const name = `${uuidv4()}.png`;
  await refusedCleanly(() => submitAs(CLIENT, { workflow: 'img2img', '1/image': name }), 400, `${name} was not uploaded`, 'POST /upload');
});

// File-input problems are listed together with every other problem.
test('a path-escaping "1/image" together with another problem → the 400 lists both', async () => {
  await refusedCleanly(() => submitAs(CLIENT, { workflow: 'img2img', '1/image': '../../etc/passwd', '6/seed': 'abc' }), 400, '"6/seed"', '"1/image"');
});

// ── endpoints and methods ────────────────────────────────────────────────────────────────────

test.each([
  ['GET', '/nope'],
  ['POST', '/generate'],
  ['GET', '/workflow-list/extra'],
  ['GET', '/ws'],
])('%s %s (no such endpoint) → 404 JSON', async (method, path) => {
  await refusedCleanly(() => send(`${bridge.url}${path}`, { method }), 404, `no such endpoint: ${method} ${path}`);
});

const WRONG_METHODS: [string, string, string][] = [
  ['GET', '/generate-based-workflow?clientId=wrong-method-1', 'POST'],
  ['POST', '/workflow-list', 'GET'],
  ['PUT', '/execution-info?clientId=wrong-method-1', 'GET'],
  ['GET', '/interrupt?clientId=wrong-method-1', 'POST'],
  ['DELETE', '/history?clientId=wrong-method-1', 'GET'],
  ['GET', '/upload', 'POST'],
];

test.each(WRONG_METHODS)('%s %s → 405 with Allow: %s', async (method, path, allowed) => {
  const before = await footprint(bridge, sims);
  const res = await fetch(`${bridge.url}${path}`, { method });
  await res.arrayBuffer();
  expect(res.status).toBe(405);
  expect(res.headers.get('allow')).toContain(allowed);
  expect(await footprint(bridge, sims)).toEqual(before);
});

// A wrong method gets a JSON {detail} like every other mistake.
test.each(WRONG_METHODS)('%s %s → 405 answers JSON {detail}', async (method, path) => {
  const res = await send(`${bridge.url}${path}`, { method });
  expectRefused(res, 405, /method|allowed/i);
});

// ── mistakes only a backend can see ──────────────────────────────────────────────────────────

// The bridge holds exposed inputs to the backends' ranges, so the mistake sits in an input the
// workflow does not expose: EmptyImage's width is 0 in the fixture.
test('a prompt the backend rejects (width 0) → error on the socket naming node, input and reason, then closed', async () => {
  const clientId = 'rejected-client-01';
  const client = await TestClient.connect(bridge, clientId);
  const rejectedBefore = sims.map((s) => s.stats.rejected);
  const promptsBefore = sims.map((s) => s.stats.prompts);

  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'backend-rejects.json', '1/color': 7 });
  expect(res.status).toBe(200);
  const error = await client.next((m) => m.status === 'error');
  await client.next((m) => m.status === 'closed');
  expect(await client.closed).toBe(1000);

  expect(error.detail).toContain('rejected');
  expect(error.detail).toMatch(/node 1\b/);
  expect(error.detail).toContain('"width"');
  expect(error.detail).toContain('Value 0 smaller than min of 1');
  const statuses = client.statuses();
  expect(statuses.indexOf('error')).toBeLessThan(statuses.indexOf('closed'));
  expect(statuses[statuses.length - 1]).toBe('closed');

  // The backend saw it once, refused it, and queued nothing; the bridge did not retry it.
  const jobId = bridge.engine.jobsOf(clientId)[0].id;
  const received = sims.flatMap((s) => s.receivedPrompts().filter((p) => p.promptId === jobId));
  expect(received).toHaveLength(1);
  expect(received[0].prompt['1'].inputs.width).toBe(0);
  expect(sims.map((s) => s.stats.rejected).reduce((a, b) => a + b)).toBe(rejectedBefore.reduce((a, b) => a + b) + 1);
  expect(sims.map((s) => s.stats.prompts)).toEqual(promptsBefore);

  const info = await getJson(`${bridge.url}/execution-info?clientId=${clientId}`);
  expect(info.body).toEqual({ status: 'error', detail: error.detail });
  expect((await fetch(`${bridge.url}/history?clientId=${clientId}`)).status).toBe(204);
});

test('an execution error on the backend → error on the socket naming node and exception, then closed', async () => {
  const clientId = 'failing-client-01';
  const client = await TestClient.connect(bridge, clientId);
  const res = await postJson(`${bridge.url}/generate-based-workflow?clientId=${clientId}`, { workflow: 'fail.json', '1/color': 99 });
  expect(res.status).toBe(200);
  const error = await client.next((m) => m.status === 'error');
  await client.next((m) => m.status === 'closed');
  expect(await client.closed).toBe(1000);

  expect(error.detail).toMatch(/node 2\b/);
  expect(error.detail).toContain('TestSyncError');
  expect(error.detail).toContain('RuntimeError');
  expect(error.detail).toContain('Intentional sync execution error for testing');
  const statuses = client.statuses();
  expect(statuses.indexOf('error')).toBeLessThan(statuses.indexOf('closed'));
  expect(statuses[statuses.length - 1]).toBe('closed');

  const info = await getJson(`${bridge.url}/execution-info?clientId=${clientId}`);
  expect(info.body).toEqual({ status: 'error', detail: error.detail });
  expect(bridge.engine.jobsOf(clientId).map((j) => j.state)).toEqual(['failed']);
});

// ── nobody else was touched ──────────────────────────────────────────────────────────────────

test('the bystander job submitted before all of the above runs to completion with its own values', async () => {
  // Everything above happened while it ran.
  const job = bridge.engine.jobsOf(BYSTANDER)[0];
  expect(job.id).toBe(bystanderJobId);
  expect(job.state).toBe('running');
  expect(job.backend).toBe(bystanderSim.url);
  expect(bystander.statuses()).not.toContain('error');

  bystanderSim.setSpeed(10_000);
  const closed = await bystander.next((m) => m.status === 'closed');
  expect(closed.detail).toBe('Execution is done');
  await waitFinal(bridge, BYSTANDER);
  expect(bridge.engine.jobsOf(BYSTANDER).map((j) => j.state)).toEqual(['completed']);
  expect(bystander.statuses()).not.toContain('error');
  expect(bystander.statuses()).toContain('progress');

  const res = await fetch(`${bridge.url}/history?clientId=${BYSTANDER}`);
  expect(res.status).toBe(200);
  const parts = await readParts(res);
  expect(parts).toHaveLength(1);
  expect(parts[0].type).toBe('image/png');
  const prompt = JSON.parse(readPngText(parts[0].bytes).prompt);
  expect(prompt['1'].inputs.color).toBe(BYSTANDER_COLOR);
  expect(prompt['2'].inputs.seconds).toBe(BYSTANDER_SECONDS);
  // It ran exactly once, on its backend, as submitted.
  const received = sims.flatMap((s) => s.receivedPrompts().filter((p) => p.promptId === bystanderJobId));
  expect(received).toHaveLength(1);
});
