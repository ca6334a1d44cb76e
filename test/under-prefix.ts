// src/hits/under-prefix.ts on a real Redis: a ranking restricted to a prefix, read in pages of 3
// so that matches fall across pages; offset and limit count among the matches.
import test from 'ava';
import fc from 'fast-check';
import type { PathHits } from '../src/hits/rankings.js';
import { Rankings } from '../src/hits/rankings.js';
import { pagesUnder, pageUnder } from '../src/hits/under-prefix.js';
import { createShardKeys } from '../src/redis/keys.js';
import { loadScripts } from '../src/redis/scripts.js';
import { prefixedRedis } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';

const ANALYTICS = { minuteTtlMs: 1, hourTtlMs: 1, dayTtlMs: 1, visitorTtlMs: 1, windowCacheMs: 5000, maxCachedWindows: 2 };

test('a page under a prefix, its total, and the streamed pages agree with filtering the whole ranking', async (t) => {
  const { redis, prefix } = await prefixedRedis(t);
  const shards = createShardKeys({ prefix, hits: 'hits' }, 1);
  const rankings = new Rankings({ redis, keys: shards[0]!, shards, scripts: loadScripts(redis), clock: new ManualClock(0), pageSize: 3, analytics: ANALYTICS });
  // 20 paths, distinct scores; every third under /api/a (and /api/ab is not under /api/a).
  const paths = Array.from({ length: 20 }, (_, i) => (i % 3 === 0 ? `/api/a/p${i}` : i % 3 === 1 ? `/api/ab/p${i}` : `/api/b/p${i}`));
  for (const [i, path] of paths.entries()) await redis.zadd(shards[0]!.hits, 100 - i, path);
  const ranking = await rankings.rankingKey(undefined);
  const matches: PathHits[] = paths.map((path, i) => ({ path, hits: 100 - i })).filter(({ path }) => path.startsWith('/api/a/'));
  t.deepEqual(await pageUnder(rankings, ranking, '/api/a', 0, 0), { rows: [], total: matches.length }, 'limit 0 only counts');

  await fc.assert(fc.asyncProperty(fc.nat(10), fc.integer({ min: 1, max: 10 }), async (offset, limit) => {
    const page = await pageUnder(rankings, ranking, '/api/a', offset, limit);
    t.deepEqual(page, { rows: matches.slice(offset, offset + limit), total: matches.length });
    const streamed: PathHits[] = [];
    for await (const rows of pagesUnder(rankings, ranking, '/api/a', offset, limit)) streamed.push(...rows);
    t.deepEqual(streamed, matches.slice(offset, offset + limit));
  }), { numRuns: 25 });
  const all: PathHits[] = [];
  for await (const rows of pagesUnder(rankings, ranking, '/api/a', 0, undefined)) all.push(...rows);
  t.deepEqual(all, matches);
});
