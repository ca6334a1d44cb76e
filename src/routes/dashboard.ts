// The web dashboard: static files from src/dashboard (dist/dashboard once built) and uPlot from
// its npm package. A fixed allow-list, read once and kept in memory: no file name from a request
// ever reaches the file system.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Context } from 'koa';
import { z } from 'zod';
import { NotFoundError } from '../errors.js';
import type { Services } from '../services.js';
import { conditionalHeaders } from './schemas.js';
import { route, type RouteDeclaration } from './declare.js';

const require = createRequire(import.meta.url);
const own = (name: string) => fileURLToPath(new URL(`../dashboard/${name}`, import.meta.url));

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** File name under /dashboard/ → where it is and its type. */
const FILES = new Map<string, { file: string; type: string }>([
  ['app.js', { file: own('app.js'), type: JS }],
  ['api.js', { file: own('api.js'), type: JS }],
  ['format.js', { file: own('format.js'), type: JS }],
  ['top-paths.js', { file: own('top-paths.js'), type: JS }],
  ['live.js', { file: own('live.js'), type: JS }],
  ['loadtest.js', { file: own('loadtest.js'), type: JS }],
  ['run-view.js', { file: own('run-view.js'), type: JS }],
  ['stage-editor.js', { file: own('stage-editor.js'), type: JS }],
  ['search.js', { file: own('search.js'), type: JS }],
  ['compare.js', { file: own('compare.js'), type: JS }],
  ['dom.js', { file: own('dom.js'), type: JS }],
  ['charts.js', { file: own('charts.js'), type: JS }],
  ['style.css', { file: own('style.css'), type: CSS }],
  ['uPlot.iife.min.js', { file: require.resolve('uplot/dist/uPlot.iife.min.js'), type: JS }],
  ['uPlot.min.css', { file: require.resolve('uplot/dist/uPlot.min.css'), type: CSS }],
]);
const INDEX = { file: own('index.html'), type: 'text/html; charset=utf-8' };

// Everything the page loads comes from this origin; the policy makes the browser hold it to that.
// uPlot sizes its elements with inline styles, hence 'unsafe-inline' for styles only.
const CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
  "connect-src 'self'", "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

interface Loaded { body: Buffer; etag: string }
const loaded = new Map<string, Loaded>();

function load(file: string): Loaded {
  let entry = loaded.get(file);
  if (!entry) {
    const body = readFileSync(file);
    entry = { body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
    loaded.set(file, entry);
  }
  return entry;
}

function send(ctx: Context, { file, type }: { file: string; type: string }): void {
  const { body, etag } = load(file);
  // Revalidated on every load (a cheap 304), so a new version shows at once without versioned names.
  ctx.set('Cache-Control', 'no-cache');
  ctx.set('ETag', etag);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.type = type;
  ctx.status = 200;
  if (ctx.fresh) {
    ctx.status = 304;
    return;
  }
  ctx.body = body;
}

// What / and /dashboard/{file} document in common: the ETag and the revalidation it serves.
const cacheControl = { description: 'Revalidate with `If-None-Match` on every load.', required: true, schema: { const: 'no-cache' } };
const notModified = { ref: 'NotModified', description: 'The `If-None-Match` ETag still holds: no body.' };

export function routes(_services: Services): RouteDeclaration[] {
  return [
    route({
      operationId: 'getDashboard',
      headers: conditionalHeaders,
      method: 'get',
      path: '/',
      tags: ['dashboard'],
      summary: 'The web dashboard',
      description: 'Top paths, live traffic and load tests, in one page served by this server (no CDN).',
      auth: 'public',
      responses: {
        200: {
          description: 'The dashboard page.',
          headers: { 'Content-Security-Policy': 'PageCsp', ETag: 'ETag', 'Cache-Control': cacheControl },
          content: { 'text/html': { type: 'string' } },
        },
        304: notModified,
      },
      handler: (ctx) => {
        ctx.set('Content-Security-Policy', CSP);
        ctx.set('Referrer-Policy', 'no-referrer');
        send(ctx, INDEX);
      },
    }),
    route({
      operationId: 'getDashboardAsset',
      headers: conditionalHeaders,
      method: 'get',
      path: '/dashboard/{file}',
      tags: ['dashboard'],
      summary: 'A static file of the dashboard',
      description: 'The page\'s scripts and styles, and uPlot\'s: a fixed list of names.',
      auth: 'public',
      params: z.strictObject({ file: z.string().meta({ description: 'A file of the dashboard.', param: { example: 'app.js' } }) }),
      responses: {
        200: {
          description: 'The file.',
          headers: { ETag: 'ETag', 'Cache-Control': cacheControl },
          content: { 'text/javascript': { type: 'string' }, 'text/css': { type: 'string' } },
        },
        304: notModified,
        404: { ref: 'NotFound', description: 'No such file.' },
      },
      handler: (ctx, { params: { file } }) => {
        const entry = FILES.get(file);
        if (!entry) throw new NotFoundError(`No dashboard file ${file}`);
        send(ctx, entry);
      },
    }),
  ];
}
