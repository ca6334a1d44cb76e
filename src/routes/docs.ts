// The API contract: src/openapi.json for machines, rendered by Swagger UI for people. Everything
// comes from this server (swagger-ui-dist from node_modules, no CDN), and the page is configured
// and fenced by its Content-Security-Policy so that it never calls anything else.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Context } from 'koa';
import { z } from 'zod';
import { NotFoundError } from '../errors.js';
import type { Services } from '../services.js';
import { conditionalHeaders } from './schemas.js';
import { route, type RouteDeclaration } from './declare.js';

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
/** Every name under /docs/: the files above and the page's own script. */
const DOCS_FILES = [...Object.keys(SWAGGER_FILES), 'init.js'];

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

/** A strong validator: the content's SHA-256, as the dashboard's files have. */
const etagOf = (content: string | Buffer) => `"${createHash('sha256').update(content).digest('base64url').slice(0, 27)}"`;

const PAGE_ETAG = etagOf(PAGE);

// src/openapi.json as committed (dist/ once built: scripts/copy-assets.mjs copies it). Read on the
// first request, not when the routes are declared: the generator declares them while it rewrites
// that file. Parsed once, so that a broken document is a 500 rather than reaching clients.
let openapi: { body: Buffer; etag: string } | undefined;
function openapiDocument(): { body: Buffer; etag: string } {
  if (!openapi) {
    const body = readFileSync(new URL('../openapi.json', import.meta.url));
    JSON.parse(body.toString('utf8'));
    openapi = { body, etag: etagOf(body) };
  }
  return openapi;
}

/** Answers with the body and its ETag, or 304 when If-None-Match holds that ETag (ctx.fresh). */
function sendFresh(ctx: Context, body: string | Buffer, etag: string): void {
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('ETag', etag);
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.body = body;
}

const OpenApiDocument = z.looseObject({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.looseObject({}),
  paths: z.looseObject({}),
}).meta({ id: 'OpenApiDocument', description: 'An OpenAPI 3.1 document: this one.' });

const revalidate = { description: 'Revalidate with `If-None-Match`.', required: true, schema: { const: 'no-cache' } };
const notModified = { ref: 'NotModified', description: 'The `If-None-Match` ETag still holds: no body.' };

export function routes(_services: Services): RouteDeclaration[] {
  return [
    route({
      operationId: 'getOpenApi',
      headers: conditionalHeaders,
      method: 'get',
      path: '/openapi.json',
      tags: ['docs'],
      summary: 'This document',
      auth: 'public',
      responses: {
        200: { description: 'The OpenAPI 3.1 document of this API.', headers: { ETag: 'ETag', 'Cache-Control': revalidate }, content: { 'application/json': OpenApiDocument } },
        304: notModified,
      },
      handler: (ctx) => {
        const { body, etag } = openapiDocument();
        ctx.type = 'application/json';
        sendFresh(ctx, body, etag);
      },
    }),
    route({
      operationId: 'getDocs',
      headers: conditionalHeaders,
      method: 'get',
      path: '/docs',
      tags: ['docs'],
      summary: 'This document, rendered by Swagger UI',
      description: 'Served entirely by this server (no CDN, no outside requests): a page that loads `/docs/swagger-ui.css`, `/docs/swagger-ui-bundle.js` and `/docs/init.js`, which renders `/openapi.json`.',
      auth: 'public',
      responses: {
        200: { description: 'The page.', headers: { 'Content-Security-Policy': 'PageCsp', ETag: 'ETag', 'Cache-Control': revalidate }, content: { 'text/html': { type: 'string' } } },
        304: notModified,
      },
      handler: (ctx) => {
        ctx.set('Content-Security-Policy', PAGE_CSP);
        ctx.type = 'text/html';
        sendFresh(ctx, PAGE, PAGE_ETAG);
      },
    }),
    route({
      operationId: 'getDocsAsset',
      method: 'get',
      path: '/docs/{file}',
      tags: ['docs'],
      summary: 'A static file of the docs page',
      auth: 'public',
      params: z.strictObject({
        // Any name reaches the handler, which answers 404 to one not listed; the document lists them.
        file: z.string().meta({ description: 'One of a fixed list of Swagger UI files (from swagger-ui-dist), or `init.js`, the page\'s own script.', enum: DOCS_FILES }),
      }),
      responses: {
        200: {
          description: 'The file. The page asks for it with `?v=<version of its content>`, so it may be cached for a year.',
          headers: { 'Cache-Control': { description: 'Cacheable for a year.', required: true, schema: { const: YEAR } } },
          content: {
            'text/css': { type: 'string' },
            'text/javascript': { type: 'string' },
            'application/json': { type: 'object', description: 'A source map.' },
            'image/png': { type: 'string', contentMediaType: 'image/png' },
          },
        },
        404: { ref: 'NotFound', description: 'Not one of the files of the list.' },
      },
      handler: async (ctx, { params: { file: name } }) => {
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
      },
    }),
  ];
}
