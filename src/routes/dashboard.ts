// The web dashboard: static files from src/dashboard (dist/dashboard once built) and uPlot from
// its npm package. A fixed allow-list, read once and kept in memory: no file name from a request
// ever reaches the file system.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { NotFoundError } from '../errors.js';

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

export function mount(router: Router): void {
  // GET /
  // The dashboard page: top paths, live traffic, load tests.
  //   200 text/html (304 when If-None-Match holds its ETag)
  router.get('/', (ctx) => {
    ctx.set('Content-Security-Policy', CSP);
    ctx.set('Referrer-Policy', 'no-referrer');
    send(ctx, INDEX);
  });

  // GET /dashboard/{file}
  // The page's scripts and styles, and uPlot's: a fixed list of names, nothing else.
  //   200 the file with its content type, ETag and Cache-Control: no-cache (304 when unchanged)
  //   404 any other name
  router.get('/dashboard/:file', (ctx) => {
    const entry = FILES.get(ctx.params.file!);
    if (!entry) throw new NotFoundError(`No dashboard file ${ctx.params.file}`);
    send(ctx, entry);
  });
}
