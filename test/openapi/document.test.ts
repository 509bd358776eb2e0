// The OpenAPI documents of both doors: valid OpenAPI 3.1 (checked by a validator of the spec's own
// JSON Schema), served without a key, and naming exactly the routes each door's routers register.
import type Router from '@koa/router';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { ComfySimulator } from '../../src/sim/index.js';
import { openApiPath } from '../../src/openapi/common.js';
import { startSims } from '../e2e/harness.js';
import { startDoor } from '../compat/harness.js';
import type { CompatBridge } from '../compat/harness.js';

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Document {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
}

/** "GET /x/{id}" for every route the routers register (a GET's implied HEAD is the GET's). */
function registered(routers: Router[]): string[] {
  const routes = new Set<string>();
  for (const router of routers) {
    for (const layer of router.stack) {
      const methods = layer.methods.map((m) => m.toLowerCase());
      for (const method of methods) {
        if (method === 'head' && methods.includes('get')) continue;
        routes.add(`${method.toUpperCase()} ${openApiPath(String(layer.path))}`);
      }
    }
  }
  return [...routes].sort();
}

function documented(doc: Document): string[] {
  const routes: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) if (item[method] !== undefined) routes.push(`${method.toUpperCase()} ${path}`);
  }
  return routes.sort();
}

async function fetchDocument(base: string): Promise<Document> {
  const res = await fetch(`${base}/openapi.json`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Document;
}

async function expectValid(doc: Document): Promise<void> {
  const result = await new Validator().validate(doc as never);
  expect(result.errors).toBeUndefined();
  expect(result.valid).toBe(true);
  expect(doc.openapi).toBe('3.1.0');
}

describe('the OpenAPI documents', () => {
  let sim: ComfySimulator;
  let bridge: CompatBridge;
  let main: Document;
  let compat: Document;

  beforeAll(async () => {
    [sim] = await startSims(1);
    // Keys and an admin token: the documents are still open to all.
    bridge = await startDoor([sim.url], { API_KEYS: 'key-0123456789abcdef', ADMIN_TOKEN: 'admin-0123456789abcdef' });
    main = await fetchDocument(bridge.url);
    compat = await fetchDocument(bridge.door);
  });
  afterAll(async () => {
    await bridge?.dispose();
    await sim?.close();
  });

  test('are valid OpenAPI 3.1', async () => {
    await expectValid(main);
    await expectValid(compat);
  });

  test('the main port\'s names every route its routers register (curated, v2, operator, webhooks, dashboard), and no other', () => {
    const routes = registered(bridge.server.routers);
    expect(documented(main)).toEqual(routes);
    // Each part of the port is there.
    for (const route of ['POST /generate-based-workflow', 'POST /api/v2/jobs', 'HEAD /api/v2/assets/by-hash/{hash}', 'GET /admin/webhooks', 'POST /admin/backends', 'GET /dashboard/events', 'GET /readyz', 'GET /metrics', 'GET /docs']) {
      expect(routes).toContain(route);
    }
  });

  test('the ComfyUI-compatible door\'s names every route of that door, and no other', () => {
    const routes = registered(bridge.compat!.routers);
    expect(documented(compat)).toEqual(routes);
    for (const route of ['POST /prompt', 'GET /history', 'GET /view', 'POST /upload/image', 'GET /jobs/{job_id}', 'GET /openapi.json']) expect(routes).toContain(route);
  });

  test('the compatible door\'s document offers both of its path spaces, / and /api, but its reference only at /', () => {
    const servers = (compat as unknown as { servers: { url: string }[] }).servers.map((s) => s.url);
    expect(servers).toEqual(['/', '/api']);
    const reference = compat.paths['/openapi.json'] as { servers?: { url: string }[] };
    expect(reference.servers?.map((s) => s.url)).toEqual(['/']);
  });

  test('refusals are described in each door\'s own shape', () => {
    const op = (doc: Document, path: string, method: string) => doc.paths[path][method] as { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }> };
    expect(op(main, '/api/v2/jobs', 'post').responses['422'].content!['application/json'].schema.$ref).toBe('#/components/schemas/ErrorEnvelope');
    expect(op(main, '/generate-based-workflow', 'post').responses['400'].content!['application/json'].schema.$ref).toBe('#/components/schemas/Detail');
    expect(op(main, '/api/v2/jobs', 'post').responses['201'].content!['application/json'].schema.$ref).toBe('#/components/schemas/Job');
    expect(op(compat, '/prompt', 'post').responses['400'].content!['application/json'].schema.$ref).toBe('#/components/schemas/ComfyError');
  });
});
