// GET /openapi.json and the browsable page GET /docs of a door. The page is Swagger UI, served
// from the swagger-ui-dist package in node_modules (no CDN, no build step), and its start-up
// script is ours, so the page runs under a Content-Security-Policy without inline scripts.
import { createRequire } from 'node:module';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import Router from '@koa/router';
import type { OpenApiDocument } from './document.js';

const UI_DIR = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The files of Swagger UI the page loads, and their types. */
const UI_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>comfy-bridge API reference</title>
<link rel="icon" type="image/png" href="docs/favicon-32x32.png">
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/start.js"></script>
</body>
</html>
`;

// The document next to the page (relative, so a reverse proxy's prefix is kept).
const START = `window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null, tryItOutEnabled: false });\n`;

/** Swagger UI sets style attributes; scripts come from this origin only. */
const PAGE_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** The routes, open to all (mounted before the key check): the document holds no data. */
export function referenceRoutes(document: () => OpenApiDocument): Router {
  let text: string | undefined;
  const router = new Router({ strict: true });
  router.get('/openapi.json', (ctx) => {
    text ??= JSON.stringify(document());
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/json';
    ctx.body = text;
  });
  router.get('/docs', (ctx) => {
    ctx.set(PAGE_HEADERS);
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = PAGE;
  });
  router.get('/docs/:file', async (ctx, next) => {
    const file = ctx.params.file!;
    if (file === 'start.js') {
      ctx.type = 'text/javascript; charset=utf-8';
      ctx.body = START;
    } else if (Object.hasOwn(UI_FILES, file)) {
      ctx.type = UI_FILES[file]!;
      ctx.body = await readFile(path.join(UI_DIR, file));
    } else {
      return next();
    }
    ctx.set(PAGE_HEADERS);
    ctx.set('Cache-Control', 'public, max-age=3600');
  });
  return router;
}
