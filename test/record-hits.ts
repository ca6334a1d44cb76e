// record-hits.lua on a real Redis, called as the writer calls it (recordHitsArgs): the hits of one
// path in a batch are counted by one ZINCRBY by k, and each hit still gets its own running total.
import test, { type ExecutionContext } from 'ava';
import { bucketsAt } from '../src/analytics/buckets.js';
import { CallKeys } from '../src/hits/hit.js';
import { shardKeys } from '../src/redis/keys.js';
import { recordHitsArgs, type RecordedHit } from '../src/redis/script-args.js';
import { loadScripts } from '../src/redis/scripts.js';
import { prefixedRedis } from './helpers/app.js';

const T0 = Date.UTC(2026, 10, 20, 12, 0, 30);
const LIFETIMES = { buckets: { minute: 60_000, hour: 60_000, day: 60_000 }, visitors: 60_000, second: 60_000, sequence: 60_000 };

const hit = (path: string, visitor: string, ms = 0): RecordedHit =>
  ({ path, visitor, time: T0 + ms, method: 'GET', referrer: '', userAgent: 'ua', eventPath: path });

async function fixture(t: ExecutionContext) {
  const { redis, prefix } = await prefixedRedis(t);
  loadScripts(redis);
  const [keys] = shardKeys({ prefix, hits: 'hits' }, 1);
  const callKeys = new CallKeys(keys!).at(T0, Math.floor(T0 / 1000), 'epoch');
  const record = (hits: RecordedHit[], options: { maxPaths?: number; maxEvents?: number; lastSeq?: number } = {}) =>
    redis.hcRecordHits(...recordHitsArgs({
      keys: callKeys, lifetimes: LIFETIMES, lastSeq: options.lastSeq ?? hits.length, maxPaths: options.maxPaths ?? 0,
      events: keys!.events, maxEvents: options.maxEvents ?? 1000, hits,
    })).then((counts) => counts.map(Number));
  return { redis, keys: keys!, callKeys, record };
}

test('hits of one path in a batch get T-k+1 … T, counted once by k in the ranking and every bucket', async (t) => {
  const { redis, keys, record } = await fixture(t);
  await redis.zadd(keys.hits, 10, '/api/a');
  const counts = await record([hit('/api/a', 'v1'), hit('/api/b', 'v1'), hit('/api/a', 'v2'), hit('/api/a', 'v1')]);
  t.deepEqual(counts, [11, 1, 12, 13]);
  t.is(await redis.zscore(keys.hits, '/api/a'), '13');
  const { minute, hour, day } = bucketsAt(T0);
  for (const bucket of [minute, hour, day]) {
    t.is(await redis.zscore(keys.bucket(bucket), '/api/a'), '3');
    t.is(await redis.zscore(keys.bucket(bucket), '/api/b'), '1');
  }
  t.is(await redis.get(keys.second(Math.floor(T0 / 1000))), '4');
  t.is(await redis.get(keys.hitSeq('epoch')), '4');
});

test('every hit keeps its own event, in arrival order, and its visitor', async (t) => {
  const { redis, keys, callKeys, record } = await fixture(t);
  await record([hit('/api/a', 'v1', 1), hit('/api/b', 'v2', 2), hit('/api/a', 'v3', 3)]);
  const events = await redis.xrange(keys.events, '-', '+');
  t.deepEqual(events.map(([, fields]) => [fields[1], fields[5]]), [[String(T0 + 1), '/api/a'], [String(T0 + 2), '/api/b'], [String(T0 + 3), '/api/a']]);
  t.is(await redis.pfcount(callKeys.visitorsOf('/api/a')), 2);
  t.is(await redis.pfcount(callKeys.visitorsOf('/api/b')), 1);
});

test('without the event log, a hit sends only its path and visitor, and is counted the same', async (t) => {
  const { redis, keys, callKeys, record } = await fixture(t);
  const args = recordHitsArgs({ keys: callKeys, lifetimes: LIFETIMES, lastSeq: 2, maxPaths: 0, events: keys.events, maxEvents: 0, hits: [hit('/api/a', 'v1'), hit('/api/a', 'v2')] });
  t.deepEqual(args.slice(-4), ['/api/a', 'v1', '/api/a', 'v2']);
  t.deepEqual(await record([hit('/api/a', 'v1'), hit('/api/a', 'v2')], { maxEvents: 0 }), [1, 2]);
  t.is(await redis.exists(keys.events), 0);
  t.is(await redis.pfcount(callKeys.visitorsOf('/api/a')), 2);
});

test('past the path cap, a new path is refused with all its hits, and known paths still count', async (t) => {
  const { redis, keys, record } = await fixture(t);
  await redis.zadd(keys.hits, 5, '/api/known');
  const counts = await record([hit('/api/new', 'v'), hit('/api/known', 'v'), hit('/api/new', 'v')], { maxPaths: 1 });
  t.deepEqual(counts, [-1, 6, -1]);
  t.is(await redis.zscore(keys.hits, '/api/new'), null);
  t.is(await redis.get(keys.second(Math.floor(T0 / 1000))), '1', 'only the counted hit reaches the live feed');
  t.is(await redis.xlen(keys.events), 1, 'only the counted hit is logged');
});
