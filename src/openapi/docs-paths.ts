// /openapi.json and /docs in the documents they serve (both doors serve them).
import { z } from 'zod';
import type { ZodOpenApiPathsObject } from 'zod-openapi';
import { OPEN } from './common.js';

export const docsPaths: ZodOpenApiPathsObject = {
  '/openapi.json': {
    get: {
      tags: ['reference'],
      summary: 'This document (OpenAPI 3.1)',
      description: 'Open to all: it describes every route, operator routes too, and holds no data.',
      security: OPEN,
      responses: { 200: { description: 'The document.', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } } },
    },
  },
  '/docs': {
    get: { tags: ['reference'], summary: 'This document as a browsable page (served by the bridge itself, no CDN)', security: OPEN, responses: { 200: { description: 'The page.', content: { 'text/html': { schema: z.string() } } } } },
  },
  '/docs/{file}': {
    get: {
      tags: ['reference'],
      summary: 'A file of the page (Swagger UI\'s script and style)',
      security: OPEN,
      requestParams: { path: z.object({ file: z.string() }) },
      responses: { 200: { description: 'The file.', content: { 'text/javascript': { schema: z.string() }, 'text/css': { schema: z.string() } } }, 404: { description: 'No such file.' } },
    },
  },
};
