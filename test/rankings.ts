// Rankings (src/hits/rankings.ts) on its own, on a real Redis and an injected clock: every read of
// the counts, with one shard and with three, without the write path.
import test, { type ExecutionContext } from 'ava';
import { bucketsAt, MS } from '../src/analytics/buckets.js';
import type { HttpError } from '../src/errors.js';
import type { Redis } from 'ioredis';
import { Rankings, type PathHits } from '../src/hits/rankings.js';
import { shardOf } from '../src/hits/shards.js';
import { globalKeys, shardKeys, type ShardKeys } from '../src/redis/keys.js';
import { loadScripts } from '../src/redis/scripts.js';
import { prefixedRedis } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 30);
const ANALYTICS = { minuteTtlMs: 48 * MS.hour, hourTtlMs: 90 * MS.day, dayTtlMs: 730 * MS.day, visitorTtlMs: 90 * MS.day, windowCacheMs: 5000, maxCachedWindows: 2 };

interface Fixture {
  rankings: Rankings;
  shards: ShardKeys[];
  redis: Redis;
  clock: ManualClock;
  /** Counts `hits` for `path` at `time` in its shard's ranking and buckets, as the writes would. */
  count(path: string, hits: number, time?: number): Promise<void>;
}

async function fixture(t: ExecutionContext, shardCount: number, pageSize = 3): Promise<Fixture> {
  const { redis, prefix } = await prefixedRedis(t);
  const shards = shardKeys({ prefix, hits: 'hits' }, shardCount);
  const clock = new ManualClock(T0);
  const rankings = new Rankings({ redis, keys: globalKeys(prefix), shards, scripts: loadScripts(redis), clock, pageSize, analytics: ANALYTICS });
  const count = async (path: string, hits: number, time = T0) => {
    const keys = shards[shardOf(path, shards.length)]!;
    await redis.zincrby(keys.hits, hits, path);
    for (const bucket of Object.values(bucketsAt(time))) await redis.zincrby(keys.bucket(bucket), hits, path);
  };
  return { rankings, shards, redis, clock, count };
}

async function collect(pages: AsyncIterable<PathHits[]>): Promise<PathHits[]> {
  const rows: PathHits[] = [];
  for await (const page of pages) rows.push(...page);
  return rows;
}

// Ties in ZREVRANGE order: highest score first, then members from the last.
const expected = (counts: Array<[string, number]>): PathHits[] =>
  counts.map(([path, hits]) => ({ path, hits })).sort((a, b) => b.hits - a.hits || (a.path < b.path ? 1 : -1));

for (const shardCount of [1, 3]) {
  test(`${shardCount} shard(s): the ranking pages, with offset and limit, are those of one sorted set`, async (t) => {
    const { rankings, count } = await fixture(t, shardCount);
    const counts: Array<[string, number]> = Array.from({ length: 11 }, (_, i) => [`/api/p${i}`, (i * 7) % 5]);
    for (const [path, hits] of counts) await count(path, hits);
    const all = expected(counts);
    t.deepEqual(await collect(rankings.ranking({ offset: 0 })), all);
    t.deepEqual(await collect(rankings.ranking({ offset: 4, limit: 5 })), all.slice(4, 9));
    t.deepEqual(await collect(rankings.ranking({ offset: 10, limit: 5 })), all.slice(10));
    t.deepEqual(await collect(rankings.ranking({ offset: 20 })), []);
    // Pages of pageSize (3) rows.
    const sizes: number[] = [];
    for await (const page of rankings.ranking({ offset: 0 })) sizes.push(page.length);
    t.deepEqual(sizes.filter((size) => size > 0), [3, 3, 3, 2]);
    t.is(await rankings.distinctPaths(), 11);
    t.is(await rankings.hitsOf('/api/p3'), 1);
    t.is(await rankings.hitsOf('/api/never'), 0);
  });
}

for (const shardCount of [1, 3]) {
  test(`${shardCount} shard(s): page and pageWithTotal give ranking()'s rows whole, past the end and over a window too`, async (t) => {
    const { rankings, count, shards, clock } = await fixture(t, shardCount);
    const counts: Array<[string, number]> = Array.from({ length: 11 }, (_, i) => [`/api/p${i}`, (i * 7) % 5]);
    for (const [path, hits] of counts) await count(path, hits);
    const all = expected(counts);
    const allTime = shards.map((keys) => keys.hits);
    t.is(rankings.pageSize, 3);
    t.deepEqual(await rankings.page(allTime, 0, 3), all.slice(0, 3));
    t.deepEqual(await rankings.page(allTime, 4, 5), all.slice(4, 9), 'longer than pageSize, still one array');
    t.deepEqual(await rankings.pageWithTotal(allTime, 9, 3), [all.slice(9), 11], 'the last rows');
    t.deepEqual(await rankings.pageWithTotal(allTime, 11, 3), [[], 11], 'offset at the end');
    t.deepEqual(await rankings.pageWithTotal(allTime, 50, 1), [[], 11], 'offset past the end');
    // A window: /api/old's hits fall before the last hour, so only the all-time page holds it.
    await count('/api/old', 9, T0 - 3 * MS.hour);
    clock.time = T0 + 10_000;
    const lastHour = await rankings.rankingKey({ from: T0 - 30_000 - MS.hour + MS.minute, to: T0 - 30_000 + MS.minute });
    t.deepEqual(await rankings.pageWithTotal(lastHour, 1, 2), [all.slice(1, 3), 11]);
    t.deepEqual(await rankings.pageWithTotal(allTime, 0, 2), [[{ path: '/api/old', hits: 9 }, all[0]!], 12]);
  });
}

test('sumOf reads across ZMSCORE chunks and shards; paths never counted add 0', async (t) => {
  const { rankings, count, redis, shards } = await fixture(t, 3);
  const pipeline = redis.pipeline();
  for (let i = 0; i < 2500; i++) pipeline.zadd(shards[shardOf(`/api/s${i}`, 3)]!.hits, 2, `/api/s${i}`);
  await pipeline.exec();
  await count('/api/extra', 5);
  const paths = function* () { for (let i = 0; i < 3000; i++) yield `/api/s${i}`; };
  t.is(await rankings.sumOf(paths()), 5000);
  t.is(await rankings.sumOf(['/api/extra', '/api/none']), 5);
});

test('a window ranks only the buckets it covers; a custom window past the budget is a 503 with Retry-After', async (t) => {
  const { rankings, count, clock } = await fixture(t, 1);
  await count('/api/old', 4, T0 - 3 * MS.hour);
  await count('/api/new', 1, T0);
  await count('/api/old', 1, T0);
  clock.time = T0 + 10_000;
  const lastHour = await rankings.rankingKey({ from: T0 - 30_000 - MS.hour + MS.minute, to: T0 - 30_000 + MS.minute });
  t.deepEqual(await collect(rankings.ranking({ offset: 0 }, lastHour)), [{ path: '/api/old', hits: 1 }, { path: '/api/new', hits: 1 }]);
  t.deepEqual(await collect(rankings.ranking({ offset: 0 })), [{ path: '/api/old', hits: 5 }, { path: '/api/new', hits: 1 }], 'all time');
  // That range is the named window 1h's, outside the budget. Budget 2: two distinct custom
  // windows fit, a third does not, and one already admitted is shared.
  const minute = T0 - 30_000;
  const custom = (minutes: number) => rankings.rankingKey({ from: minute - minutes * MS.minute, to: minute + MS.minute });
  await custom(10);
  await custom(20);
  await custom(10);
  const refused = await t.throwsAsync<HttpError>(custom(30));
  t.is(refused?.status, 503);
  t.true(Number(refused?.headers['Retry-After']) >= 1);
});

test('seriesOf zero-fills buckets without hits; visitorsOf counts each path over the days', async (t) => {
  const { rankings, count, redis, shards } = await fixture(t, 1);
  await count('/api/s', 2, T0);
  const { minute } = bucketsAt(T0);
  const before = { granularity: 'minute' as const, start: minute.start - MS.minute };
  t.deepEqual(await rankings.seriesOf('/api/s', [before, minute]), [0, 2]);
  const keys = shards[0]!;
  await redis.pfadd(keys.visitors('2026-11-19', '/api/s'), 'a', 'b');
  await redis.pfadd(keys.visitors('2026-11-20', '/api/s'), 'b', 'c');
  t.deepEqual(await rankings.visitorsOf(['/api/s', '/api/none'], ['2026-11-19', '2026-11-20']), [3, 0]);
  t.deepEqual(await rankings.visitorsOf([], ['2026-11-20']), []);
});
