// The dashboard's routes in the OpenAPI document: the page and its files (open), the live feed and
// the operator's actions on it.
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { OPEN, OPERATOR, jsonResponse } from '../openapi/common.js';
import { Detail, refusals } from '../server/openapi.js';

const page = { description: 'The page.', content: { 'text/html': { schema: z.string() } } };
const id = z.object({ id: z.string() });

export const dashboardPaths: ZodOpenApiPathsObject = {
  '/dashboard': { get: { tags: ['dashboard'], summary: 'The operator\'s dashboard (a page)', security: OPEN, responses: { 200: page } } },
  '/dashboard/': { get: { tags: ['dashboard'], summary: 'Redirects to /dashboard', security: OPEN, responses: { 302: { description: 'To /dashboard.' } } } },
  '/dashboard/access': {
    get: {
      tags: ['dashboard'],
      summary: 'Does this token make the caller the operator',
      security: OPEN,
      responses: { 200: jsonResponse('The answer, and why not in words.', z.object({ operator: z.boolean(), detail: z.string().optional() })) },
    },
  },
  '/dashboard/{file}': {
    get: {
      tags: ['dashboard'],
      summary: 'A file of the page (script, style, icon)',
      security: OPEN,
      requestParams: { path: z.object({ file: z.string() }) },
      responses: { 200: { description: 'The file.', content: { 'text/javascript': { schema: z.string() }, 'text/css': { schema: z.string() }, 'image/svg+xml': { schema: z.string() } } }, ...refusals(404) },
    },
  },
  '/dashboard/events': {
    get: {
      tags: ['dashboard'],
      summary: 'The live feed of the pool and its jobs (Server-Sent Events)',
      security: OPERATOR,
      responses: { 200: { description: 'A stream of snapshots and changes.', content: { 'text/event-stream': { schema: z.string() } } }, ...refusals(401, 403) },
    },
  },
  '/admin/jobs/{id}/cancel': {
    post: {
      tags: ['operator'],
      summary: 'Cancel any job',
      security: OPERATOR,
      requestParams: { path: id },
      responses: { 200: jsonResponse('Cancelled.', Detail.extend({ state: z.string() })), ...refusals(401, 403, 404, 409) },
    },
  },
  '/admin/backends/{id}/free': {
    post: { tags: ['operator'], summary: 'Free one backend\'s memory', security: OPERATOR, requestParams: { path: id }, responses: { 200: jsonResponse('Freed.', Detail), ...refusals(401, 403, 404, 502) } },
  },
};
