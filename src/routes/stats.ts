// The ranking of counted paths, all time or over a window, and the per-path detail.
import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { bucketId, GRANULARITIES, keptRange, MS, series, type Granularity, type Range } from '../analytics/buckets.js';
import type { Clock } from '../clock.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import { pagesUnder, pageUnder } from '../hits/under-prefix.js';
import type { HitStore, PathHits } from '../hits/store.js';
import { csvBody } from './csv.js';
import { booleanParam, enumParam, integerParam, rejectUnknown } from './params.js';
import { prefixParam, rangeParam } from './ranges.js';

export interface StatsDeps {
  store: HitStore;
  /** api.bots "separate": bots' hits, read with bots=1. */
  bots?: HitStore;
  clock: Clock;
  admin: Middleware;
  reader: Middleware;
}

type Row = PathHits & { visitors?: number };

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

/** Day ids whose visitor HyperLogLogs cover a range: all kept days for all time. */
function visitorDays(range: Range | undefined, now: number, keptMs: number): string[] {
  const span = range ?? { from: now - keptMs, to: now + 1 };
  return series(span, 'day').map(bucketId);
}

export function mount(router: Router, { store, bots, clock, admin, reader }: StatsDeps): void {
  // GET /stats?limit=&offset=&window=&from=&to=&prefix=&uniques=&format=&bots=   (and GET /stats.csv)
  // The paths with their hits, highest first. Without a window: the all-time ranking, exactly
  // `ZREVRANGE hits 0 -1 WITHSCORES`. With one: the union of the window's buckets.
  // bots=1: the ranking of bots' hits instead, counted apart with api.bots "separate".
  //   200 [{"path": "/api/a", "hits": 3}, ...] (+ "visitors" with uniques=1), or CSV
  //       X-Total-Count: paths in all (under the prefix); Link: <…>; rel="next" when more follow
  //   400 a bad parameter; 401 with auth.protectStats, the admin token missing or wrong
  //   503 Redis unavailable
  router.get(['/stats', '/stats.csv'], reader, async (ctx) => {
    const query = ctx.query;
    rejectUnknown(query, ['limit', 'offset', 'window', 'from', 'to', 'prefix', 'uniques', 'format', 'bots']);
    const source = rankingOf(booleanParam('bots', query.bots) ?? false);
    const csv = ctx.path === '/stats.csv' || enumParam('format', query.format, ['json', 'csv']) === 'csv';
    const limit = integerParam('limit', query.limit, 1);
    const offset = integerParam('offset', query.offset, 0) ?? 0;
    const prefix = prefixParam(query.prefix);
    const uniques = booleanParam('uniques', query.uniques) ?? false;
    const now = clock.now();
    const range = rangeParam(query, now, source.retention());

    const ranking = await source.rankingKey(range);
    const setHeaders = (total: number) => {
      ctx.set('X-Total-Count', String(total));
      ctx.set('Cache-Control', 'no-store');
      if (limit !== undefined && offset + limit < total) {
        const next = new URLSearchParams(ctx.querystring);
        next.set('offset', String(offset + limit));
        ctx.set('Link', `<${ctx.path}?${next}>; rel="next"`);
      }
    };
    // A short page is read whole and answered as one string, without the stream machinery: what
    // the dashboard's pages and the benchmark ask for. Without a prefix it is one round trip (the
    // page and its total); with one, one pass over the ranking that counts and keeps the page.
    if (limit !== undefined && limit <= source.pageSize && !csv && !uniques) {
      const { rows, total } = prefix === undefined
        ? await source.pageWithTotal(ranking, offset, limit).then(([page, count]) => ({ rows: page, total: count }))
        : await pageUnder(source, ranking, prefix, offset, limit);
      setHeaders(total);
      ctx.type = 'application/json';
      ctx.body = `[${rows.map(rowJson).join(',')}]`;
      return;
    }
    // Longer answers stream; the total comes first (a header), so a prefix costs a counting pass.
    setHeaders(prefix === undefined ? await source.distinctPaths(ranking) : (await pageUnder(source, ranking, prefix, 0, 0)).total);
    const ranked = prefix === undefined ? source.ranking({ offset, limit }, ranking) : pagesUnder(source, ranking, prefix, offset, limit);
    const days = visitorDays(range, now, source.visitorRetentionMs());
    const pages = uniques ? withVisitors(source, ranked, days) : ranked;

    if (csv) {
      ctx.type = 'text/csv';
      ctx.attachment('stats.csv');
      const columns = uniques ? ['path', 'hits', 'visitors'] : ['path', 'hits'];
      ctx.body = await csvBody(flatten(pages), columns);
      return;
    }
    ctx.type = 'application/json';
    ctx.body = Readable.from(jsonArray(pages));
  });

  /** Which store a ranking is read from: people's, or with bots=1 the bots' (api.bots "separate" only). */
  function rankingOf(ofBots: boolean): HitStore {
    if (!ofBots) return store;
    if (!bots) throw new BadRequestError('Expected `bots` only with api.bots "separate": bots are counted apart only then');
    return bots;
  }

  // GET /stats/path?path=/api/a/b&window=&from=&to=&granularity=minute|hour|day
  // One path: all-time hits, hits and visitors over the window (default 24h), and a zero-filled series.
  // window=all: the whole history, as on /stats: all-time hits and visitors, a series of the kept days.
  //   200 {"path", "hits", "window": {"from", "to", "hits", "visitors"}, "granularity", "series": [{"time", "hits"}]}
  //   400 a bad parameter; 404 the path was never counted
  router.get('/stats/path', reader, async (ctx) => {
    const query = ctx.query;
    rejectUnknown(query, ['path', 'window', 'from', 'to', 'granularity']);
    const path = prefixParam(query.path, 'path');
    if (path === undefined) throw new BadRequestError('Expected `path`, such as /api/hello/world');
    const now = clock.now();
    const retention = store.retention();
    const window = rangeParam(query, now, retention, '24h');
    const range = window ?? keptRange(now, retention);
    const span = range.to - range.from;
    const granularity: Granularity = enumParam('granularity', query.granularity, GRANULARITIES) ?? (span <= 2 * MS.hour ? 'minute' : span <= 7 * MS.day ? 'hour' : 'day');
    if (range.from < now - retention[granularity]) {
      throw new BadRequestError(`Expected a window within the ${granularity} buckets' retention (${retention[granularity] / MS.hour} h)`);
    }
    if (span / MS[granularity] > 10_000) throw new BadRequestError(`Expected at most 10000 ${granularity}s; use a coarser granularity`);

    const hits = await store.hitsOf(path);
    if (hits === 0) throw new NotFoundError(`No hits counted for ${path}`);
    const buckets = series(range, granularity);
    const counts = await store.seriesOf(path, buckets);
    const [visitors] = await store.visitorsOf([path], visitorDays(window, now, store.visitorRetentionMs()));
    // All time is the ranking's own count: it also holds hits older than the day buckets kept.
    const windowHits = window ? counts.reduce((a, b) => a + b, 0) : hits;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = {
      path,
      hits,
      window: { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), hits: windowHits, visitors },
      granularity,
      series: buckets.map((bucket, i) => ({ time: new Date(bucket.start).toISOString(), hits: counts[i] })),
    };
  });

  // DELETE /stats   (admin)
  // Erases every key of the product, found by SCAN on its prefix (never FLUSHALL): the ranking,
  // buckets, visitors, events, jobs; not the visitor salts, which replicas hold in memory too.
  //   200 {"deletedKeys": n}
  //   401 admin token missing or wrong; 403 no token configured and the client is not on loopback
  //   503 Redis unavailable
  router.delete('/stats', admin, async (ctx) => {
    ctx.body = { deletedKeys: await store.reset() + (bots ? await bots.reset() : 0) };
  });
}

async function* withVisitors(store: HitStore, pages: AsyncIterable<PathHits[]>, days: string[]): AsyncGenerator<Row[]> {
  for await (const rows of pages) {
    const visitors = await store.visitorsOf(rows.map((row) => row.path), days);
    yield rows.map((row, i) => ({ ...row, visitors: visitors[i]! }));
  }
}
