// POST /hits: a batch counts every hit exactly once, everywhere a hit of /api/* counts, whatever the
// retries: a retry with the same Idempotency-Key (after a lost reply, or ten at once) counts nothing
// more and says so; another body under the key is a 422; an invalid hit refuses the whole batch.
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import type { Response } from 'got';
import { Redis } from 'ioredis';
import { bucketId, bucketsAt, MS } from '../src/analytics/buckets.js';
import { hashVisitor, visitorIdentity } from '../src/analytics/visitors.js';
import { botsRanking, shardKeys } from '../src/redis/keys.js';
import { recordBatchArgs } from '../src/redis/script-args.js';
import { startApp, type StartOptions, type TestApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { Exposition } from './helpers/prometheus.js';
import { startLocalRedis, sumOfScores } from './helpers/redis.js';

const TOKEN = 'batch-test-token';
const T0 = new ManualClock().time; // 2026-11-20T12:00:00Z
const UA = 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0';
const BOT_UA = 'Googlebot/2.1 (+http://www.google.com/bot.html)';

interface BatchResult { accepted: number; dropped: number; duplicate: boolean; drops: Array<{ index: number; reason: string }> }
interface BatchHit { path: string; time?: string | number; referrer?: string; userAgent?: string; visitor?: string }

async function app(t: ExecutionContext, options: StartOptions & { redisUrl?: string } = {}): Promise<TestApp & { clock: ManualClock }> {
  const clock = new ManualClock();
  const { redisUrl, ...rest } = options;
  const start = { ...rest, deps: { clock, adminToken: TOKEN, ...rest.deps } };
  const started = redisUrl ? await startApp(t, redisUrl, start) : await startApp(t, start);
  return Object.assign(started, { clock });
}

/** `key` null: no Idempotency-Key header. */
function post(a: TestApp, hits: BatchHit[] | unknown, key: string | null = randomUUID(), token = TOKEN): Promise<Response<BatchResult & { error?: string }>> {
  return a.http.post<BatchResult & { error?: string }>('hits', {
    json: Array.isArray(hits) ? { hits } : hits,
    headers: { ...(key === null ? {} : { 'idempotency-key': key }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
}

const score = async (a: TestApp, key: string, path: string) => Number(await a.redis.client.zscore(key, path) ?? 0);

test('a batch counts every hit exactly: the ranking, the buckets of each hit\'s own time, visitors, the event log', async (t) => {
  const a = await app(t, { tweak: (s) => { s.server.trustProxy = true; } });
  const at = (ms: number) => new Date(T0 + ms).toISOString();
  const hits: BatchHit[] = [
    { path: '/blog/post' },
    { path: '/blog/post', time: T0 - 1000 },
    { path: '/blog/post', time: at(-5 * MS.minute), visitor: '203.0.113.7', userAgent: UA, referrer: 'https://ref.example/' },
    { path: '/about?utm=x#top', time: T0 - 3 * MS.hour, visitor: '203.0.113.8' },
    { path: '/caf%C3%A9', time: at(-3 * MS.hour + 1) },
    { path: '//café/./', time: at(30_000) }, // 30 s ahead: clock skew, counted as now
  ];
  const response = await post(a, hits);
  t.is(response.statusCode, 200, JSON.stringify(response.body));
  t.deepEqual(response.body, { accepted: 6, dropped: 0, duplicate: false, drops: [] });
  t.is(response.headers['idempotent-replayed'], 'false');

  const { shard } = a;
  t.is(await score(a, shard.hits, '/api/blog/post'), 3);
  t.is(await score(a, shard.hits, '/api/about'), 1);
  t.is(await score(a, shard.hits, '/api/café'), 2);
  t.is(await a.totalHits(), response.body.accepted, 'counted == accepted');

  const bucket = (ms: number, granularity: 'minute' | 'hour' | 'day') => shard.bucket(bucketsAt(T0 + ms)[granularity]);
  // 12:00 holds the two hits of now (the one 30 s ahead is now) and 11:59:59's sits in 11:59.
  t.is(await score(a, bucket(0, 'minute'), '/api/blog/post'), 1);
  t.is(await score(a, bucket(0, 'minute'), '/api/café'), 1);
  t.is(await score(a, bucket(-1000, 'minute'), '/api/blog/post'), 1);
  t.is(await score(a, bucket(-5 * MS.minute, 'minute'), '/api/blog/post'), 1);
  t.is(await score(a, bucket(-5 * MS.minute, 'hour'), '/api/blog/post'), 2, '11:59:59 and 11:55 share the 11:00 hour');
  t.is(await score(a, bucket(-3 * MS.hour, 'minute'), '/api/about'), 1);
  t.is(await score(a, bucket(-3 * MS.hour, 'minute'), '/api/café'), 1);
  t.is(await score(a, bucket(0, 'day'), '/api/blog/post'), 3);
  t.is(await score(a, bucket(0, 'day'), '/api/café'), 2);

  // Visitors: hashed as /api/* hashes an IP and User-Agent, so the same client through /api is the same visitor.
  const day = bucketId(bucketsAt(T0).day);
  const salt = (await a.redis.client.get(a.keys.salt(day)))!;
  const expected = hashVisitor(salt, visitorIdentity('203.0.113.7', UA));
  t.is(await a.redis.client.pfcount(shard.visitors(day, '/api/blog/post')), 1);
  t.is(await a.redis.client.pfcount(shard.visitors(day, '/api/about')), 1);
  t.is(await a.redis.client.pfcount(shard.visitors(day, '/api/café')), 0, 'no visitor given, none counted');
  const direct = await a.http.get('api/blog/post', { headers: { 'x-forwarded-for': '203.0.113.7', 'user-agent': UA } });
  t.is(direct.statusCode, 200);
  t.is(await a.redis.client.pfcount(shard.visitors(day, '/api/blog/post')), 1, 'the same IP and User-Agent by /api is the same visitor');

  // The event log: one event per hit, method batch, with its own time, referrer, User-Agent and visitor.
  const events = (await a.http.get<{ events: Array<{ time: string; method: string; path: string; referrer: string; userAgent: string; visitor: string }> }>('events?limit=100')).body.events;
  const batch = events.filter((event) => event.method === 'batch');
  t.is(batch.length, 6);
  t.deepEqual(batch.map((event) => [event.path, event.time]).sort(), [
    ['/api/about', at(-3 * MS.hour)], ['/api/blog/post', at(-5 * MS.minute)], ['/api/blog/post', at(-1000)], ['/api/blog/post', at(0)],
    ['/api/café', at(-3 * MS.hour + 1)], ['/api/café', at(0)],
  ].sort());
  const withVisitor = batch.find((event) => event.time === at(-5 * MS.minute))!;
  t.deepEqual([withVisitor.referrer, withVisitor.userAgent, withVisitor.visitor], ['https://ref.example/', UA, expected]);
  t.is(events.find((event) => event.method === 'GET')!.visitor, expected);

  // The windows read the buckets: the last hour (11:01 to 12:01) holds the batch's /blog/post at
  // 12:00, 11:59:59 and 11:55, the /api hit since, and /café at 12:00; not the hits of 09:00.
  const window = async (name: string) => (await a.http.get<Array<{ path: string; hits: number }>>(`stats?window=${name}`)).body;
  t.deepEqual(await window('1h'), [{ path: '/api/blog/post', hits: 4 }, { path: '/api/café', hits: 1 }]);
  t.deepEqual(await window('24h'), [{ path: '/api/blog/post', hits: 4 }, { path: '/api/café', hits: 2 }, { path: '/api/about', hits: 1 }]);

  const metrics = new Exposition((await a.http.get('metrics', { responseType: 'text' })).body as unknown as string);
  t.is(metrics.value('hitcounter_ingest_hits_total', { source: 'batch', outcome: 'accepted' }), 6);
});

test('a retry with the same key counts nothing more, says duplicate, and answers as the first time did', async (t) => {
  const a = await app(t, { tweak: (s) => { s.api.bots = 'refuse'; } });
  const key = randomUUID();
  const hits: BatchHit[] = [{ path: '/a' }, { path: '/b', userAgent: BOT_UA }, { path: '/a' }];
  const first = await post(a, hits, key);
  t.is(first.statusCode, 200);
  t.deepEqual(first.body, { accepted: 2, dropped: 1, duplicate: false, drops: [{ index: 1, reason: 'bot' }] });
  for (let retry = 0; retry < 3; retry++) {
    a.clock.advance(MS.minute); // later retries: the key still holds
    // Whitespace and spacing do not make another body: the JSON is compared as parsed.
    const again = await a.http.post<BatchResult>('hits', {
      body: JSON.stringify({ hits }, null, 2), headers: { 'content-type': 'application/json', 'idempotency-key': key, authorization: `Bearer ${TOKEN}` },
    });
    t.is(again.statusCode, 200);
    t.deepEqual(again.body, { ...first.body, duplicate: true });
    t.is(again.headers['idempotent-replayed'], 'true');
  }
  t.is(await score(a, a.shard.hits, '/api/a'), 2);
  t.is(await a.totalHits(), first.body.accepted, 'counted == accepted, once');
  t.is(await a.redis.client.xlen(a.shard.events), 2);
  const metrics = new Exposition((await a.http.get('metrics', { responseType: 'text' })).body as unknown as string);
  t.is(metrics.value('hitcounter_ingest_hits_total', { source: 'batch', outcome: 'accepted' }), 2);
  t.is(metrics.value('hitcounter_ingest_hits_total', { source: 'batch', outcome: 'dropped', reason: 'bot' }), 1);
  t.is(metrics.value('hitcounter_ingest_hits_total', { source: 'batch', outcome: 'dropped', reason: 'duplicate' }), 9);

  // A new key is a new batch.
  const other = await post(a, hits);
  t.false(other.body.duplicate);
  t.is(await a.totalHits(), 4);
});

test('the same key with another body is a 422, and counts nothing', async (t) => {
  const a = await app(t);
  const key = randomUUID();
  t.is((await post(a, [{ path: '/a' }], key)).statusCode, 200);
  for (const hits of [[{ path: '/a' }, { path: '/a' }], [{ path: '/b' }], [{ path: '/a', time: T0 }]]) {
    const response = await post(a, hits, key);
    t.is(response.statusCode, 422);
    t.is(response.body.error, `Idempotency-Key "${key}" was used for a batch with another body in the last 86400 s (batch.idempotencyTtlSeconds): nothing was counted; a new batch needs a new key`);
  }
  t.is(await a.totalHits(), 1);
});

test('ten identical requests at once with one key are counted exactly once', async (t) => {
  const a = await app(t);
  const key = randomUUID();
  const hits = Array.from({ length: 200 }, (_, i) => ({ path: `/p${i % 7}`, time: T0 - i * 1000, visitor: `v${i % 13}` }));
  const responses = await Promise.all(Array.from({ length: 10 }, () => post(a, hits, key)));
  t.deepEqual(responses.map((r) => r.statusCode), Array(10).fill(200));
  t.is(responses.filter((r) => !r.body.duplicate).length, 1, 'one request counted the batch; the nine others found its record');
  for (const r of responses) t.is(r.body.accepted, 200);
  t.is(await a.totalHits(), 200, 'counted == accepted');
  t.is(await a.redis.client.xlen(a.shard.events), 200);
  t.is(await sumOfScores(a.redis.client, a.shard.bucket(bucketsAt(T0).day)), 200);
});

test('over batch.maxHits is a 400 with its exact message; nothing counted', async (t) => {
  const a = await app(t);
  const response = await post(a, Array.from({ length: 501 }, () => ({ path: '/a' })));
  t.is(response.statusCode, 400);
  t.is(response.body.error, 'Expected at most 500 hits in one batch');
  t.is((await post(a, [])).body.error, 'Expected `hits` to be a list of 1 to 500 hits');
  t.is(await a.totalHits(), 0);
});

test('an invalid hit makes the whole batch a 400 that names it; nothing of it counts', async (t) => {
  const a = await app(t);
  const ok = { path: '/fine' };
  const cases: Array<[unknown, string]> = [
    [{ hits: [ok, ok, ok, { path: '/x', time: new Date(T0 + 61_000).toISOString() }] }, 'Expected `hits[3].time` to be at most 60 s ahead of the server\'s clock (2026-11-20T12:00:00.000Z), not 2026-11-20T12:01:01.000Z'],
    [{ hits: [{ path: '/x', time: Number.MAX_SAFE_INTEGER }] }, 'Expected `hits[0].time` to be at most 60 s ahead of the server\'s clock (2026-11-20T12:00:00.000Z), not +275760-09-13T00:00:00.000Z'],
    [{ hits: [ok, { path: '/x', time: T0 - 63_072_000_000 - 1 }] }, 'Expected `hits[1].time` to be no older than the longest bucket retention (analytics.dayTtlSeconds: 63072000 s), from 2024-11-20T12:00:00.000Z, not 2024-11-20T11:59:59.999Z'],
    [{ hits: [ok, { path: '/x', time: '2026-11-20 12:00' }] }, 'Expected `hits[1].time` to be an ISO 8601 instant with its offset, such as 2026-11-24T08:00:00Z, or ms since the epoch'],
    [{ hits: [ok, { path: '/x', time: -1 }] }, 'Expected `hits[1].time` to be an ISO 8601 instant with its offset, such as 2026-11-24T08:00:00Z, or ms since the epoch'],
    [{ hits: [ok, { path: 'blog/post' }] }, 'Expected `hits[1].path` to be a page\'s path such as /blog/post'],
    [{ hits: [ok, ok, { path: '/../etc' }] }, 'Expected `hits[2].path` to be a page\'s path such as /blog/post: Invalid path: ".." climbs out of /api'],
    [{ hits: [{ path: '/100%' }] }, 'Expected `hits[0].path` to be a page\'s path such as /blog/post: malformed percent-encoding or invalid UTF-8'],
    [{ hits: [{ path: '/a\u0001' }] }, 'Expected `hits[0].path` to be a page\'s path such as /blog/post: Invalid path: control characters are not allowed'],
    [{ hits: [{ path: `/${'x'.repeat(2048)}` }] }, 'Expected `hits[0].path` to be a page\'s path such as /blog/post: Path too long: over 2048 bytes after normalization'],
    [{ hits: [ok, { path: 7 }] }, 'Expected `hits[1].path` to be a page\'s path such as /blog/post'],
    [{ hits: [{}] }, 'Expected `hits[0].path` to be a page\'s path such as /blog/post'],
    [{ hits: [{ path: '/a', visitor: '' }] }, 'Expected `hits[0].visitor` to be a string of 1 to 256 characters'],
    [{ hits: [{ path: '/a', ip: '1.2.3.4' }] }, 'Unknown field `hits[0].ip`; expected one of: path, time, referrer, userAgent, visitor'],
    [{ hits: [ok], site: 'x' }, 'Unknown field `site`; expected one of: hits'],
    [[ok], 'Expected the body to be a JSON object such as {"hits": [{"path": "/blog/post"}]}'],
  ];
  for (const [body, message] of cases) {
    const response = await a.http.post<{ error: string }>('hits', { json: body, headers: { 'idempotency-key': randomUUID(), authorization: `Bearer ${TOKEN}` } });
    t.is(response.statusCode, 400, JSON.stringify(body).slice(0, 100));
    t.is(response.body.error, message);
  }
  for (const key of [null, '', 'has space', 'x'.repeat(256), 'é']) {
    const response = await post(a, [ok], key);
    t.is(response.statusCode, 400);
    t.is(response.body.error, 'Expected an `Idempotency-Key` header: 1 to 255 printable ASCII characters without spaces, the same on every retry of one batch (a UUID will do)');
  }
  t.is(await a.totalHits(), 0);
});

test('a past time within retention counts in its own buckets; past a bucket\'s retention, in the coarser ones and the ranking', async (t) => {
  const a = await app(t);
  const { minuteTtlSeconds, hourTtlSeconds } = a.settings.analytics;
  const recent = T0 - minuteTtlSeconds * 1000 + MS.hour; // the minutes of then are still kept
  const older = T0 - minuteTtlSeconds * 1000 - MS.day; // its minutes are gone, its hour is kept
  const oldest = T0 - hourTtlSeconds * 1000 - MS.day; // only its day is kept
  const response = await post(a, [{ path: '/r', time: recent }, { path: '/o', time: older }, { path: '/x', time: new Date(oldest).toISOString() }]);
  t.deepEqual(response.body, { accepted: 3, dropped: 0, duplicate: false, drops: [] });
  const has = async (time: number, granularity: 'minute' | 'hour' | 'day', path: string) => score(a, a.shard.bucket(bucketsAt(time)[granularity]), path);
  t.deepEqual([await has(recent, 'minute', '/api/r'), await has(recent, 'hour', '/api/r'), await has(recent, 'day', '/api/r')], [1, 1, 1]);
  t.deepEqual([await has(older, 'minute', '/api/o'), await has(older, 'hour', '/api/o'), await has(older, 'day', '/api/o')], [0, 1, 1]);
  t.deepEqual([await has(oldest, 'minute', '/api/x'), await has(oldest, 'hour', '/api/x'), await has(oldest, 'day', '/api/x')], [0, 0, 1]);
  t.is(await a.redis.client.exists(a.shard.bucket(bucketsAt(older).minute)), 0, 'no minute bucket made for a minute no window reads');
  // A bucket made now lives until its retention after its end, not a whole retention from now.
  const minute = bucketsAt(recent).minute;
  const ttl = await a.redis.client.pttl(a.shard.bucket(minute));
  t.true(ttl > 0 && ttl <= minute.start + MS.minute + minuteTtlSeconds * 1000 - T0, `pttl ${ttl}`);
  t.is(await a.totalHits(), 3);
});

test('bots: refused with api.bots refuse (listed by index), counted apart with separate', async (t) => {
  const refuse = await app(t, { tweak: (s) => { s.api.bots = 'refuse'; } });
  const hits = [{ path: '/a', userAgent: BOT_UA }, { path: '/a', userAgent: UA }, { path: '/b', userAgent: BOT_UA }, { path: '/c' }];
  t.deepEqual((await post(refuse, hits)).body, { accepted: 2, dropped: 2, duplicate: false, drops: [{ index: 0, reason: 'bot' }, { index: 2, reason: 'bot' }] });
  t.is(await refuse.totalHits(), 2);

  const separate = await app(t, { tweak: (s) => { s.api.bots = 'separate'; } });
  const key = randomUUID();
  t.deepEqual((await post(separate, hits, key)).body, { accepted: 4, dropped: 0, duplicate: false, drops: [] });
  t.deepEqual((await post(separate, hits, key)).body, { accepted: 4, dropped: 0, duplicate: true, drops: [] });
  const bots = shardKeys({ prefix: separate.settings.redis.keyPrefix, hits: botsRanking(separate.settings.redis.key) }, 1)[0]!;
  t.is(await separate.totalHits(), 2);
  t.is(await sumOfScores(separate.redis.client, bots.hits), 2);
  t.is(await score(separate, bots.hits, '/api/b'), 1);
});

test('past api.maxPaths a new path is dropped as path_cap, by index, and a retry answers the same', async (t) => {
  const a = await app(t, { tweak: (s) => { s.api.maxPaths = 2; } });
  const key = randomUUID();
  const hits = [{ path: '/a' }, { path: '/b' }, { path: '/c' }, { path: '/a' }, { path: '/c' }];
  const first = await post(a, hits, key);
  t.deepEqual(first.body, { accepted: 3, dropped: 2, duplicate: false, drops: [{ index: 2, reason: 'path_cap' }, { index: 4, reason: 'path_cap' }] });
  t.deepEqual((await post(a, hits, key)).body, { ...first.body, duplicate: true });
  t.is(await a.totalHits(), 3);
});

test('the admin token is required: missing or wrong is a 401, and nothing counts', async (t) => {
  const a = await app(t);
  for (const token of ['', 'wrong']) {
    const response = await post(a, [{ path: '/a' }], randomUUID(), token);
    t.is(response.statusCode, 401);
    t.is(response.headers['www-authenticate'], 'Bearer realm="hitcounter", Basic realm="hitcounter"');
  }
  const basic = await a.http.post<BatchResult>('hits', { json: { hits: [{ path: '/a' }] }, headers: { 'idempotency-key': 'k1', authorization: `Basic ${Buffer.from(`:${TOKEN}`).toString('base64')}` } });
  t.is(basic.statusCode, 200, 'Basic auth with the token as the password');
  t.is(await a.totalHits(), 1);
});

test('a body over batch.maxHits × 4 KiB is a 413', async (t) => {
  const a = await app(t);
  const response = await post(a, [{ path: '/a', referrer: 'x'.repeat(2_048_000) }]);
  t.is(response.statusCode, 413);
  t.is(await a.totalHits(), 0);
});

test('with redis.shards = 3 each hit counts once in its shard, and a retry counts nothing more', async (t) => {
  const a = await app(t, { tweak: (s) => { s.redis.shards = 3; } });
  const key = randomUUID();
  const hits = Array.from({ length: 60 }, (_, i) => ({ path: `/s${i % 20}`, time: T0 - i * MS.minute }));
  const responses = await Promise.all(Array.from({ length: 5 }, () => post(a, hits, key)));
  t.deepEqual(responses.map((r) => r.statusCode), Array(5).fill(200));
  for (const r of responses) t.is(r.body.accepted, 60);
  t.is(await a.totalHits(), 60, 'counted == accepted');
  const shards = a.services.shards;
  t.true((await Promise.all(shards.map((shard) => a.redis.client.zcard(shard.hits)))).every((n) => n > 0), 'the paths spread over every shard');
  t.true((await post(a, hits, key)).body.duplicate);
  t.is(await a.totalHits(), 60);
});

// Redis of its own: these stop it, or pause it, which no other test of the file may see.
test('Redis stopped: 503 with Retry-After and nothing counted; the retry once it is back counts the batch', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const a = await app(t, { redisUrl: redis.url });
  const key = randomUUID();
  const hits = [{ path: '/down' }, { path: '/down', referrer: 'https://r.example/' }];
  await redis.process!.stop();
  await eventually(() => a.redis.status !== 'ready', { what: 'the app to see Redis gone' });
  const down = await post(a, hits, key);
  t.is(down.statusCode, 503);
  t.is(down.headers['retry-after'], '1');
  t.regex(down.body.error!, /^Redis is unavailable/);
  await redis.restart!();
  await eventually(() => a.redis.status === 'ready', { what: 'the app to reconnect' });
  t.is(await a.totalHits(), 0, 'nothing counted');
  const back = await post(a, hits, key);
  t.deepEqual(back.body, { accepted: 2, dropped: 0, duplicate: false, drops: [] });
  t.is(await a.totalHits(), 2);
});

test('a lost reply (Redis ran the batch after the server gave up on it): 503, and the retry says duplicate; counted once', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  // A short command timeout, so the server gives up while Redis holds the script back.
  const a = await app(t, { redisUrl: redis.url, tweak: (s) => { s.redis.commandTimeoutMs = 500; } });
  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  // Until answered 200, with its key: a 503 of a busy machine is retried, as a client would, and
  // counts once all the same. The first batch also loads the script into Redis.
  const until200 = (hits: BatchHit[], key: string) => eventually(async () => {
    const response = await post(a, hits, key);
    return response.statusCode === 200 ? response : undefined;
  }, { what: 'a 200' });
  await until200([{ path: '/warm' }], randomUUID());
  const key = randomUUID();
  const hits = [{ path: '/lost' }, { path: '/lost' }, { path: '/found' }];
  // Writes (scripts included) wait while Redis is paused, and run when it ends.
  await admin.client('PAUSE', 3000, 'WRITE');
  const lost = await post(a, hits, key);
  t.is(lost.statusCode, 503);
  t.regex(lost.body.error!, /may or may not have been counted; retry with the same Idempotency-Key/);
  await eventually(async () => Number(await admin.zscore(a.shard.hits, '/api/found')) === 1, { what: 'the paused script to run' });
  const retry = await until200(hits, key);
  t.deepEqual(retry.body, { accepted: 3, dropped: 0, duplicate: true, drops: [] });
  t.is(retry.headers['idempotent-replayed'], 'true');
  t.is(await sumOfScores(admin, a.shard.hits), 4, 'counted once (and the warm-up)');
  t.is(await admin.xlen(a.shard.events), 4);
});

test('recordBatchArgs: 4 keys then each bucket or visitors key once; 8 arguments, the extra keys\' lifetimes, then 11 fields per hit', (t) => {
  const hit = { path: '/api/a', visitor: 'h', time: T0 + 0.5, referrer: 'r', userAgent: 'ua', minute: { key: 'm1', ttlMs: 10.2 }, hour: { key: 'h1', ttlMs: 20 }, day: { key: 'd1', ttlMs: 30 } };
  const args = recordBatchArgs({
    keys: { hits: 'H', record: 'R', events: 'E', second: 'S' }, fingerprint: 'F', recordTtlMs: 1000, secondTtlMs: 2000, maxPaths: 9, maxEvents: 100, method: 'batch', drops: ['1:bot', '4:bot'],
    hits: [
      { ...hit, index: 0, visitors: { key: 'v1', ttlMs: 40 } },
      { ...hit, index: 2, path: '/api/b', eventPath: '/api/b…', minute: { key: 'm2', ttlMs: 11 } },
      { ...hit, index: 3, visitor: '', hour: undefined, day: undefined },
    ],
  });
  t.deepEqual(args, [
    9, 'H', 'R', 'E', 'S', 'm1', 'h1', 'd1', 'v1', 'm2',
    3, 'F', 1000, 2000, 9, 100, 'batch', '1:bot,4:bot',
    11, 20, 30, 40, 11,
    0, '/api/a', 'h', T0, 'r', 'ua', '', 1, 2, 3, 4,
    2, '/api/b', 'h', T0, 'r', 'ua', '/api/b…', 5, 2, 3, 0,
    3, '/api/a', '', T0, 'r', 'ua', '', 1, 0, 0, 0,
  ]);
});

test('write-behind mode: a batch is still written durably, with its record, before it is answered', async (t) => {
  const a = await app(t, { tweak: (s) => { s.writeBehind.enabled = true; s.writeBehind.flushIntervalMs = 60_000; } });
  const key = randomUUID();
  t.deepEqual((await post(a, [{ path: '/wb' }, { path: '/wb' }], key)).body, { accepted: 2, dropped: 0, duplicate: false, drops: [] });
  t.is(await score(a, a.shard.hits, '/api/wb'), 2, 'in Redis at once, not at the next flush');
  t.true((await post(a, [{ path: '/wb' }, { path: '/wb' }], key)).body.duplicate);
  t.is(await a.totalHits(), 2);
});
