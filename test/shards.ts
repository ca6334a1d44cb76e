// Sharded counters (redis.shards > 1) on one Redis: a path is always counted in the same shard,
// the shards' tags spread over the slot space, and /stats, windows, prefixes, per-path detail,
// events and DELETE /stats read the shards as one ranking.
import test from 'ava';
import { Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { shardOf, shardTags } from '../src/hits/shards.js';
import { globalKeys, shardKeys } from '../src/redis/keys.js';
import { startApp, sharedRedis } from './helpers/app.js';
import { assertMatchesSingleSet } from './helpers/reference.js';

test('one shard is exactly the single `hits` ranking; K shards get K tags, one per K-th of the slots', (t) => {
  const [single, ...none] = shardKeys({ prefix: 'p:', hits: 'hits' }, 1);
  t.deepEqual(none, []);
  t.is(single!.hits, 'p:hits');
  t.is(single!.events, 'p:hitcounter:{p:hits}:events');
  t.is(single!.hitSeq('e'), 'p:hitcounter:{p:hits}:seq:e');
  t.is(single!.bucket({ granularity: 'day', start: 0 }), 'p:hitcounter:{p:hits}:day:1970-01-01');
  // What exists once does not depend on the shards: no shard's keys name it.
  const global = globalKeys('p:');
  t.is(global.jobs, 'p:hitcounter:{p:jobs}');
  t.is(global.productPattern, 'p:hitcounter:*');
  t.is(global.windowBudget, 'p:hitcounter:windows');
  t.is(global.salt('2026-11-24'), 'p:hitcounter:salt:2026-11-24');
  t.false('jobs' in single! || 'salt' in single! || 'windowBudget' in single! || 'rateLimit' in single!, 'a shard\'s keys name no global key');
  for (const k of [2, 3, 5, 16]) {
    const tags = shardTags('p:hits', k);
    t.is(new Set(tags).size, k);
    tags.forEach((tag, i) => {
      const slot = calculateSlot(tag);
      t.true(slot >= Math.floor((i * 16384) / k) && slot < Math.floor(((i + 1) * 16384) / k), `${tag} → slot ${slot}`);
    });
    t.deepEqual(shardTags('p:hits', k), tags, 'deterministic: every replica computes the same');
  }
  const shards = shardKeys({ prefix: '', hits: 'hits' }, 3);
  t.is(shards[1]!.hits, `{${shardTags('hits', 3)[1]}}`);
  for (const keys of shards) {
    const slot = calculateSlot(keys.hits);
    for (const key of [keys.bucket({ granularity: 'minute', start: 0 }), keys.events, keys.hitSeq('e'), keys.visitors('2026-11-24', '/api/x'), keys.second(1)]) {
      t.is(calculateSlot(key), slot, key);
    }
  }
  t.is(shardOf('/api/a', 1), 0);
  t.is(shardOf('/api/a', 3), shardOf('/api/a', 3));
});

test('with 3 shards /stats equals one sorted set of the same counts, page for page, windows and prefixes too', async (t) => {
  t.timeout(300_000);
  const app = await startApp(t, { tweak: (s) => { s.redis.shards = 3; s.rateLimits.read = []; } });
  // Ties on purpose: many paths share a count, so the merge must order them as ZREVRANGE does.
  const counts = new Map<string, number>();
  for (let i = 0; i < 40; i++) counts.set(i % 4 === 0 ? `/api/blog/p${i}` : `/api/p${i}`, 1 + (i % 5));
  for (const [path, hits] of counts) {
    for (let n = 0; n < hits; n++) t.is((await app.http.get(path.slice(1), { headers: { 'user-agent': `ua ${n}` } })).statusCode, 200);
  }
  const used = new Set([...counts.keys()].map((path) => shardOf(path, 3)));
  t.is(used.size, 3, 'the paths spread over all three shards');

  const client = new Redis((await sharedRedis()).url);
  t.teardown(() => client.disconnect());
  await assertMatchesSingleSet(t, app.http, client, counts);
  await assertMatchesSingleSet(t, app.http, client, counts, '?window=1h');
  const blog = new Map([...counts].filter(([path]) => path.startsWith('/api/blog/')));
  const filtered = await app.http.get('stats?prefix=/api/blog');
  t.deepEqual((filtered.body as unknown as Array<{ path: string }>).map((row) => row.path).sort(), [...blog.keys()].sort());
  t.is(filtered.headers['x-total-count'], String(blog.size));

  const detail = await app.http.get('stats/path', { searchParams: { path: '/api/p1' } });
  t.like(detail.body, { path: '/api/p1', hits: counts.get('/api/p1'), window: { hits: counts.get('/api/p1'), visitors: counts.get('/api/p1') } });

  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  const events = await app.http.get(`events?limit=${total}`);
  const ids = (events.body as unknown as { events: Array<{ id: string }> }).events.map((event) => event.id);
  t.is(ids.length, total, 'every hit has its event, merged from the three streams');
  const ordered = [...ids].sort((a, b) => { const [am, as] = a.split('-').map(Number); const [bm, bs] = b.split('-').map(Number); return bm! - am! || bs! - as!; });
  t.deepEqual(ids, ordered, 'newest first');

  t.is((await app.http.delete('stats')).statusCode, 200);
  t.deepEqual((await app.http.get('stats')).body, []);
  t.is(await app.store.distinctPaths(), 0);
});
