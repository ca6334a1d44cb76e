// src/hits/ranking-query.ts on a real Redis (Rankings alone, pages of 3 rows, one shard and
// three): GET /stats's query equals filtering and slicing the whole ranking in memory, its total
// comes first, and MONITOR shows a prefixed query reading the ranking once (and, past its buffer,
// reading on only from where the buffer ended).
import { connect } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { bucketsAt, MS, windowRange } from '../src/analytics/buckets.js';
import { underPrefix } from '../src/hits/normalize.js';
import { query, type RankingQuery, type Row } from '../src/hits/ranking-query.js';
import { Rankings, type PathHits } from '../src/hits/rankings.js';
import { shardOf } from '../src/hits/shards.js';
import { globalKeys, shardKeys, type ShardKeys } from '../src/redis/keys.js';
import { loadScripts } from '../src/redis/scripts.js';
import { ManualClock } from './helpers/clock.js';
import { prefixedRedis } from './helpers/app.js';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 30);
const ANALYTICS = { minuteTtlMs: 48 * MS.hour, hourTtlMs: 90 * MS.day, dayTtlMs: 730 * MS.day, visitorTtlMs: 90 * MS.day, windowCacheMs: 5000, maxCachedWindows: 2 };
const PAGE = 3;

interface Fixture {
  rankings: Rankings;
  shards: ShardKeys[];
  redis: Redis;
  prefix: string;
  /** Counts `hits` for `path` at `time` in its shard's ranking and buckets, as the writes would. */
  count(path: string, hits: number, time?: number): Promise<void>;
}

async function fixture(t: ExecutionContext, shardCount: number, sub = ''): Promise<Fixture> {
  const { redis, prefix } = await prefixedRedis(t);
  return on(redis, `${prefix}${sub}`, shardCount);
}

function on(redis: Redis, prefix: string, shardCount: number): Fixture {
  const shards = shardKeys({ prefix, hits: 'hits' }, shardCount);
  const rankings = new Rankings({ redis, keys: globalKeys(prefix), shards, scripts: loadScripts(redis), clock: new ManualClock(T0), pageSize: PAGE, analytics: ANALYTICS });
  const count = async (path: string, hits: number, time = T0) => {
    const keys = shards[shardOf(path, shards.length)]!;
    await redis.zincrby(keys.hits, hits, path);
    for (const bucket of Object.values(bucketsAt(time))) await redis.zincrby(keys.bucket(bucket), hits, path);
  };
  return { rankings, shards, redis, prefix, count };
}

async function run(rankings: Rankings, q: Partial<RankingQuery>): Promise<{ total: number; rows: Row[]; pages: number[] }> {
  const { total, rows } = await query(rankings, { range: undefined, offset: 0, ...q });
  const all: Row[] = [];
  const pages: number[] = [];
  for await (const page of rows) {
    all.push(...page);
    pages.push(page.length);
  }
  return { total, rows: all, pages };
}

// ZREVRANGE's order: highest score first, ties by member, bytewise, greatest first.
const ranked = (counts: Iterable<[string, number]>): PathHits[] =>
  [...counts].map(([path, hits]) => ({ path, hits })).sort((a, b) => b.hits - a.hits || Buffer.compare(Buffer.from(b.path), Buffer.from(a.path)));

/**
 * Every ZREVRANGE Redis runs on keys under `prefix` while `body` runs: [key, start, stop]. MONITOR
 * is read on a plain socket: ioredis's monitor() throws from its socket handler when lines arrive
 * after disconnect(), as they do while the file's other tests run.
 */
async function zrevranges(redis: Redis, prefix: string, body: () => Promise<unknown>): Promise<Array<[string, number, number]>> {
  const { host, port } = redis.options;
  const socket = connect(port!, host!);
  const seen: Array<[string, number, number]> = [];
  const sentinel = `${prefix}sentinel`;
  let ready!: () => void;
  let done!: () => void;
  const monitoring = new Promise<void>((resolve) => { ready = resolve; });
  const ended = new Promise<void>((resolve) => { done = resolve; });
  let buffered = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop()!;
    for (const line of lines) {
      if (line === '+OK') { ready(); continue; }
      const [command, key, start, stop] = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((match) => match[1]!);
      if (key === sentinel) done();
      else if (/^z(rev)?range$/i.test(command ?? '') && key?.startsWith(prefix)) seen.push([key, Number(start), Number(stop)]);
    }
  });
  socket.write('MONITOR\r\n');
  try {
    await monitoring;
    await body();
    await redis.exists(sentinel);
    await ended;
  } finally {
    socket.destroy();
  }
  return seen;
}

/** How many times each row of each key was asked for by those ZREVRANGEs (stop clipped to the key's size). */
async function readsPerRow(redis: Redis, calls: Array<[string, number, number]>): Promise<Map<string, number[]>> {
  const reads = new Map<string, number[]>();
  for (const [key, start, stop] of calls) {
    const size = await redis.zcard(key);
    const counts = reads.get(key) ?? new Array<number>(size).fill(0);
    for (let i = start; i <= Math.min(stop, size - 1); i++) counts[i]!++;
    reads.set(key, counts);
  }
  return reads;
}

// 20 paths with distinct hits; /api/a/… every third, /api/ab/… (not under /api/a) and /api/b/… the others.
const PATHS: Array<[string, number]> = Array.from({ length: 20 }, (_, i) => [i % 3 === 0 ? `/api/a/p${i}` : i % 3 === 1 ? `/api/ab/p${i}` : `/api/b/p${i}`, 100 - i]);
const ALL = ranked(PATHS);
const UNDER_A = ALL.filter(({ path }) => path.startsWith('/api/a/'));

for (const shardCount of [1, 3]) {
  test(`${shardCount} shard(s): totals and rows, with and without a prefix, offset and limit among the matches`, async (t) => {
    const { rankings, count } = await fixture(t, shardCount);
    for (const [path, hits] of PATHS) await count(path, hits);
    t.deepEqual(await run(rankings, {}), { total: 20, rows: ALL, pages: [3, 3, 3, 3, 3, 3, 2] });
    t.deepEqual((await run(rankings, { offset: 4, limit: 3 })), { total: 20, rows: ALL.slice(4, 7), pages: [3] }, 'a short page');
    t.deepEqual((await run(rankings, { offset: 4, limit: 10 })).rows, ALL.slice(4, 14), 'a long one');
    t.deepEqual(await run(rankings, { offset: 25, limit: 3 }), { total: 20, rows: [], pages: [] }, 'past the end');
    t.deepEqual(await run(rankings, { prefix: '/api' }), { total: 20, rows: ALL, pages: [3, 3, 3, 3, 3, 3, 2] }, 'the root is every path');
    t.deepEqual(await run(rankings, { prefix: '/api/a' }), { total: 7, rows: UNDER_A, pages: [3, 3, 1] });
    t.deepEqual(await run(rankings, { prefix: '/api/a', offset: 2, limit: 2 }), { total: 7, rows: UNDER_A.slice(2, 4), pages: [2] });
    t.deepEqual(await run(rankings, { prefix: '/api/a', offset: 5, limit: 10 }), { total: 7, rows: UNDER_A.slice(5), pages: [2] });
    t.deepEqual(await run(rankings, { prefix: '/api/a', offset: 1, bufferRows: 2 }), { total: 7, rows: UNDER_A.slice(1), pages: [2, 1, 1, 1, 1] }, 'past the buffer');
    t.deepEqual(await run(rankings, { prefix: '/api/a/p3' }), { total: 1, rows: [{ path: '/api/a/p3', hits: 97 }], pages: [1] });
    t.deepEqual(await run(rankings, { prefix: '/api/none', limit: 2 }), { total: 0, rows: [], pages: [] });
  });
}

test('uniques adds each row\'s visitors over the given days, with and without a prefix', async (t) => {
  const { rankings, count, shards, redis } = await fixture(t, 3);
  for (const [path, hits] of PATHS) await count(path, hits);
  const days = ['2026-11-19', '2026-11-20'];
  // Path i has i % 4 visitors, spread over the two days.
  const visitors = new Map(PATHS.map(([path], i) => [path, i % 4]));
  for (const [path, n] of visitors) {
    const keys = shards[shardOf(path, 3)]!;
    for (let v = 0; v < n; v++) await redis.pfadd(keys.visitors(days[v % 2]!, path), `v${v}`);
  }
  const withVisitors = (rows: PathHits[]) => rows.map((row) => ({ ...row, visitors: visitors.get(row.path)! }));
  t.deepEqual((await run(rankings, { uniques: true, visitorDays: days })).rows, withVisitors(ALL));
  t.deepEqual((await run(rankings, { uniques: true, visitorDays: days, offset: 1, limit: 2 })).rows, withVisitors(ALL.slice(1, 3)));
  t.deepEqual(await run(rankings, { uniques: true, visitorDays: days, prefix: '/api/a', offset: 1, limit: 4 }), { total: 7, rows: withVisitors(UNDER_A.slice(1, 5)), pages: [3, 1] });
  t.deepEqual((await run(rankings, { uniques: true, visitorDays: days.slice(1), prefix: '/api/a', limit: 1 })).rows, [{ ...UNDER_A[0]!, visitors: 0 }], 'only the days given');
});

test('a window ranks only its buckets, with and without a prefix', async (t) => {
  const { rankings, count } = await fixture(t, 1);
  await count('/api/a/old', 9, T0 - 3 * MS.day);
  await count('/api/a/new', 2);
  await count('/api/b/new', 3);
  await count('/api/a/old', 1);
  const range = windowRange('24h', T0, rankings.retention());
  t.deepEqual(await run(rankings, { range }), { total: 3, rows: ranked([['/api/b/new', 3], ['/api/a/new', 2], ['/api/a/old', 1]]), pages: [3] });
  t.deepEqual((await run(rankings, { range, prefix: '/api/a' })).rows, [{ path: '/api/a/new', hits: 2 }, { path: '/api/a/old', hits: 1 }]);
  t.deepEqual(await run(rankings, { range, prefix: '/api/a', offset: 1, limit: 1 }), { total: 2, rows: [{ path: '/api/a/old', hits: 1 }], pages: [1] });
  t.deepEqual((await run(rankings, { prefix: '/api/a', limit: 1 })).rows, [{ path: '/api/a/old', hits: 10 }], 'all time');
});

test('MONITOR: a short page without a prefix reads only its rows, in one ZREVRANGE', async (t) => {
  const { rankings, count, redis, prefix, shards } = await fixture(t, 1);
  for (const [path, hits] of PATHS) await count(path, hits);
  const calls = await zrevranges(redis, prefix, async () => {
    t.deepEqual(await run(rankings, { offset: 4, limit: 3 }), { total: 20, rows: ALL.slice(4, 7), pages: [3] });
  });
  t.deepEqual(calls, [[shards[0]!.hits, 4, 6]]);
});

for (const shardCount of [1, 3]) {
  test(`MONITOR, ${shardCount} shard(s): a prefixed query reads every row of the ranking once, whatever its page, within the buffer`, async (t) => {
    const { rankings, count, redis, prefix, shards } = await fixture(t, shardCount);
    for (const [path, hits] of PATHS) await count(path, hits);
    const cases: Array<[Partial<RankingQuery>, PathHits[]]> = [
      [{ prefix: '/api/a', offset: 1, limit: 2 }, UNDER_A.slice(1, 3)], // the dashboard's short page
      [{ prefix: '/api/a', offset: 2 }, UNDER_A.slice(2)], // no limit: 5 rows, under the buffer (10 pages)
      [{ prefix: '/api/a', offset: 1, limit: 2, bufferRows: 2 }, UNDER_A.slice(1, 3)], // the page fills the buffer exactly
      [{ prefix: '/api/a', uniques: true, visitorDays: ['2026-11-20'], limit: 100 }, UNDER_A.map((row) => ({ ...row, visitors: 0 }))],
    ];
    for (const [q, rows] of cases) {
      const calls = await zrevranges(redis, prefix, async () => t.deepEqual(await run(rankings, q), { total: 7, rows, pages: pagesOf(rows.length) }));
      const reads = await readsPerRow(redis, calls);
      t.deepEqual([...reads.keys()].sort(), shards.map((keys) => keys.hits).sort(), 'every shard read');
      for (const [key, counts] of reads) t.true(counts.every((n) => n === 1), `${JSON.stringify(q)}: each row of ${key} read once, got ${counts}`);
    }
  });

  test(`MONITOR, ${shardCount} shard(s): past its buffer, a prefixed query reads on from where the buffer ended, not from the start`, async (t) => {
    const { rankings, count, redis, prefix, shards } = await fixture(t, shardCount);
    for (const [path, hits] of PATHS) await count(path, hits);
    // Buffer of 2 matches: /api/a/p0 and /api/a/p3 (ranking rows 0 and 3 of 20); 5 more are wanted.
    const calls = await zrevranges(redis, prefix, async () => {
      t.deepEqual(await run(rankings, { prefix: '/api/a', bufferRows: 2 }), { total: 7, rows: UNDER_A, pages: [2, 1, 1, 1, 1, 1] });
    });
    const reads = await readsPerRow(redis, calls);
    const all = [...reads.values()].flat();
    t.true(all.every((n) => n === 1 || n === 2), 'each row read once or twice');
    if (shardCount === 1) {
      t.deepEqual(reads.get(shards[0]!.hits), [1, 1, 1, 1, ...new Array<number>(16).fill(2)], 'rows 0-3 once (through the buffer\'s last), the rest counted then read');
    } else {
      // Each shard reads on from its own position after the buffer's last row: its first rows once.
      for (const keys of shards) {
        const counts = reads.get(keys.hits)!;
        const firstAgain = counts.indexOf(2);
        t.true(firstAgain > 0 && counts.slice(firstAgain).every((n) => n === 2), `${keys.hits}: ${counts}`);
      }
      t.true(all.filter((n) => n === 1).length >= 4, 'what the buffer covered is read once');
    }
  });
}

function pagesOf(rows: number): number[] {
  const pages: number[] = [];
  for (let left = rows; left > 0; left -= PAGE) pages.push(Math.min(PAGE, left));
  return pages;
}

test('property: for random rankings, prefixes, offsets, limits and buffers, the query is the ranking filtered and sliced in memory', async (t) => {
  const { redis, prefix } = await prefixedRedis(t);
  const segment = fc.constantFrom('a', 'ab', 'b', 'c');
  const path = fc.array(segment, { minLength: 1, maxLength: 3 }).map((parts) => `/api/${parts.join('/')}`);
  const rankingArb = fc.uniqueArray(fc.tuple(path, fc.integer({ min: 1, max: 4 })), { maxLength: 30, selector: ([p]) => p });
  const prefixArb = fc.option(fc.constantFrom('/api', '/api/a', '/api/ab', '/api/a/b', '/api/b', '/api/c/a'), { nil: undefined });
  let run_ = 0;
  await fc.assert(fc.asyncProperty(
    rankingArb, fc.constantFrom(1, 3), prefixArb, fc.nat(35), fc.option(fc.integer({ min: 1, max: 35 }), { nil: undefined }), fc.option(fc.integer({ min: 1, max: 8 }), { nil: undefined }),
    async (counts, shardCount, under, offset, limit, bufferRows) => {
      const { rankings, shards } = on(redis, `${prefix}run${run_++}:`, shardCount);
      for (const [p, hits] of counts) await redis.zadd(shards[shardOf(p, shardCount)]!.hits, hits, p);
      const matches = ranked(counts).filter((row) => underPrefix(row.path, under));
      const got = await run(rankings, { prefix: under, offset, limit, bufferRows });
      t.is(got.total, matches.length);
      t.deepEqual(got.rows, matches.slice(offset, limit === undefined ? undefined : offset + limit));
      t.true(got.pages.every((size) => size >= 1 && size <= PAGE), `pages ${got.pages}`);
    },
  ), { numRuns: 150 });
});
