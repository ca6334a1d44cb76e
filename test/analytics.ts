// Time windows, visitors, per-path detail, the event log and exports, on real Redis with an
// injected clock.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import test from 'ava';
import { Redis } from 'ioredis';
import { parse } from 'csv-parse/sync';
import got from 'got';
import pLimit from 'p-limit';
import type { HitEvent } from '../src/analytics/events.js';
import type { Settings } from '../src/settings.js';
import { neutralizeFormula } from '../src/routes/csv.js';
import { WINDOW_READ_GRACE_MS } from '../src/hits/store.js';
import { startApp, type TestApp, sharedRedis } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { assertCountedExactly, is2xx, settled, tally } from './helpers/outcomes.js';
import { spawnServer } from './helpers/process.js';
import { seedRanking } from './helpers/redis.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
// Noon UTC on a fixed day; the clock is moved by hand.
const T0 = Date.UTC(2026, 10, 20, 12, 0, 0);

type Row = { path: string; hits: number; visitors?: number };

async function hitAt(app: TestApp, clock: ManualClock, time: number, path: string, times = 1, headers: Record<string, string> = {}) {
  clock.time = time;
  for (let i = 0; i < times; i++) {
    const response = await app.http.get(`api/${path}`, { headers });
    if (response.statusCode !== 200) throw new Error(`hit failed: ${response.statusCode}`);
  }
}

/** Hits spread over 3 days, 5 hours, 30 minutes and 2 minutes before T0. */
async function history(t: Parameters<typeof startApp>[0], tweak?: (settings: Settings) => void) {
  const clock = new ManualClock(T0);
  const app = await startApp(t, { deps: { clock }, tweak });
  await hitAt(app, clock, T0 - 3 * DAY, 'old', 5);
  await hitAt(app, clock, T0 - 5 * HOUR, 'morning', 4);
  await hitAt(app, clock, T0 - 30 * MINUTE, 'recent', 3);
  await hitAt(app, clock, T0 - 2 * MINUTE, 'now', 2);
  await hitAt(app, clock, T0 - 2 * MINUTE, 'old', 1);
  clock.time = T0 + 30_000;
  return { app, clock };
}

const ranking = async (app: TestApp, query: string) => (await app.http.get<Row[]>(`stats?${query}`)).body;

test('hits land in the right windows; window=1h and all rank differently', async (t) => {
  const { app } = await history(t);
  t.deepEqual(await ranking(app, 'window=15m'), [{ path: '/api/now', hits: 2 }, { path: '/api/old', hits: 1 }]);
  t.deepEqual(await ranking(app, 'window=1h'), [{ path: '/api/recent', hits: 3 }, { path: '/api/now', hits: 2 }, { path: '/api/old', hits: 1 }]);
  t.deepEqual(await ranking(app, 'window=24h'), [{ path: '/api/morning', hits: 4 }, { path: '/api/recent', hits: 3 }, { path: '/api/now', hits: 2 }, { path: '/api/old', hits: 1 }]);
  t.deepEqual(await ranking(app, 'window=7d'), [{ path: '/api/old', hits: 6 }, { path: '/api/morning', hits: 4 }, { path: '/api/recent', hits: 3 }, { path: '/api/now', hits: 2 }]);
  const all = await ranking(app, 'window=all');
  t.deepEqual(all, await ranking(app, ''));
  t.deepEqual(all, await ranking(app, 'window=7d'));
  t.notDeepEqual(await ranking(app, 'window=1h'), all);
  // Without a window, /stats is still exactly the all-time sorted set.
  const flat = await app.redis.client.zrevrange(app.shard.hits, 0, -1, 'WITHSCORES');
  t.deepEqual(all, flat.flatMap((v, i) => (i % 2 === 0 ? [{ path: v, hits: Number(flat[i + 1]) }] : [])));
});

test('from/to select exactly the buckets between them, and must sit on kept bucket boundaries', async (t) => {
  const { app } = await history(t);
  const iso = (time: number) => new Date(time).toISOString();
  t.deepEqual(await ranking(app, `from=${iso(T0 - HOUR)}&to=${iso(T0)}`), [{ path: '/api/recent', hits: 3 }, { path: '/api/now', hits: 2 }, { path: '/api/old', hits: 1 }]);
  t.deepEqual(await ranking(app, `from=${iso(T0 - 6 * HOUR)}&to=${iso(T0 - HOUR)}`), [{ path: '/api/morning', hits: 4 }]);
  t.deepEqual(await ranking(app, `from=${iso(T0 - 4 * DAY)}&to=${iso(T0 - 2 * DAY)}`), [{ path: '/api/old', hits: 5 }]);
  const bad = async (query: string) => (await app.http.get(`stats?${query}`)).body;
  t.deepEqual(await bad('from=yesterday&to=2026-11-20T12:00:00Z'), { error: 'Expected `from` to be an ISO 8601 instant such as 2026-11-24T08:00:00Z' });
  t.deepEqual(await bad(`from=${iso(T0)}&to=${iso(T0 - HOUR)}`), { error: 'Expected `from` to be before `to`' });
  t.deepEqual(await bad(`from=${iso(T0)}`), { error: 'Expected both `from` and `to`' });
  t.deepEqual(await bad(`window=1h&from=${iso(T0 - HOUR)}&to=${iso(T0)}`), { error: 'Expected either `window` or `from` and `to`, not both' });
  t.deepEqual(await bad(`from=${iso(T0 - 4 * DAY + MINUTE)}&to=${iso(T0)}`), {
    error: 'Expected `from` and `to` on bucket boundaries that are still kept: whole minutes for the last 48 h, whole hours for the last 90 days, whole days before that',
  });
  t.deepEqual(await bad('window=2h'), { error: 'Expected `window` to be one of: 15m, 1h, 24h, 7d, 30d, all' });
});

const cachedUnions = (app: TestApp) => app.redis.client.keys(`${app.keys.prefix}hitcounter:*:window:*`);

test('a window\'s union is cached, so repeated queries reuse it', async (t) => {
  // A cache that outlives any machine's run of this test: this test is about the reuse; how long
  // the cache lasts is Redis's clock, tested on its own below.
  const { app, clock } = await history(t, (s) => { s.analytics.windowCacheSeconds = 3600; });
  t.is((await ranking(app, 'window=1h')).length, 3);
  await hitAt(app, clock, T0 + 10_000, 'recent', 10);
  clock.time = T0 + 30_000;
  t.is((await ranking(app, 'window=1h'))[0]!.hits, 3, 'the cached union');
  const [cached] = await cachedUnions(app);
  // The TTL is windowCacheSeconds' (not the default 5 s, nor none); a minute of slack for a slow run.
  const ttl = await app.redis.client.pttl(cached!);
  t.true(ttl > 3_540_000 + WINDOW_READ_GRACE_MS && ttl <= 3_600_000 + WINDOW_READ_GRACE_MS, `TTL ${ttl} ms: windowCacheSeconds and the read grace`);
  await app.redis.client.del(cached!);
  t.is((await ranking(app, 'window=1h'))[0]!.hits, 13, 'recomputed once the cache is gone');
});

test('a cached union lives windowCacheSeconds, and once it is gone the next query recomputes it', async (t) => {
  const { app, clock } = await history(t, (s) => { s.analytics.windowCacheSeconds = 3600; });
  t.is((await ranking(app, 'window=1h'))[0]!.hits, 3);
  const [cached] = await cachedUnions(app);
  t.truthy(cached, 'the union was cached');
  const ttl = await app.redis.client.pttl(cached!);
  t.true(ttl > WINDOW_READ_GRACE_MS && ttl <= 3_600_000 + WINDOW_READ_GRACE_MS, `reused for windowCacheSeconds, readable for the grace after (PTTL ${ttl} ms)`);
  await hitAt(app, clock, T0 + 10_000, 'recent', 10);
  clock.time = T0 + 30_000;
  t.is((await ranking(app, 'window=1h'))[0]!.hits, 3, 'still the cached union');
  // Its freshness, brought to an end: Redis's own clock is not the test's, and waiting for a
  // short TTL races the machine's speed. Only the read grace is left, so the next query rebuilds it.
  await app.redis.client.pexpire(cached!, WINDOW_READ_GRACE_MS);
  t.is((await ranking(app, 'window=1h'))[0]!.hits, 13, 'recomputed once no longer fresh');
});

test('each bucket expires after its own TTL', async (t) => {
  const { app } = await history(t);
  const ttl = async (pattern: string) => app.redis.client.pttl((await app.redis.client.keys(`${app.keys.prefix}hitcounter:*:${pattern}`))[0]!);
  const near = (actual: number, expected: number) => actual > expected - 60_000 && actual <= expected;
  t.true(near(await ttl('minute:2026-11-20T11:58'), 48 * HOUR));
  t.true(near(await ttl('hour:2026-11-20T07'), 90 * DAY));
  t.true(near(await ttl('day:2026-11-17'), 730 * DAY));
  t.true(near(await ttl('visitors:2026-11-17:/api/old'), 90 * DAY));
  t.is(await app.redis.client.pttl(app.shard.hits), -1, 'the all-time ranking never expires');
});

test('prefix filters the ranking; limit/offset page it with X-Total-Count and a Link to the next page', async (t) => {
  const clock = new ManualClock(T0);
  const app = await startApp(t, { deps: { clock } });
  for (const [path, n] of [['users/1', 5], ['users/2', 4], ['users/3', 3], ['usersx', 9], ['docs', 7]] as const) await hitAt(app, clock, T0, path, n);
  const page = await app.http.get<Row[]>('stats?prefix=/api/users&limit=2');
  t.deepEqual(page.body, [{ path: '/api/users/1', hits: 5 }, { path: '/api/users/2', hits: 4 }]);
  t.is(page.headers['x-total-count'], '3');
  t.is(page.headers.link, '</stats?prefix=%2Fapi%2Fusers&limit=2&offset=2>; rel="next"');
  const last = await app.http.get<Row[]>('stats?prefix=/api/users&limit=2&offset=2');
  t.deepEqual(last.body, [{ path: '/api/users/3', hits: 3 }]);
  t.is(last.headers.link, undefined);
  t.deepEqual((await app.http.get('stats?prefix=/etc')).body, { error: 'Expected `prefix` to be a path under /api, such as /api/users' });
});

test('uniques: 4,000 distinct visitors are counted within the HyperLogLog error, and no IP is stored', async (t) => {
  t.timeout(300_000);
  const clock = new ManualClock(T0);
  const app = await startApp(t, { deps: { clock }, tweak: (s) => { s.server.trustProxy = true; } });
  const limit = pLimit(50);
  const visit = (i: number) => limit(async () => (await app.http.get('api/popular', {
    headers: { 'x-forwarded-for': `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, 'user-agent': 'test' },
  })).statusCode);
  // Enough visitors that a set-based count would show its size, few enough to stay cheap: the
  // HyperLogLog's 0.81% standard error is about 32 here, well inside the 3% bound below.
  const first = await Promise.all(Array.from({ length: 4000 }, (_, i) => visit(i)));
  // The first 400 visitors again: still 4,000 distinct.
  const again = await Promise.all(Array.from({ length: 400 }, (_, i) => visit(i)));
  await settled(app);
  const [row] = await ranking(app, 'uniques=1');
  // A busy Redis may time a hit out (503, not counted); any other answer, or a lost 2xx, fails.
  assertCountedExactly(t, tally([...first, ...again]), row!.hits, { allowed: [503], sent: 4400 });
  const distinct = first.filter((status, i) => is2xx(status) || (i < again.length && is2xx(again[i]!))).length;
  t.log(`visitors: ${row!.visitors} for ${distinct} distinct with a counted hit`);
  t.true(Math.abs(row!.visitors! - distinct) <= distinct * 0.03, `${row!.visitors} is outside 3% of ${distinct} (HLL standard error 0.81%)`);
  const events = (await app.http.get<{ events: HitEvent[] }>('events?limit=5')).body.events;
  t.true(events.every((e) => /^[0-9a-f]{16}$/.test(e.visitor)));
  const dump = JSON.stringify(await app.redis.client.xrange(app.shard.events, '-', '+', 'COUNT', 50));
  t.false(dump.includes('10.0.'), 'no raw IP in the event log');
});

test('per-path detail: totals, window visitors and a zero-filled series', async (t) => {
  const { app } = await history(t);
  const detail = await app.http.get<{ path: string; hits: number; window: { hits: number; visitors: number; from: string; to: string }; granularity: string; series: Array<{ time: string; hits: number }> }>('stats/path?path=/api/old&window=1h');
  t.is(detail.statusCode, 200);
  t.is(detail.body.hits, 6);
  t.is(detail.body.granularity, 'minute');
  t.is(detail.body.series.length, 60);
  t.deepEqual(detail.body.series.filter((p) => p.hits > 0), [{ time: '2026-11-20T11:58:00.000Z', hits: 1 }]);
  t.is(detail.body.window.hits, 1);
  t.is(detail.body.window.visitors, 1);
  const daily = await app.http.get<{ series: Array<{ time: string; hits: number }> }>('stats/path?path=/api/old&window=7d&granularity=day');
  // 7d reaches past the 48 h of minute buckets, so it starts on a whole hour: 8 calendar days.
  t.is(daily.body.series.length, 8);
  t.deepEqual(daily.body.series.filter((p) => p.hits > 0), [{ time: '2026-11-17T00:00:00.000Z', hits: 5 }, { time: '2026-11-20T00:00:00.000Z', hits: 1 }]);
  t.is((await app.http.get('stats/path?path=/api/never')).statusCode, 404);
  t.deepEqual((await app.http.get('stats/path')).body, { error: 'Expected `path`, such as /api/hello/world' });
  t.deepEqual((await app.http.get('stats/path?path=/api/old&window=7d&granularity=minute')).body, { error: "Expected a window within the minute buckets' retention (48 h)" });
});

test('the event log: newest first, filters, cursor paging, and exact 400s', async (t) => {
  const { app } = await history(t);
  const all = (await app.http.get<{ events: HitEvent[]; next: string | null }>('events?limit=1000')).body;
  t.is(all.events.length, 15);
  t.is(all.next, null);
  t.deepEqual(all.events.map((e) => Date.parse(e.time)), [...all.events.map((e) => Date.parse(e.time))].sort((a, b) => b - a));
  t.like(all.events[0], { method: 'GET', path: '/api/old', status: 200 });

  const old = (await app.http.get<{ events: HitEvent[] }>('events?path=/api/old')).body.events;
  t.is(old.length, 6);
  const iso = (time: number) => new Date(time).toISOString();
  const lastHour = (await app.http.get<{ events: HitEvent[] }>(`events?from=${iso(T0 - HOUR)}&to=${iso(T0)}`)).body.events;
  t.is(lastHour.length, 6);

  // Page through 3 at a time, following `next`.
  const seen: string[] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const response: { body: { events: HitEvent[]; next: string | null }; headers: Record<string, unknown> } = await app.http.get<{ events: HitEvent[]; next: string | null }>(`events?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    seen.push(...response.body.events.map((e) => e.id));
    if (response.body.next) t.regex(String(response.headers.link), /rel="next"/);
    cursor = response.body.next;
  }
  t.deepEqual(seen, all.events.map((e) => e.id));

  const bad = async (query: string) => (await app.http.get(`events?${query}`)).body;
  t.deepEqual(await bad('from=last-tuesday'), { error: 'Expected `from` to be an ISO 8601 instant such as 2026-11-24T08:00:00Z' });
  t.deepEqual(await bad('cursor=abc'), { error: 'Expected `cursor` to be the `next` value of a previous page' });
  t.deepEqual(await bad('limit=0'), { error: 'Expected `limit` to be an integer from 1 to 1000' });
  t.deepEqual(await bad('limit=1001'), { error: 'Expected `limit` to be an integer from 1 to 1000' });
  t.deepEqual(await bad('prefix=users'), { error: 'Expected `prefix` to be a path under /api, such as /api/users' });
});

test('the event log can be switched off, and then nothing is written to it', async (t) => {
  const { app } = await history(t, (s) => { s.events.enabled = false; });
  t.is(await app.redis.client.exists(app.shard.events), 0);
  const response = await app.http.get('events');
  t.is(response.statusCode, 404);
  t.deepEqual(response.body, { error: 'The event log is off (events.enabled is false)' });
  t.is(await app.totalHits(), 15, 'counting goes on');
});

test('CSV exports parse back to what the JSON says', async (t) => {
  const { app } = await history(t);
  const statsCsv = await got(`${app.url}/stats.csv?uniques=1`);
  t.regex(String(statsCsv.headers['content-type']), /^text\/csv/);
  const rows = (parse(statsCsv.body, { columns: true }) as Array<Record<string, string>>)
    .map((row) => ({ path: row.path!, hits: Number(row.hits), visitors: Number(row.visitors) }));
  t.deepEqual(rows, await ranking(app, 'uniques=1'));
  t.deepEqual(parse((await got(`${app.url}/stats?format=csv&window=1h`)).body, { columns: true }), [
    { path: '/api/recent', hits: '3' }, { path: '/api/now', hits: '2' }, { path: '/api/old', hits: '1' },
  ]);
  const events = parse((await got(`${app.url}/events.csv?prefix=/api/old`)).body, { columns: true }) as Array<Record<string, string>>;
  t.is(events.length, 6);
  t.deepEqual(Object.keys(events[0]!), ['id', 'time', 'method', 'path', 'status', 'referrer', 'userAgent', 'visitor']);
});

test('CSV cells a spreadsheet would run as formulas come out as text (OWASP CSV injection)', async (t) => {
  const app = await startApp(t);
  const headers = { 'user-agent': '=HYPERLINK("http://example.com","click")', referer: '@SUM(1+1)' };
  t.is((await app.http.get('api/formula', { headers })).statusCode, 200);
  t.is((await app.http.get('api/plain', { headers: { 'user-agent': 'curl/8', referer: 'https://example.com/-x' } })).statusCode, 200);
  const events = parse((await got(`${app.url}/events.csv`)).body, { columns: true }) as Array<Record<string, string>>;
  const byPath = new Map(events.map((event) => [event.path, event]));
  t.is(byPath.get('/api/formula')!.userAgent, `'=HYPERLINK("http://example.com","click")`);
  t.is(byPath.get('/api/formula')!.referrer, "'@SUM(1+1)");
  t.is(byPath.get('/api/plain')!.userAgent, 'curl/8', 'other cells are untouched');
  t.is(byPath.get('/api/plain')!.referrer, 'https://example.com/-x');
  for (const start of ['=', '+', '-', '@', '\t', '\r']) t.is(neutralizeFormula(`${start}1`), `'${start}1`);
  t.is(neutralizeFormula('/api/a=b'), '/api/a=b');
});

test('exporting 1,000,000 paths as CSV streams in constant memory: the server grows by less than 100 MB', async (t) => {
  t.timeout(300_000);
  const prefix = `test:${randomUUID()}:`;
  const server = spawnServer({ REDIS_URL: (await sharedRedis()).url, REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'info' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  const client = new Redis((await sharedRedis()).url);
  t.teardown(async () => {
    const doomed = await client.keys(`${prefix}*`);
    if (doomed.length > 0) await client.del(...doomed);
    client.disconnect();
  });
  await seedRanking(client, `${prefix}hits`, 1_000_000, '/api/export/', 997);
  const rss = async () => Number(/VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${server.child.pid}/status`, 'utf8'))![1]) * 1024;
  const before = await rss();
  let peak = before;
  const sampler = setInterval(() => { void rss().then((value) => { peak = Math.max(peak, value); }); }, 20);
  let lines = 0;
  for await (const chunk of got.stream(`${base}/stats.csv`)) lines += String(chunk).split('\n').length - 1;
  clearInterval(sampler);
  const growthMb = (peak - before) / 2 ** 20;
  t.log(`1,000,000 rows exported; server RSS ${(before / 2 ** 20).toFixed(0)} MB → peak ${(peak / 2 ** 20).toFixed(0)} MB (+${growthMb.toFixed(1)} MB)`);
  t.is(lines, 1_000_001, 'a header and a million rows');
  t.true(growthMb < 100);
});

test('DELETE /stats clears every key of the product but the visitor salts, and nothing else', async (t) => {
  const { app } = await history(t);
  await app.redis.client.set('someone-else:key', 'keep me');
  t.teardown(() => app.redis.client.del('someone-else:key'));
  const response = await app.http.delete<{ deletedKeys: number }>('stats');
  t.is(response.statusCode, 200);
  t.true(response.body.deletedKeys > 5);
  // The visitor salts are kept (see the test on replicas below): they are not counts.
  const left = await app.redis.client.keys(`${app.keys.prefix}*`);
  t.deepEqual(left.filter((key) => !app.keys.isSalt(key)), []);
  t.deepEqual(left.sort(), [app.keys.salt('2026-11-17'), app.keys.salt('2026-11-20')]);
  t.is(await app.redis.client.get('someone-else:key'), 'keep me');
});

test('per-path detail with window=all covers the whole history: all-time hits, the kept day buckets, all-time visitors', async (t) => {
  const { app } = await history(t);
  type Detail = { hits: number; window: { hits: number; visitors: number; from: string; to: string }; granularity: string; series: Array<{ time: string; hits: number }> };
  const detail = await app.http.get<Detail>('stats/path?path=/api/old&window=all');
  t.is(detail.statusCode, 200, JSON.stringify(detail.body));
  t.is(detail.body.hits, 6);
  t.is(detail.body.window.hits, 6, 'the hits of 3 days ago are in the window too');
  t.is(detail.body.granularity, 'day');
  t.deepEqual(detail.body.series.filter((p) => p.hits > 0), [{ time: '2026-11-17T00:00:00.000Z', hits: 5 }, { time: '2026-11-20T00:00:00.000Z', hits: 1 }]);
  // From the oldest day bucket still kept (analytics.dayTtlSeconds, 730 days) to the end of the current minute.
  t.is(detail.body.window.from, '2024-11-21T00:00:00.000Z');
  t.is(detail.body.window.to, new Date(T0 + MINUTE).toISOString());
  t.is(detail.body.series[0]!.time, detail.body.window.from);
  const [row] = await ranking(app, 'window=all&uniques=1&prefix=/api/old');
  t.is(detail.body.window.visitors, row!.visitors!, 'the same visitors as /stats?window=all&uniques=1');
  t.deepEqual((await app.http.get('stats/path?path=/api/old&window=all&granularity=hour')).body, { error: "Expected a window within the hour buckets' retention (2160 h)" });
});

test('DELETE /stats keeps the visitor salts, so replicas that cached one still agree on visitors after the reset', async (t) => {
  const clock = new ManualClock(T0);
  const prefix = `test:${randomUUID()}:`;
  const replica = () => startApp(t, { deps: { clock }, tweak: (s) => { s.redis.keyPrefix = prefix; } });
  const a = await replica();
  const b = await replica();
  await hitAt(a, clock, T0, 'reset'); // a has the day's salt cached from now on
  t.is((await a.http.delete('stats')).statusCode, 200);
  // The same client (IP and User-Agent) on both replicas: b reads the day's salt from Redis.
  await hitAt(b, clock, T0, 'reset');
  await hitAt(a, clock, T0, 'reset');
  t.deepEqual(await ranking(a, 'uniques=1'), [{ path: '/api/reset', hits: 2, visitors: 1 }]);
});
