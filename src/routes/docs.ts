// The API contract: src/openapi.json for machines, rendered by Swagger UI for people. Everything
// comes from this server (swagger-ui-dist from node_modules, no CDN), and the page is configured
// and fenced by its Content-Security-Policy so that it never calls anything else.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type Router from '@koa/router';
import { NotFoundError } from '../errors.js';

const SWAGGER_DIR = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const SWAGGER_VERSION = (JSON.parse(readFileSync(join(SWAGGER_DIR, 'package.json'), 'utf8')) as { version: string }).version;

// The only files taken from swagger-ui-dist. A name not listed is a 404, so no request can reach
// anything else on disk, whatever it encodes in the file name.
const SWAGGER_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui.css.map': 'application/json; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};

// validatorUrl: null, or Swagger UI sends the document to validator.swagger.io for a badge.
// queryConfigEnabled: false, so ?url= can't point the page at another document.
const INIT_JS = `window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  validatorUrl: null,
  queryConfigEnabled: false,
});
`;

// Asset URLs carry the content's version, so they can be cached for a year and still change on upgrade.
const VERSION = createHash('sha256').update(`${SWAGGER_VERSION}\n${INIT_JS}`).digest('hex').slice(0, 12);

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>hitcounter API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css?v=${VERSION}">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png?v=${VERSION}" sizes="32x32">
  <link rel="icon" type="image/png" href="/docs/favicon-16x16.png?v=${VERSION}" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js?v=${VERSION}"></script>
  <script src="/docs/init.js?v=${VERSION}"></script>
</body>
</html>
`;

// Swagger UI styles elements inline and draws icons from data: URIs; nothing else is allowed,
// and connect-src 'self' keeps "Try it out" and any stray fetch on this server.
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const YEAR = 'public, max-age=31536000, immutable';

// Read on first request, then kept: a couple of MB that most servers never serve.
const cache = new Map<string, Promise<Buffer>>();
function swaggerFile(name: string): Promise<Buffer> {
  let file = cache.get(name);
  if (!file) {
    file = readFile(join(SWAGGER_DIR, name));
    file.catch(() => cache.delete(name));
    cache.set(name, file);
  }
  return file;
}

export function mount(router: Router): void {
  // Read at start-up, from src/ under tsx or dist/ once built (scripts/copy-assets.mjs copies it);
  // parsed once so a broken document stops the server instead of reaching clients.
  const document = readFileSync(new URL('../openapi.json', import.meta.url));
  JSON.parse(document.toString('utf8'));

  // GET /openapi.json
  // This API's OpenAPI 3.1 document.
  //   200 application/json
  router.get('/openapi.json', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.type = 'application/json';
    ctx.body = document;
  });

  // GET /docs
  // The document rendered by Swagger UI, served from this server only.
  //   200 text/html
  router.get('/docs', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('Content-Security-Policy', PAGE_CSP);
    ctx.type = 'text/html';
    ctx.body = PAGE;
  });

  // GET /docs/:file   (swagger-ui.css, swagger-ui-bundle.js, init.js, the favicons, the CSS source map)
  //   200 the file, cacheable for a year (the page asks for it with ?v=<version>)
  //   404 any other name
  router.get('/docs/:file', async (ctx) => {
    const name = ctx.params.file!;
    if (name === 'init.js') {
      ctx.type = 'text/javascript; charset=utf-8';
      ctx.body = INIT_JS;
    } else if (Object.hasOwn(SWAGGER_FILES, name)) {
      ctx.type = SWAGGER_FILES[name]!;
      ctx.body = await swaggerFile(name);
    } else {
      throw new NotFoundError(`No docs file ${name}`);
    }
    ctx.set('Cache-Control', YEAR);
    ctx.set('X-Content-Type-Options', 'nosniff');
  });
}
