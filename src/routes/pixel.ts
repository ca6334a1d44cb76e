// The counting pixel: GET /count.gif?p=/blog/post counts /api/blog/post and answers a transparent
// 1×1 GIF, for pages that run no script (an <img>, a mail, a README rendered without scripts).
// Its query follows GoatCounter's convention (p: the page's path, r: the referrer; t, q and rnd
// accepted and ignored), so a pixel written for GoatCounter works here as it is.
import type { Middleware } from 'koa';
import { z } from 'zod';
import { HttpError, NotFoundError } from '../errors.js';
import type { Refused } from '../hits/count-hit.js';
import { API_ROOT, normalizeDecodedPath } from '../hits/normalize.js';
import type { Services } from '../services.js';
import { route, type HeaderDeclaration, type RouteDeclaration } from './declare.js';
import { query } from './schemas.js';

/** A transparent 1×1 GIF89a: 43 bytes, the smallest image every client shows. */
export const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==', 'base64');

const BAD_PAGE = 'Expected `p` to be a path such as /blog/post';

// Every view must reach the server to count: no cache may keep the answer. Pragma and an Expires
// in the past say the same to HTTP/1.0 proxies.
const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache', Expires: 'Thu, 01 Jan 1970 00:00:00 GMT' };
const noStoreHeaders: Record<string, HeaderDeclaration> = {
  'Cache-Control': { description: 'Never cached: every view reaches the server.', required: true, schema: { type: 'string', const: 'no-store' } },
  Pragma: { description: '`no-cache`, for HTTP/1.0 proxies.', required: true, schema: { type: 'string', const: 'no-cache' } },
  Expires: { description: 'A date in the past, for HTTP/1.0 proxies.', required: true, schema: { type: 'string', const: NO_STORE.Expires } },
};

const ignored = (what: string) => z.string().optional().meta({ description: `GoatCounter's ${what}: accepted and ignored.` });

/** Why an offered hit counted nothing, for hitcounter_ingest_hits_total{reason}. */
export function dropReason(error: unknown): string {
  const refusal = (error as Refused).refusal;
  if (typeof refusal === 'string') return refusal;
  const status = error instanceof HttpError ? error.status : 500;
  if (status === 400 || status === 414) return 'invalid';
  return status === 503 ? 'unavailable' : 'error';
}

export function routes({ settings, counter, metrics }: Services): RouteDeclaration[] {
  // Before validation, so that a bad `p` is a dropped hit too, and never cached either.
  const account: Middleware = async (ctx, next) => {
    ctx.set(NO_STORE);
    if (!settings.web.pixel) {
      metrics.ingest('pixel', 'dropped', 'disabled');
      throw new NotFoundError('The counting pixel is off (web.pixel is false)');
    }
    try {
      await next();
    } catch (error) {
      metrics.ingest('pixel', 'dropped', dropReason(error));
      throw error;
    }
    metrics.ingest('pixel', 'accepted');
  };

  return [
    route({
      operationId: 'countPixel',
      method: 'get',
      path: '/count.gif',
      tags: ['web'],
      summary: 'Count a page view with an image: a transparent 1×1 GIF',
      description:
        '`<img src="https://<this server>/count.gif?p=/blog/post" alt="">` counts one hit of `/api/blog/post` each time the image is loaded, and answers a transparent 1×1 GIF that is never cached. ' +
        'The parameters are GoatCounter\'s: `p` the page\'s path, `r` the referrer (else the `Referer` header, which for an image is the page showing it: only its origin across origins, by browsers\' default referrer policy); GoatCounter\'s `t`, `q` and `rnd` are accepted and ignored. ' +
        'The hit is counted as `/api/*` counts one (the same flood limit, `api.bots`, visitor hash and event log, with method `pixel` in the event log). ' +
        'A hit that is not counted is answered with the JSON error, so the image does not load: an image cannot show an error, but the API says it. `HEAD` counts like `GET`.',
      auth: 'public',
      before: [account],
      query: query({
        p: z.string({ error: BAD_PAGE }).regex(/^\//, { error: BAD_PAGE }).meta({
          description: 'The page\'s path; `/api` is put in front of it and it is normalized like a hit (`..` and `.` resolved, runs of `/` collapsed, one trailing `/` dropped; decoded once, by the query\'s own decoding). `/` counts `/api`.',
          examples: ['/blog/post'],
        }),
        r: z.string().optional().meta({ description: 'The referrer the event log records (cut to `events.maxReferrerBytes`); without it, the request\'s `Referer` header. Empty: none.' }),
        t: ignored('page title'),
        q: ignored('query string of the page'),
        rnd: ignored('cache buster (the answer is never cached anyway)'),
      }),
      responses: {
        200: {
          description: 'Counted: a transparent 1×1 GIF89a of 43 bytes.',
          headers: noStoreHeaders,
          content: { 'image/gif': { type: 'string', contentMediaType: 'image/gif', description: 'The 43 bytes of a transparent 1×1 GIF89a.' } },
        },
        400: { ref: 'BadRequest', description: '`p` missing, given twice or not starting with `/`; a control character in it, or a `..` that climbs above `/`; an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`. Nothing counted.' },
        403: { ref: 'Forbidden', description: 'Not counted: a bot\'s User-Agent with `api.bots` `refuse`, or a path not yet in the ranking while it holds `api.maxPaths` paths.' },
        404: { ref: 'NotFound', description: 'The pixel is off (`web.pixel` is false).' },
        414: { ref: 'UriTooLong', description: 'The request target is over `server.maxUrlBytes` (8192), or the counted path is over 2048 bytes of UTF-8.' },
        429: { ref: 'TooManyRequests', description: 'Over `api.floodLimit` (6,000 hits per 10 s per client IP by default, loopback exempt), the limit `/api/*` has. Nothing counted.' },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached in time: the hit was not counted.' },
      },
      handler: async (ctx, { query: { p, r } }) => {
        const path = normalizeDecodedPath(`${API_ROOT}${p}`);
        await counter.count({ path, ip: ctx.ip, userAgent: ctx.get('User-Agent'), referrer: r ?? ctx.get('Referer'), method: 'pixel' });
        ctx.set('X-Content-Type-Options', 'nosniff');
        // Pages that demand CORP of what they embed (Cross-Origin-Embedder-Policy) may still show it.
        ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
        ctx.type = 'image/gif';
        ctx.body = PIXEL;
      },
    }),
  ];
}
