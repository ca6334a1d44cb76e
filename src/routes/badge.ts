// The README badge: GET /badge/<path>.svg renders the all-time hits of /api/<path> as an SVG badge
// (badge-maker, shields.io's renderer), and may count the view (web.badge.countsHit, or count=1),
// once per visitor within web.badge.dedupeSeconds (hits/badge-views.ts).
import { createHash } from 'node:crypto';
import { makeBadge } from 'badge-maker';
import type { Context } from 'koa';
import { z } from 'zod';
import { BadRequestError, HttpError } from '../errors.js';
import { BadgeViews } from '../hits/badge-views.js';
import type { Refused } from '../hits/count-hit.js';
import { API_ROOT, normalizePath } from '../hits/normalize.js';
import type { Services } from '../services.js';
import { route, type HeaderDeclaration, type RouteDeclaration } from './declare.js';
import { dropReason } from './pixel.js';
import { conditionalHeaders, flag, oneOf, query } from './schemas.js';

const PREFIX = '/badge';
const SUFFIX = '.svg';
const BAD_SUFFIX = 'Expected `path` to end in .svg, such as /badge/blog/post.svg';
export const MAX_LABEL = 64;

export const STYLES = ['flat', 'flat-square', 'plastic', 'for-the-badge', 'social'] as const;
// badge-maker's named colours and their aliases (node_modules/badge-maker/lib/color.js).
export const COLORS = ['brightgreen', 'green', 'yellowgreen', 'yellow', 'orange', 'red', 'blue', 'grey', 'lightgrey',
  'gray', 'lightgray', 'success', 'important', 'critical', 'informational', 'inactive'] as const;
const HEX = /^#?(?:[0-9a-fA-F]{3}){1,2}$/;
const BAD_COLOR = `Expected \`color\` to be a hex colour such as 4c1 or ff8800, or one of: ${COLORS.join(', ')}`;

/** 1234567 → 1,234,567: the exact count, grouped in thousands whatever the server's locale. */
export const formatHits = (hits: number): string => String(hits).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/** What the view did to the count, in X-Hit. */
type Outcome = 'counted' | 'not-counting' | 'duplicate' | string;

export function routes({ settings, store, counter, metrics, redis, keys, clock, visitors }: Services): RouteDeclaration[] {
  const { badge } = settings.web;
  const botsApart = settings.api.bots === 'separate';
  const refuseBots = settings.api.bots === 'refuse';
  // Nothing here touches Redis until a view comes (declaredRoutes builds this without one).
  const views = new BadgeViews({ redis: redis.client, keys, clock, visitors, dedupeSeconds: badge.dedupeSeconds });

  /** Counts the view if it is the visitor's first of the window; the path's count after it, and what happened. */
  async function countView(ctx: Context, path: string): Promise<{ hits: number; outcome: Outcome }> {
    const userAgent = ctx.get('User-Agent');
    const dropped = async (reason: string) => {
      metrics.ingest('badge', 'dropped', reason);
      return { hits: await store.hitsOf(path), outcome: reason };
    };
    // Known before the dedupe: a refused bot's view is not worth a write.
    if (refuseBots && counter.isBot(userAgent)) return dropped('bot');
    const view = await views.view(path, ctx.ip, userAgent);
    if (!view.first) return dropped('duplicate');
    let hits: number;
    try {
      hits = await counter.count({ path, ip: ctx.ip, userAgent, referrer: ctx.get('Referer'), method: 'badge' });
    } catch (error) {
      await view.forget();
      const refusal = (error as Refused).refusal;
      // A refusal of the hit (flood limit, path cap) still shows the badge; Redis out of reach does not.
      if (typeof refusal !== 'string' || !(error instanceof HttpError) || error.status >= 500) {
        metrics.ingest('badge', 'dropped', dropReason(error));
        throw error;
      }
      return dropped(refusal);
    }
    metrics.ingest('badge', 'accepted');
    // api.bots "separate": counted in the bots' ranking; the badge shows the people's count.
    if (botsApart && counter.isBot(userAgent)) hits = await store.hitsOf(path);
    return { hits, outcome: 'counted' };
  }

  const cacheControl = (counting: boolean) =>
    counting || badge.cacheSeconds === 0 ? 'no-cache' : `public, max-age=${badge.cacheSeconds}, s-maxage=${badge.cacheSeconds}`;

  const headers: Record<string, HeaderDeclaration | string> = {
    'Cache-Control': {
      description: `\`public, max-age=<web.badge.cacheSeconds>, s-maxage=<same>\` (${badge.cacheSeconds} s) when the view does not count: image proxies (GitHub's camo) and browsers keep it that long, as shields.io badges are kept. \`no-cache\` when it counts (or cacheSeconds is 0): every view is revalidated, so it reaches the server (and may count), and costs a 304 when the count has not moved.`,
      required: true,
      schema: { type: 'string', pattern: '^(no-cache|public, max-age=\\d+, s-maxage=\\d+)$' },
    },
    ETag: 'ETag',
    'X-Hit': {
      description: 'What this view did to the count: `counted`; `not-counting` (counting off); `duplicate` (the visitor\'s view of this badge already counted within `web.badge.dedupeSeconds`); or why the hit was refused (`bot`, `flood_limit`, `path_cap`).',
      required: true,
      schema: { type: 'string', pattern: '^[a-z_-]+$' },
    },
  };

  return [
    route({
      operationId: 'getBadge',
      method: 'get',
      path: `${PREFIX}/{path}`,
      koaPath: `${PREFIX}/*path`,
      tags: ['web'],
      summary: 'An SVG badge with a path\'s all-time hits',
      description:
        '`![hits](https://<this server>/badge/blog/post.svg)` shows the all-time hits of `/api/blog/post`, exactly, grouped in thousands (`1,234`), made by `badge-maker` (shields.io\'s renderer). A path never counted shows 0. ' +
        `With \`count=1\` (default: \`web.badge.countsHit\`, ${badge.countsHit}) the view also counts one hit, as \`/api/*\` counts one (the same flood limit, \`api.bots\`, visitor hash and event log, method \`badge\`), ` +
        `but a visitor's views of one badge within \`web.badge.dedupeSeconds\` (${badge.dedupeSeconds} s) count once: a visitor is their daily visitor hash (IP and User-Agent, salted), and of concurrent views exactly one counts. ` +
        'A view that is not counted (a repeat, a bot refused by `api.bots`, over `api.floodLimit`, a new path past `api.maxPaths`) still shows the badge; `X-Hit` says what happened. `HEAD` counts like `GET`.',
      auth: 'public',
      headers: conditionalHeaders,
      params: z.object({
        path: z.string({ error: BAD_SUFFIX }).regex(/\.svg$/, { error: BAD_SUFFIX }).meta({
          description: 'The path to show, without `/api`, then `.svg`: one segment or several with the slashes between them (`/badge/blog/post.svg` shows `/api/blog/post`; a path template of OpenAPI stands for one segment, so tools that match paths by the template see only those). Still percent-encoded; normalized like a hit.',
          examples: ['blog.svg'],
        }),
      }),
      query: query({
        label: z.string().max(MAX_LABEL, { error: `Expected \`label\` to be at most ${MAX_LABEL} characters` }).optional()
          .meta({ description: 'The left-hand text (escaped into the SVG); empty: the count alone.', override: ({ jsonSchema }: { jsonSchema: { default?: unknown } }) => { jsonSchema.default = 'hits'; } }),
        color: z.union([z.string({ error: BAD_COLOR }).regex(HEX, { error: BAD_COLOR }), z.enum(COLORS, { error: BAD_COLOR })], { error: BAD_COLOR }).optional()
          .meta({ description: 'The count\'s colour: a hex colour (`4c1`, `ff8800`, `#ff8800` written `%23ff8800`) or one of badge-maker\'s names.', override: ({ jsonSchema }: { jsonSchema: { default?: unknown } }) => { jsonSchema.default = 'blue'; } }),
        style: oneOf(STYLES).optional().meta({ description: 'badge-maker\'s style.', override: ({ jsonSchema }: { jsonSchema: { default?: unknown } }) => { jsonSchema.default = 'flat'; } }),
        count: flag().optional().meta({ description: `Whether this view counts a hit (see above); default \`web.badge.countsHit\` (${badge.countsHit}).` }),
      }),
      responses: {
        200: { description: 'The badge.', headers, content: { 'image/svg+xml': { type: 'string', description: 'An SVG image.' } } },
        304: { ref: 'NotModified', description: 'The `If-None-Match` ETag still holds (the same count, label, colour and style): no body. A view that counts has already been counted.' },
        400: { ref: 'BadRequest', description: 'A path not ending in `.svg`, with malformed percent-encoding, invalid UTF-8, a control character or a `..` that climbs out of it; `label` over 64 characters; an unknown `color` or `style`; `count` not 1, 0, true or false; an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        414: { ref: 'UriTooLong', description: 'The request target is over `server.maxUrlBytes` (8192), or the normalized path is over 2048 bytes of UTF-8.' },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached in time: nothing was counted.' },
      },
      handler: async (ctx, { query: { label = 'hits', color = 'blue', style = 'flat', count } }) => {
        // The raw path, as /api/* reads it, so that a badge shows the very path /api/<path> counts.
        const raw = ctx.path.slice(PREFIX.length);
        if (!raw.endsWith(SUFFIX)) throw new BadRequestError(BAD_SUFFIX);
        const path = normalizePath(`${API_ROOT}${raw.slice(0, -SUFFIX.length)}`);
        const counting = count ?? badge.countsHit;
        const { hits, outcome } = counting ? await countView(ctx, path) : { hits: await store.hitsOf(path), outcome: 'not-counting' };
        const svg = makeBadge({ label, message: formatHits(hits), color, style });
        ctx.set('Cache-Control', cacheControl(counting));
        ctx.set('ETag', `"${hits}-${createHash('sha256').update(svg).digest('base64url').slice(0, 16)}"`);
        ctx.set('X-Hit', outcome);
        ctx.set('X-Content-Type-Options', 'nosniff');
        ctx.set('Cross-Origin-Resource-Policy', 'cross-origin');
        ctx.type = 'image/svg+xml';
        ctx.status = 200;
        if (ctx.fresh) {
          ctx.status = 304;
          return;
        }
        ctx.body = svg;
      },
    }),
  ];
}
