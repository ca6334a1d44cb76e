// The ranking of counted paths, all time or over a window; one path's detail; the reset.
import { Readable } from 'node:stream';
import type { Context } from 'koa';
import { z } from 'zod';
import { GRANULARITIES, keptRange, MS, WINDOWS, type Granularity } from '../analytics/buckets.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { pathDetail, visitorDays } from '../hits/path-detail.js';
import { query as queryRanking, type Row } from '../hits/ranking-query.js';
import type { HitStore } from '../hits/store.js';
import type { Services } from '../services.js';
import { csvBody } from './csv.js';
import { route, type RouteDeclaration } from './declare.js';
import { rangeOf, rankingQuery, rangeQuery } from './ranges.js';
import { apiPath, oneOf, query } from './schemas.js';

const count = z.int().min(0);

export const PathHitsSchema = z.object({
  path: z.string().regex(/^(\/api(\/|$)|\(new paths past api\.maxPaths\)$)/).meta({ description: 'A counted path; in write-behind mode also `(new paths past api.maxPaths)`, which counts the acknowledged hits of new paths past the cap.' }),
  hits: count,
  visitors: count.optional().meta({ description: 'With `uniques`: approximate unique visitors over the window\'s whole days.' }),
}).meta({ id: 'PathHits' });

const Ranking = z.array(PathHitsSchema).meta({ id: 'Ranking', examples: [[{ path: '/api/hello/world', hits: 2 }, { path: '/api/blog/hello-world', hits: 1 }]] });

const iso = z.iso.datetime({ offset: true });
const PathDetail = z.object({
  path: z.string().regex(/^\/api(\/|$)/),
  hits: count.meta({ description: 'All time.' }),
  window: z.object({ from: iso, to: iso, hits: count, visitors: count.meta({ description: 'Approximate, over the window\'s whole days.' }) }),
  granularity: z.enum(GRANULARITIES),
  series: z.array(z.object({ time: iso, hits: count })).meta({ description: 'One point per bucket, zero-filled, oldest first.' }),
}).meta({ id: 'PathDetail' });

const DeletedKeys = z.object({ deletedKeys: count }).meta({ id: 'DeletedKeys', examples: [{ deletedKeys: 10 }] });

const CSV_LINES = 'A header line `path,hits` (`path,hits,visitors` with `uniques`), then one line per path.';

const rowJson = ({ path, hits, visitors }: Row) =>
  visitors === undefined ? `{"path":${JSON.stringify(path)},"hits":${hits}}` : `{"path":${JSON.stringify(path)},"hits":${hits},"visitors":${visitors}}`;

/** Streams pages of rows as one JSON array, a Redis page per chunk. */
async function* jsonArray(pages: AsyncIterable<Row[]>): AsyncGenerator<string> {
  let first = true;
  yield '[';
  for await (const rows of pages) {
    if (rows.length === 0) continue;
    yield (first ? '' : ',') + rows.map(rowJson).join(',');
    first = false;
  }
  yield ']';
}

async function* flatten<T>(pages: AsyncIterable<T[]>): AsyncGenerator<T> {
  for await (const rows of pages) yield* rows;
}

export function routes({ store, bots, clock }: Services): RouteDeclaration[] {
  /** Which store a ranking is read from: people's, or with bots=1 the bots' (api.bots "separate" only). */
  function rankingOf(ofBots: boolean): HitStore {
    if (!ofBots) return store;
    if (!bots) throw new BadRequestError('Expected `bots` only with api.bots "separate": bots are counted apart only then');
    return bots;
  }

  type RankingInput = z.output<z.ZodObject<typeof rankingQuery>> & { format?: 'json' | 'csv' };
  // X-Total-Count: paths in all (under the prefix); Link: <…>; rel="next" when more follow.
  async function ranking(ctx: Context, query: RankingInput, csv: boolean) {
    const { limit, offset = 0, prefix, uniques = false } = query;
    const source = rankingOf(query.bots ?? false);
    const now = clock.now();
    const range = rangeOf(query, now, source.retention());

    const { total, rows } = await queryRanking(source, {
      range, prefix, offset, limit, uniques,
      // A day id per kept visitor day (90 by default, up to 3,650): only uniques reads them.
      visitorDays: uniques ? visitorDays(range, now, source.visitorRetentionMs()) : undefined,
    });
    ctx.set('X-Total-Count', String(total));
    ctx.set('Cache-Control', 'no-store');
    if (limit !== undefined && offset + limit < total) {
      const next = new URLSearchParams(ctx.querystring);
      next.set('offset', String(offset + limit));
      ctx.set('Link', `<${ctx.path}?${next}>; rel="next"`);
    }
    if (csv) {
      ctx.type = 'text/csv';
      ctx.attachment('stats.csv');
      ctx.body = await csvBody(flatten(rows), uniques ? ['path', 'hits', 'visitors'] : ['path', 'hits']);
      return;
    }
    ctx.type = 'application/json';
    if (limit !== undefined && limit <= source.pageSize) {
      // A short page is in memory already: one string, without the stream machinery.
      const page: Row[] = [];
      for await (const some of rows) page.push(...some);
      ctx.body = `[${page.map(rowJson).join(',')}]`;
    } else {
      ctx.body = Readable.from(jsonArray(rows));
    }
  }

  /** The ranking's parameters, in the order the unknown-parameter message lists them. */
  const rankingParams = (format: string) => {
    const { bots: botsParam, ...rest } = rankingQuery;
    return query({ ...rest, format: oneOf(['json', 'csv']).optional().meta({ description: format }), bots: botsParam });
  };

  const badRanking = 'A parameter invalid, given twice, or unknown; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.';
  return [
    route({
      operationId: 'getRanking',
      method: 'get',
      path: '/stats',
      tags: ['stats'],
      summary: 'Every counted path with its hits, highest first',
      description: 'Without a window, exactly `ZREVRANGE hits 0 -1 WITHSCORES` (ties in reverse lexicographic order); with one, the union of the buckets covering it. Streamed one Redis page at a time. `format=csv` answers CSV like `/stats.csv`.',
      auth: 'reader',
      query: rankingParams('Answer as JSON (default) or CSV.'),
      responses: {
        200: {
          description: 'The ranking (`[]` when nothing was counted yet).',
          headers: {
            'X-Total-Count': 'XTotalCount',
            Link: 'Link',
            'Content-Disposition': { description: 'With `format=csv`: `attachment; filename="stats.csv"`.', schema: { type: 'string' } },
          },
          content: { 'application/json': Ranking, 'text/csv': { type: 'string', description: `With \`format=csv\`: ${CSV_LINES}` } },
        },
        400: { ref: 'BadRequest', description: '`limit`, `offset`, `window`, `from`/`to`, `prefix`, `uniques` or `format` invalid, given twice, or an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        503: { ref: 'ServiceUnavailable', description: 'Redis unavailable, or a new custom `from`/`to` window while `analytics.maxCachedWindows` distinct ones are cached: `Retry-After` says when one frees.' },
      },
      handler: (ctx, { query: input }) => ranking(ctx, input, input.format === 'csv'),
    }),
    route({
      operationId: 'exportRanking',
      method: 'get',
      path: '/stats.csv',
      tags: ['stats'],
      summary: 'The ranking as CSV',
      description: 'The same rows as `/stats`, streamed in constant memory.',
      auth: 'reader',
      query: rankingParams('Accepted for symmetry with `/stats`; the answer is CSV either way.'),
      responses: {
        200: {
          description: CSV_LINES,
          headers: { 'X-Total-Count': 'XTotalCount', Link: 'Link', 'Content-Disposition': 'StatsAttachment' },
          content: { 'text/csv': { type: 'string' } },
        },
        400: { ref: 'BadRequest', description: badRanking },
        503: { ref: 'ServiceUnavailable', description: 'Redis unavailable, or a new custom `from`/`to` window while `analytics.maxCachedWindows` distinct ones are cached.' },
      },
      handler: (ctx, { query: input }) => ranking(ctx, input, true),
    }),
    route({
      operationId: 'getPathDetail',
      method: 'get',
      path: '/stats/path',
      tags: ['stats'],
      summary: 'One path: all-time hits, the window\'s hits and visitors, and a zero-filled series',
      auth: 'reader',
      query: query({
        path: apiPath().optional().meta({ description: 'The path (normalized like a hit).', examples: ['/api/hello/world'], param: { required: true } }),
        window: oneOf(WINDOWS).optional().meta({ description: 'A named window ending with the current minute (default `24h`). `all` is the whole history, as on `/stats`: `window.hits` is the all-time count, `window.visitors` covers the days still kept, and the series starts with the oldest day bucket still kept. Not together with `from`/`to`.' }),
        from: rangeQuery.from,
        to: rangeQuery.to,
        granularity: oneOf(GRANULARITIES).optional().meta({ description: 'Series resolution. By default minutes up to 2 h, hours up to 7 days, days beyond.' }),
      }),
      responses: {
        200: { description: 'The path\'s detail.', content: { 'application/json': PathDetail } },
        400: { ref: 'BadRequest', description: '`path` missing or not under `/api`; a bad window or range; a granularity older than its buckets are kept, or over 10000 points; an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        404: { ref: 'NotFound', description: 'The path was never counted.' },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached, or refused the command for now.' },
      },
      handler: async (ctx, { query: input }) => {
        const { path } = input;
        if (path === undefined) throw new BadRequestError('Expected `path`, such as /api/hello/world');
        const now = clock.now();
        const retention = store.retention();
        const window = rangeOf(input, now, retention, '24h');
        const range = window ?? keptRange(now, retention);
        const span = range.to - range.from;
        const granularity: Granularity = input.granularity ?? (span <= 2 * MS.hour ? 'minute' : span <= 7 * MS.day ? 'hour' : 'day');
        if (range.from < now - retention[granularity]) {
          throw new BadRequestError(`Expected a window within the ${granularity} buckets' retention (${retention[granularity] / MS.hour} h)`);
        }
        if (span / MS[granularity] > 10_000) throw new BadRequestError(`Expected at most 10000 ${granularity}s; use a coarser granularity`);

        const detail = await pathDetail(store, { path, window, range, granularity, now });
        if (!detail) throw new NotFoundError(`No hits counted for ${path}`);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = detail;
      },
    }),
    route({
      operationId: 'resetStats',
      method: 'delete',
      path: '/stats',
      tags: ['stats'],
      summary: 'Erase every key of the product (admin)',
      description: 'Erases the `hits` ranking and every key under `hitcounter:` (buckets, visitors, events, cached windows, rate limits), found with `SCAN`, never `FLUSHALL`; each shard\'s ranking, buckets and events in one atomic step, so they agree afterwards even under load. Kept: the visitors\' daily salts, which every replica also holds in memory (they expire after two days), and the load-test jobs with their leases (a reset clears counts, not the job system).',
      auth: 'admin',
      responses: {
        200: { description: 'How many keys were deleted.', content: { 'application/json': DeletedKeys } },
        503: { ref: 'RedisUnavailable', description: 'Redis could not be reached, or refused the command for now: nothing was deleted.' },
      },
      handler: async (ctx) => {
        ctx.body = { deletedKeys: await store.reset() + (bots ? await bots.reset() : 0) };
      },
    }),
  ];
}
