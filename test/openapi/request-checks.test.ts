// Routes whose requests are checked with the zod schemas of the OpenAPI document: each refusal
// keeps its door's shape and status and lists every problem at once.
import type { ComfySimulator } from '../../src/sim/index.js';
import { startSims } from '../e2e/harness.js';
import { startDoor } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';
import { mainDocument, compatDocument } from '../../src/openapi/document.js';
import { curatedPaths, NewBackend, SubmissionQuery, WorkflowSubmission } from '../../src/server/openapi.js';
import { JobSubmission, WorkflowJobSubmission, v2Paths } from '../../src/v2/openapi.js';
import { PromptRequest, compatPaths } from '../../src/compat/openapi.js';
import { BackendFields } from '../../src/engine/backend-spec.js';
import { CURATED_DOOR } from '../../src/server/sessions.js';

const KEY = 'checks-key-0123456789abcdef';
const ADMIN = 'checks-admin-0123456789abcdef';

let sim: ComfySimulator;
let bridge: CompatBridge;

beforeAll(async () => {
  [sim] = await startSims(1);
  bridge = await startDoor([sim.url], { API_KEYS: KEY, ADMIN_TOKEN: ADMIN });
});
afterAll(async () => {
  await bridge?.dispose();
  await sim?.close();
});

async function call(path: string, init: RequestInit & { headers?: Record<string, string> } = {}, base = bridge.url): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${KEY}`, ...init.headers } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

test('GET /admin/webhooks: every problem of the query in one {"detail"}', async () => {
  const admin = { 'x-admin-token': ADMIN, authorization: `Bearer ${ADMIN}` };
  const bad = await call('/admin/webhooks?status=lost&limit=0', { headers: admin });
  expect(bad.status).toBe(400);
  expect(bad.body.detail).toContain('status must be one of pending, delivered, dead');
  expect(bad.body.detail).toContain('limit must be a whole number from 1 to 500');
  const twice = await call('/admin/webhooks?limit=2&limit=3&cursor=x&cursor=y', { headers: admin });
  expect(twice.status).toBe(400);
  expect(twice.body.detail).toBe('"limit" is given more than once; "cursor" is given more than once');
  const good = await call('/admin/webhooks?status=dead&limit=500', { headers: admin });
  expect(good).toEqual({ status: 200, body: { deliveries: [], next_cursor: null } });
  // Empty parameters are absent ones.
  expect((await call('/admin/webhooks?status=&limit=', { headers: admin })).status).toBe(200);
});

test('GET /workflow-info without a workflow names the known ones', async () => {
  const res = await call('/workflow-info');
  expect(res.status).toBe(400);
  expect(res.body.detail).toMatch(/^workflow is required: add \?workflow=<alias>, one of .*txt2img/);
});

test('POST /api/v2/assets/from-hash: every problem of the body in one ErrorEnvelope', async () => {
  const post = (body: unknown) => call('/api/v2/assets/from-hash', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const bad = await post({ file_path: '', tags: ['ok', ''] });
  expect(bad.status).toBe(422);
  expect(bad.body.error.code).toBe('invalid_request');
  expect(bad.body.error.details.problems).toEqual([
    '"hash" is required: the blake3:<hex> of bytes you uploaded before',
    '"file_path" must be a file name of 1 to 1024 characters without control characters',
    '"tags" must be a list of at most 32 strings of 1 to 128 characters',
  ]);
  expect(bad.body.error.message).toBe(bad.body.error.details.problems.join('; '));
  const notObject = await post(['blake3:00']);
  expect(notObject.status).toBe(422);
  expect(notObject.body.error.message).toMatch(/^send a JSON object/);
});

// ── the envelopes of the submissions and of POST /admin/backends ────────────────────────────

const ADMIN_HEADERS = { 'x-admin-token': ADMIN, authorization: `Bearer ${ADMIN}` };
const post = (path: string, body: unknown, headers: Record<string, string> = {}, base?: string) =>
  call(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } }, base);

/** An operation's table entry in a door's paths (what the document is made from). */
const operation = (paths: Record<string, any>, path: string, method = 'post') => paths[path][method];
const bodySchema = (paths: Record<string, any>, path: string) => operation(paths, path).requestBody.content['application/json'].schema;

/** The document's JSON Schema of a component, and of an operation's parameter. */
const component = (doc: any, id: string) => doc.components.schemas[id];
const parameter = (doc: any, path: string, name: string) => doc.paths[path].post.parameters.find((p: { name: string }) => p.name === name);

const TIER = { type: 'string', enum: ['high', 'normal', 'low'] };

test('POST /generate-based-workflow: every problem of query and body in one {"detail"}', async () => {
  const bad = await post('/generate-based-workflow?clientId=short&priority=urgent', { priority: 7, '6/text': 'a cat' });
  expect(bad.status).toBe(400);
  expect(Object.keys(bad.body)).toEqual(['detail']);
  expect(bad.body.detail).toContain('clientId "short" is not valid: use 8 to 128 letters');
  expect(bad.body.detail).toContain('"priority" must be one of high, normal, low, got "urgent"');
  expect(bad.body.detail).toContain('"workflow" is required: one of ');
  expect(bad.body.detail).toContain('"priority" must be one of high, normal, low, got 7');
  const twice = await post('/generate-based-workflow?clientId=checks-client-1&priority=low', { workflow: 'txt2img', priority: 'normal' });
  expect([twice.status, twice.body.detail]).toEqual([400, '"priority" is "normal" in the body and "low" in the query; give it once']);
  const good = await post('/generate-based-workflow?clientId=checks-client-1&priority=low', { workflow: 'txt2img', priority: 'low' });
  expect(good.status).toBe(200);
  expect(bridge.engine.jobs(CURATED_DOOR).filter((j) => j.clientId === 'checks-client-1').map((j) => j.tier)).toEqual(['low']);
});

test('POST /generate-based-workflow is documented with the schemas it is checked with', () => {
  expect(operation(curatedPaths, '/generate-based-workflow').requestParams.query).toBe(SubmissionQuery);
  expect(bodySchema(curatedPaths, '/generate-based-workflow')).toBe(WorkflowSubmission);
  const doc = mainDocument();
  expect(component(doc, 'WorkflowSubmission').properties.priority.anyOf).toContainEqual(expect.objectContaining(TIER));
  expect(component(doc, 'WorkflowSubmission').required).toEqual(['workflow']);
  expect(parameter(doc, '/generate-based-workflow', 'priority')).toMatchObject({ in: 'query', schema: expect.objectContaining(TIER) });
  expect(parameter(doc, '/generate-based-workflow', 'priority').required ?? false).toBe(false);
  expect(parameter(doc, '/generate-based-workflow', 'clientId')).toMatchObject({ in: 'query', required: true });
});

test('POST /api/v2/jobs: every problem of the body in one ErrorEnvelope', async () => {
  const bad = await post('/api/v2/jobs', { workflow: 'txt2img', priority: 'urgent', speed: 1, webhook_url: 'https://example.com' });
  expect(bad.status).toBe(422);
  expect(bad.body.error.code).toBe('invalid_workflow');
  expect(bad.body.error.details).toEqual({
    problems: [
      '"workflow" must be an object of node id → {"class_type", "inputs"}',
      '"priority" must be one of high, normal, low, got "urgent"',
      '"webhook_url" is reserved for a later version of this API and not accepted yet',
      'unknown field "speed": this request takes "workflow", "priority"',
    ],
    field: 'workflow',
    fields: ['speed', 'webhook_url'],
    reserved: ['webhook_url'],
  });
  expect(bad.body.error.message).toBe(bad.body.error.details.problems.join('; '));
  const tier = await post('/api/v2/jobs', { workflow: { '1': { class_type: 'EmptyImage', inputs: {} } }, priority: 'top' });
  expect([tier.status, tier.body.error.code, tier.body.error.details.field]).toEqual([422, 'invalid_priority', 'priority']);
  const notObject = await post('/api/v2/jobs', ['x']);
  expect([notObject.status, notObject.body.error.code]).toEqual([400, 'invalid_request']);
  // The Idempotency-Key header is checked with the document's schema of it.
  const key = await post('/api/v2/jobs', { workflow: { '1': { class_type: 'EmptyImage', inputs: {} } } }, { 'idempotency-key': 'k'.repeat(256) });
  expect([key.status, key.body.error.code, key.body.error.message]).toEqual([400, 'invalid_request', 'Idempotency-Key must be 1 to 255 visible ASCII characters (a uuid is recommended)']);
  const header = (mainDocument() as any).paths['/api/v2/jobs'].post.parameters.find((p: { name: string }) => p.name === 'Idempotency-Key');
  expect(header).toMatchObject({ in: 'header', schema: { type: 'string', pattern: '^[\\x21-\\x7e]{1,255}$' } });
});

test('POST /api/v2/workflows/{alias}/jobs: every problem of the body in one ErrorEnvelope', async () => {
  const bad = await post('/api/v2/workflows/txt2img/jobs', { inputs: { workflow: 'x' }, priority: 3, colour: 'red' });
  expect(bad.status).toBe(422);
  expect(bad.body.error.code).toBe('invalid_inputs');
  expect(bad.body.error.details).toEqual({
    problems: ['unknown input "workflow"', '"priority" must be one of high, normal, low, got 3', 'unknown field "colour": this request takes "inputs", "priority"'],
    field: 'inputs',
    fields: ['colour'],
  });
  const notInputs = await post('/api/v2/workflows/txt2img/jobs', { inputs: [] });
  expect([notInputs.status, notInputs.body.error.code, notInputs.body.error.details.problems]).toEqual([422, 'invalid_inputs', ['"inputs" must be an object of "<node>/<input>": value']]);
});

test('the v2 job bodies are documented with the schemas the door checks them with', () => {
  // The door's schemas are the document's (no extension of this bridge reads a body field).
  expect(bridge.server.v2.graphBody).toBe(JobSubmission);
  expect(bridge.server.v2.workflowBody).toBe(WorkflowJobSubmission);
  expect(bodySchema(v2Paths, '/api/v2/jobs')).toBe(JobSubmission);
  expect(bodySchema(v2Paths, '/api/v2/workflows/{alias}/jobs')).toBe(WorkflowJobSubmission);
  const doc = mainDocument();
  for (const id of ['JobSubmission', 'WorkflowJobSubmission']) {
    expect(component(doc, id).additionalProperties).toBe(false);
    expect(component(doc, id).properties.priority.anyOf).toContainEqual(expect.objectContaining(TIER));
  }
  expect(component(doc, 'JobSubmission').required).toEqual(['workflow']);
});

test('POST /admin/backends: every problem of the body in one {"detail"}, documented with the schema it is checked with', async () => {
  const bad = await post('/admin/backends', { url: 5, labels: ['ok', 'not ok'], token: 'a b', colour: 'red' }, ADMIN_HEADERS);
  expect(bad.status).toBe(400);
  for (const part of ['unknown field "colour"', '"url" is required', '"token" must be a string of visible ASCII', 'label "not ok" is not']) expect(bad.body.detail).toContain(part);
  expect(bodySchema(curatedPaths, '/admin/backends')).toBe(NewBackend);
  expect(NewBackend).toBe(BackendFields);
  const doc = mainDocument();
  expect(component(doc, 'NewBackend')).toMatchObject({ type: 'object', required: ['url'], additionalProperties: false });
  expect(Object.keys(component(doc, 'NewBackend').properties)).toEqual(['url', 'labels', 'token', 'username', 'password']);
});

test('POST /prompt (ComfyUI door): every problem of the envelope in ComfyUI\'s one error, documented with the schema it is checked with', async () => {
  const bad = await post('/prompt', { prompt: { '1': { class_type: 'EmptyImage', inputs: {} } }, number: 'soon', extra_data: [], prompt_id: 'x', priority: 'urgent' }, {}, bridge.door);
  expect(bad.status).toBe(400);
  expect(bad.body.node_errors).toEqual({});
  expect(bad.body.error).toMatchObject({ type: 'invalid_prompt', message: 'Invalid number', extra_info: {} });
  const problems = bad.body.error.details.split('; ');
  expect(problems).toEqual([
    '"number" must be a number, got "soon"',
    '"extra_data" must be an object',
    expect.stringMatching(/^prompt_id must be a lowercase hyphenated UUID/),
    '"priority" must be one of high, normal, low, got "urgent"',
  ]);
  const tier = await post('/prompt', { prompt: { '1': { class_type: 'EmptyImage', inputs: {} } }, priority: 'top' }, {}, bridge.door);
  expect([tier.status, tier.body.error.type]).toEqual([400, 'invalid_priority']);
  expect(bodySchema(compatPaths, '/prompt')).toBe(PromptRequest);
  const doc = compatDocument() as any;
  expect(component(doc, 'ComfyPromptRequest').properties.priority.anyOf).toContainEqual(expect.objectContaining(TIER));
  expect(component(doc, 'ComfyPromptRequest').required).toEqual(['prompt']);
});
