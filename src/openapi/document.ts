// The OpenAPI 3.1 documents, made from the zod schemas each door checks its requests with: one
// for the main port (curated door, Comfy API v2 door, operator, webhook and dashboard routes), one
// for the ComfyUI-compatible door, whose port and paths are its own.
import { createRequire } from 'node:module';
import { createDocument } from 'zod-openapi';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { SECURITY_SCHEMES } from './common.js';
import { curatedPaths } from '../server/openapi.js';
import { v2Paths } from '../v2/openapi.js';
import { webhookPaths } from '../webhooks/openapi.js';
import { dashboardPaths } from '../dashboard/openapi.js';
import { compatPaths } from '../compat/openapi.js';
import { docsPaths } from './docs-paths.js';

export type OpenApiDocument = ReturnType<typeof createDocument>;

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

function document(title: string, description: string, paths: ZodOpenApiPathsObject, extra: { servers?: { url: string; description: string }[]; tags: { name: string; description: string }[] }): OpenApiDocument {
  return createDocument({
    openapi: '3.1.0',
    info: { title, version, description, license: { name: 'MIT', identifier: 'MIT' } },
    ...(extra.servers && { servers: extra.servers }),
    tags: extra.tags,
    paths,
    components: { securitySchemes: SECURITY_SCHEMES },
  });
}

/** The paths, each served by this server only. */
function onServer(paths: ZodOpenApiPathsObject, server: { url: string; description: string }): ZodOpenApiPathsObject {
  return Object.fromEntries(Object.entries(paths).map(([path, item]) => [path, { ...item, servers: [server] }]));
}

export function mainDocument(): OpenApiDocument {
  return document(
    'comfy-bridge',
    [
      'One API in front of a pool of stock ComfyUI servers. This port serves the curated door (workflow aliases, `clientId` sessions, `{"detail"}` refusals), the Comfy API v2 door under `/api/v2` (its ErrorEnvelope refusals), and the operator\'s routes.',
      '',
      'The websocket `/ws?clientId=<id>` of the curated door is not described here (OpenAPI has no words for it); see the README.',
      '',
      'The ComfyUI-compatible door listens on a port of its own (COMFY_COMPAT_PORT) and has its own document at that port\'s `/openapi.json`.',
    ].join('\n'),
    { ...curatedPaths, ...dashboardPaths, ...webhookPaths, ...v2Paths, ...docsPaths },
    {
      tags: [
        { name: 'curated', description: 'The curated door: workflow aliases and clientId sessions.' },
        { name: 'v2', description: 'The Comfy API v2 door.' },
        { name: 'operator', description: 'The operator\'s routes (admin token).' },
        { name: 'webhooks', description: 'Webhook deliveries (admin token).' },
        { name: 'dashboard', description: 'The operator\'s dashboard.' },
        { name: 'health', description: 'For load balancers and orchestrators.' },
        { name: 'reference', description: 'This document and its browsable page.' },
      ],
    },
  );
}

export function compatDocument(): OpenApiDocument {
  return document(
    'comfy-bridge: ComfyUI-compatible door',
    [
      'ComfyUI\'s own HTTP API in front of the whole pool, on its own port (COMFY_COMPAT_PORT): an existing ComfyUI client changes host:port and nothing else. Every path is served as is and under `/api` (the two servers below).',
      '',
      'Progress arrives on the websocket `/ws?clientId=<id>` (also `/api/ws`), with ComfyUI\'s messages; it is not described here.',
    ].join('\n'),
    // The reference itself is served as is only: ComfyUI has nothing under /api/openapi.json.
    { ...compatPaths, ...onServer(docsPaths, { url: '/', description: 'The reference is not served under /api' }) },
    {
      servers: [
        { url: '/', description: 'ComfyUI\'s paths' },
        { url: '/api', description: 'The same paths under /api, as ComfyUI serves them' },
      ],
      tags: [
        { name: 'comfyui', description: 'ComfyUI\'s API.' },
        { name: 'reference', description: 'This document and its browsable page.' },
      ],
    },
  );
}
