// CORS (@koa/cors), driven by settings.cors: which pages on other origins may count, read the
// rankings and follow the live stream, and read the answers. With cors.origins empty it is not
// mounted at all, so no answer carries an Access-Control-* header. Admin routes (POST /test/…, the
// DELETEs, /metrics) are never covered, whatever the settings: a page must never drive them.
import koaCors from '@koa/cors';
import type { Context, Middleware } from 'koa';
import type { Settings } from './settings.js';

export type CorsGroup = Settings['cors']['routes'][number];

/** The methods a page may use on each group: what fetch, `<img>`, forms, sendBeacon and EventSource send. */
const METHODS: Record<CorsGroup, readonly string[]> = {
  count: ['GET', 'HEAD', 'POST'],
  read: ['GET', 'HEAD'],
  stream: ['GET'],
};

// Counting endpoints by prefix: /api/* and those of the pixel, the badge, the trackers and the
// batch API, whichever of them are mounted. The router is not strict about one trailing slash.
// Not POST /hits: it is an admin route (a server counting for others), and admin routes are never covered.
const COUNTING = /^\/(?:api|badge|plausible|umami)(?:\/|$)|^\/count\.gif\/?$/;
const READS = /^\/(?:stats|stats\.csv|stats\/path|events|events\.csv|health)\/?$/;
const STREAM = /^\/stats\/stream\/?$/;

/** Request headers a page may send besides the safelisted ones (Authorization: a reader's token with auth.protectStats). */
const ALLOW_HEADERS = ['Content-Type', 'Authorization', 'X-Request-Id', 'Idempotency-Key'];

/** Response headers a page may read besides the safelisted ones (Content-Type, Cache-Control, …). */
const EXPOSE_HEADERS = [
  'X-Request-Id', 'X-Total-Count', 'Link', 'Retry-After', 'Allow', 'Content-Disposition',
  'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy',
  // What a counting endpoint did with a hit it did not count (the trackers'), and the badge's X-Hit.
  'X-Hitcounter-Dropped', 'X-Hit',
];

/** How long a browser may keep a preflight's answer (Chromium caps it at 2 h). */
const MAX_AGE_SECONDS = 600;

/**
 * The group of a request for CORS, or undefined when it is not covered: `method` is the method the
 * page uses (for a preflight, its Access-Control-Request-Method). `countPaths`: count endpoints
 * outside the prefixes above (web.plausible.endpoint may be any path).
 */
export function corsGroup(method: string, path: string, countPaths: readonly string[] = []): CorsGroup | undefined {
  const group: CorsGroup | undefined = COUNTING.test(path) || countPaths.includes(path) ? 'count'
    : STREAM.test(path) ? 'stream'
      : READS.test(path) ? 'read'
        : undefined;
  return group && METHODS[group].includes(method) ? group : undefined;
}

/** The CORS middleware of these settings, or undefined when cors.origins is empty (CORS off). */
export function cors(settings: Pick<Settings, 'cors' | 'web'>): Middleware | undefined {
  const { origins, credentials, routes } = settings.cors;
  if (origins.length === 0) return undefined;
  const anyOrigin = origins.includes('*');
  // As browsers write Origin: lower case, no default port (https://Example.com:443 → https://example.com).
  const allowed = new Set(origins.filter((origin) => origin !== '*').map((origin) => new URL(origin).origin));
  const countPaths = [settings.web.plausible.endpoint];

  // The Access-Control-Allow-Origin of a request, or '' for none; only a request with an Origin is
  // a CORS request. A listed origin is echoed, any other gets '*' when "*" is listed too.
  const allowOrigin = (ctx: Context): string => {
    const origin = ctx.get('Origin');
    if (!origin) return '';
    return allowed.has(origin) ? origin : anyOrigin ? '*' : '';
  };
  // Credentials (cookies, the Basic auth a browser remembers, sendBeacon's credentials mode
  // "include") only for the origins listed by name: a browser refuses them with '*', and echoing
  // every origin instead would let any site read with the visitor's credentials.
  const withCredentials = (ctx: Context): boolean => credentials && allowed.has(ctx.get('Origin'));
  // One @koa/cors per group, for its methods. keepHeadersOnError is off because errorHandler keeps
  // the headers already set when it words an error: a 400, 414 or 429 carries these headers, so the
  // page can read why (@koa/cors's own copy would replace the answer's Vary with its own).
  const handlers = new Map(routes.map((group) => [group, koaCors({
    origin: allowOrigin,
    credentials: withCredentials,
    allowMethods: [...METHODS[group]],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: MAX_AGE_SECONDS,
    keepHeadersOnError: false,
  })]));
  const noop = async () => {};

  return async function corsHeaders(ctx, next) {
    const preflight = ctx.method === 'OPTIONS';
    const group = corsGroup(preflight ? ctx.get('Access-Control-Request-Method') : ctx.method, ctx.path, countPaths);
    const handler = group && handlers.get(group);
    if (!handler) return next();
    if (!preflight) return handler(ctx, next);
    // A preflight is answered by the route, as any OPTIONS (its status, its Allow; it never counts
    // or reads anything, and is never rate-limited); @koa/cors only adds the Access-Control-*
    // headers to a 2xx answer. It would answer 204 itself, which is not the answer the document
    // gives OPTIONS on every path.
    await next();
    if (ctx.status < 200 || ctx.status >= 300) return;
    const { status } = ctx;
    await handler(ctx, noop);
    ctx.status = status;
  };
}
