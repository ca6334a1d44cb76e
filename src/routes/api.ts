// The counting endpoint: each method of api.countMethods counts one hit of the normalized path.
import { setImmediate as endOfTurn } from 'node:timers/promises';
import type { Context } from 'koa';
import { z } from 'zod';
import { HttpError } from '../errors.js';
import type { Refused } from '../hits/count-hit.js';
import { normalizePath } from '../hits/normalize.js';
import type { Services } from '../services.js';
import { route, type ResponseDeclaration, type RouteDeclaration } from './declare.js';

declare module 'koa' {
  interface DefaultState {
    /** Why an /api/* request counted nothing, for hitcounter_hits_refused_total (see metrics.ts). */
    refusal?: string;
  }
}

const Hit = z.strictObject({
  path: z.string().regex(/^\/api(\/|$)/).meta({ description: 'The normalized path that was counted.' }),
  hits: z.int().min(1).meta({ description: 'Its all-time count, this hit included (write-behind mode: this process\'s best knowledge).' }),
}).meta({ id: 'Hit', examples: [{ path: '/api/hello/world', hits: 3 }] });

const NORMALIZED = 'It is normalized before counting: query dropped, decoded once as UTF-8, runs of `/` collapsed, one trailing `/` dropped, `.` and `..` resolved, case kept.';

const pathParams = z.object({
  path: z.string().min(1).meta({
    // OpenAPI path templates match one segment; the words are all a document can say here.
    description: `The rest of the path to count, still percent-encoded: one segment, or several with the slashes between them (\`/api/a/b/c\` counts \`/api/a/b/c\`; a path template of OpenAPI stands for one segment, so tools that match paths by the template see only those). ${NORMALIZED}`,
    examples: ['hello', 'blog'],
  }),
});

export function routes(services: Services): RouteDeclaration[] {
  const { settings } = services;
  const { api } = settings;
  const writeBehind = settings.writeBehind.enabled;
  const counted = new Set<string>(api.countMethods);
  const allow = [...api.countMethods, 'OPTIONS'].join(', ');
  const { counter } = services;

  // The handler of every declaration below: OPTIONS is 204 with Allow, a method outside
  // api.countMethods 405, any other counts.
  async function count(ctx: Context): Promise<void> {
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', allow);
      ctx.status = 204;
      return;
    }
    if (!counted.has(ctx.method)) {
      ctx.state.refusal = 'method';
      throw new HttpError(405, `Method ${ctx.method} does not count on /api; counted: ${api.countMethods.join(', ')} (api.countMethods)`, { headers: { Allow: allow } });
    }
    const path = normalizePath(ctx.url);
    let hits: number;
    try {
      hits = await counter.count({ path, ip: ctx.ip, userAgent: ctx.get('User-Agent'), referrer: ctx.get('Referer'), method: ctx.method });
    } catch (error) {
      const refusal = (error as Refused).refusal;
      if (typeof refusal === 'string') ctx.state.refusal = refusal;
      throw error;
    }
    // Write-behind answers without waiting on Redis, so each answer would leave alone, one write and
    // one wake-up of the client's side per hit. Answered at the end of the turn instead, the turn's
    // answers leave together, as the durable path's do after each batch's reply: measured with
    // npm run bench:profile -- --env WRITE_BEHIND=true, 79 → 54 µs of main thread per hit.
    if (writeBehind) await endOfTurn();
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { path, hits };
  }

  const methods = api.countMethods.join(', ');
  const elsewhere = 'any other method answers 405 with `Allow` (the methods that count, and OPTIONS) and counts nothing';
  const rateLimited = (what: string): ResponseDeclaration => ({ ref: 'TooManyRequests', description: what });
  const counting: Record<number, ResponseDeclaration> = {
    200: { description: 'Counted: the normalized path and its new all-time count.', content: { 'application/json': Hit } },
    400: { ref: 'BadRequest', description: 'Malformed percent-encoding or invalid UTF-8, a control character (U+0000–U+001F, U+007F), a `..` that climbs out of `/api`; or a request Node\'s HTTP parser rejected (raw non-ASCII bytes in the URL, a bad request line), then without `X-Request-Id`.' },
    403: { ref: 'Forbidden', description: 'Not counted: a path not yet in the ranking while it holds `api.maxPaths` (1,000,000) distinct paths (known paths still count), or a bot\'s User-Agent with `api.bots` `refuse`.' },
    414: { ref: 'UriTooLong', description: 'The request target is over `server.maxUrlBytes` (8192), or the normalized path is over 2048 bytes of UTF-8.' },
    429: rateLimited('Over `api.floodLimit` (6,000 hits per 10 s per client IP by default, loopback exempt) or the `api` rate limit (unlimited by default). Nothing counted.'),
    503: { ref: 'RedisUnavailable', description: 'Redis could not be reached in time: the hit was not counted.' },
  };
  const description =
    `Counts one hit, with \`ZINCRBY\`, and answers the new all-time count. The methods of \`api.countMethods\` count (${methods}); ` +
    `OPTIONS answers 204 with \`Allow\`; ${elsewhere}. A client mistake is a 4xx and counts nothing; a 503 counts nothing either. ` +
    'With `api.bots` `separate`, a bot\'s hit (a User-Agent the `isbot` list matches) is counted in the bots\' ranking (`GET /stats?bots=1`) and answers its count there.';
  const body = {
    schema: undefined,
    contentType: '*/*',
    required: false,
    description: 'Optional, of any type and size, and ignored: never parsed or counted, and `server.maxBodyBytes` does not apply (it bounds the JSON bodies the server reads). The answer does not wait for it; Node reads the rest and discards it, and the connection stays usable. A body still arriving after `server.requestTimeoutMs` (30 s from the start of the request) gets a 408 and the connection closed, after the answer, which stands.',
  };
  const options: Record<number, ResponseDeclaration> = {
    204: { description: 'Nothing counted.', headers: { Allow: 'Allow' } },
  };
  // Two paths, because one template cannot stand for `/api` and for the paths under it; each
  // request matches the layer of one. `any` is mounted with router.all, which also takes OPTIONS
  // and every other method, but documents only api.countMethods: OPTIONS has a declaration of
  // its own, mounted first. Both share count(), so a request gets the same answer whichever runs it.
  const paths = [
    { path: '/api', koaPath: undefined, id: 'RootHit', summary: 'for `/api` itself', params: undefined },
    { path: '/api/{path}', koaPath: '/api/*path', id: 'Hit', summary: 'for the normalized path', params: pathParams },
  ];
  return [
    ...paths.map(({ path, koaPath, id, params }) => route({
      operationId: `options${id}`, method: 'options', path, koaPath, params, tags: ['hits'], auth: 'public',
      summary: 'The methods that count; counts nothing',
      responses: options,
      handler: count,
    })),
    ...paths.map(({ path, koaPath, id, summary, params }) => route({
      operationId: `count${id}`, method: 'any', path, koaPath, params, body, tags: ['hits'], auth: 'public',
      summary: `Count one hit ${summary}`,
      description,
      responses: counting,
      handler: count,
    })),
  ];
}
