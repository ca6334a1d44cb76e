// Write-behind mode: hits acknowledged at once, summed in memory, flushed every interval.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import got from 'got';
import { Redis } from 'ioredis';
import { startApp, type TestApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { hammer, startLoad } from './helpers/load.js';
import { OVERFLOW_PATH } from '../src/hits/store.js';
import { assertCountedExactly, tally } from './helpers/outcomes.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis, sumOfScores } from './helpers/redis.js';

/** Waits until every acknowledged hit is known to be in Redis. */
async function flushed(app: TestApp): Promise<void> {
  await eventually(async () => {
    const { body } = await app.http.get<{ status: string; pendingHits: number; unresolvedHits: number }>('health');
    return body.status === 'ok' && body.pendingHits === 0 && body.unresolvedHits === 0;
  }, { timeoutMs: 120_000, what: 'write-behind to flush every acknowledged hit' });
}

test('hits are acknowledged at once and all of them reach Redis, summed, with their buckets', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url, { tweak: (s) => { s.writeBehind = { enabled: true, flushIntervalMs: 50 }; } });
  const first = await app.http.get<{ path: string; hits: number }>('api/wb');
  t.deepEqual(first.body, { path: '/api/wb', hits: 1 });
  const outcomes = await hammer(app.url, { concurrency: 20, requests: 1000, prefix: 'wb' });
  t.is(outcomes.count(200), 1000);
  await flushed(app);
  assertCountedExactly(t, outcomes, (await app.totalHits()) - 1, { sent: 1000 });
  let inBuckets = 0;
  for (const minute of await app.redis.client.keys(`${app.keys.prefix}hitcounter:*:minute:*`)) {
    inBuckets += await sumOfScores(app.redis.client, minute);
  }
  t.is(inBuckets, 1001, 'the minute buckets got the sums too');
});

test('while Redis is down hits are still acknowledged, and every one is counted once it is back', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url, { tweak: (s) => { s.writeBehind = { enabled: true, flushIntervalMs: 20 }; } });
  const load = startLoad(app.url, { concurrency: 20, prefix: 'wbdown' });
  const health = async () => (await app.http.get<{ status: string; pendingHits: number }>('health')).body;
  // Each step waits for a point the load has reached, not for a length of time.
  const acknowledged = (n: number, what: string) => eventually(() => load.outcomes.ok() >= n, { timeoutMs: 120_000, what: `${n} hits acknowledged ${what}` });
  await acknowledged(200, 'before the crash');
  await redis.process!.kill();
  await eventually(async () => (await health()).status === 'down', { what: '/health to see Redis down' });
  await acknowledged(load.outcomes.ok() + 200, 'more while Redis is down');
  t.true((await health()).pendingHits > 0, 'hits acknowledged while Redis is down are held, not yet counted');
  await redis.restart!();
  await eventually(async () => (await health()).status === 'ok', { what: '/health to see Redis back' });
  await acknowledged(load.outcomes.ok() + 200, 'more once Redis is back');
  const outcomes = await load.stop();
  await flushed(app);
  // Write-behind acknowledges even while Redis is down: only 2xx, each counted exactly once, through a kill -9.
  assertCountedExactly(t, outcomes, await app.totalHits());
});

test('SIGTERM flushes what is pending before the server exits', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const prefix = `test:${randomUUID()}:`;
  // A long interval: nothing would reach Redis before SIGTERM without the final flush.
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, WRITE_BEHIND: 'true', WRITE_BEHIND_FLUSH_MS: '60000' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  // No retry (a retried hit could count twice), and a deadline: a stalled server fails, never hangs.
  for (let i = 0; i < 300; i++) await got(`${base}/api/sigterm/${i % 7}`, { retry: { limit: 0 }, timeout: { request: 30_000 } });
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  t.is(await client.zcard(`${prefix}hits`), 0, 'nothing flushed yet');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  t.is(await sumOfScores(client, `${prefix}hits`), 300);
});

test('Redis down at midnight: a hit still gets its 200 without the new day\'s salt, and is counted with its visitor once Redis is back', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const clock = new ManualClock(Date.UTC(2026, 10, 20, 23, 59, 30));
  const app = await startApp(t, redis.url, { deps: { clock }, tweak: (s) => { s.writeBehind = { enabled: true, flushIntervalMs: 20 }; } });
  t.deepEqual((await app.http.get('api/midnight')).body, { path: '/api/midnight', hits: 1 });
  await eventually(async () => (await app.totalHits()) === 1, { timeoutMs: 120_000, what: 'the first hit to be flushed' });

  await redis.process!.kill();
  clock.set(Date.UTC(2026, 10, 21, 0, 0, 30));
  const late = await app.http.get('api/midnight');
  t.is(late.statusCode, 200, JSON.stringify(late.body));
  t.deepEqual(late.body, { path: '/api/midnight', hits: 2 });

  await redis.restart!();
  await eventually(async () => (await app.totalHits()) === 2, { timeoutMs: 120_000, what: 'the hit of the new day to be flushed' });
  t.is(await app.redis.client.pfcount(app.shard.visitors('2026-11-21', '/api/midnight')), 1, "its visitor, in the new day's HyperLogLog");
  t.truthy(await app.redis.client.get(app.keys.salt('2026-11-21')), "hashed with the new day's salt, kept in Redis for every replica");
});

test('past api.maxPaths the hits of new paths, already acknowledged, are counted under one overflow member: the ranking holds at most maxPaths + 1', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.writeBehind = { enabled: true, flushIntervalMs: 50 }; s.api.maxPaths = 3; } });
  const statuses: number[] = [];
  const hit = async (path: string) => statuses.push((await app.http.get(`api/${path}`)).statusCode);
  // The first three paths reach Redis first, and fill the cap.
  for (const path of ['a', 'b', 'c']) await hit(path);
  await flushed(app);
  for (let round = 0; round < 2; round++) for (const path of ['a', 'b', 'c', 'd', 'e']) await hit(path);
  await flushed(app);

  const ranking = Object.fromEntries(
    (await app.http.get<Array<{ path: string; hits: number }>>('stats')).body.map(({ path, hits }) => [path, hits]),
  );
  t.deepEqual(ranking, { '/api/a': 3, '/api/b': 3, '/api/c': 3, [OVERFLOW_PATH]: 4 });
  assertCountedExactly(t, tally(statuses), await app.totalHits(), { sent: 13 });
  t.is(statuses.filter((status) => status === 200).length, 13, 'acknowledged, every one');
  t.deepEqual(await app.redis.client.keys(`${app.keys.prefix}*visitors*/api/[de]`), [], 'no visitors key for a path past the cap');
});
