// Write-behind mode: hits acknowledged at once, summed in memory, flushed every interval.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import got from 'got';
import { Redis } from 'ioredis';
import { startApp, type TestApp } from './helpers/app.js';
import { hammer, sleep } from './helpers/load.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis, sumOfScores } from './helpers/redis.js';

async function flushed(app: TestApp): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const { body } = await app.http.get<{ status: string; pendingHits: number; unresolvedHits: number }>('health');
    if (body.status === 'ok' && body.pendingHits === 0 && body.unresolvedHits === 0) return;
    await sleep(50);
  }
  throw new Error('write-behind never flushed');
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
  t.is(await app.totalHits(), 1001);
  let inBuckets = 0;
  for (const minute of await app.redis.client.keys(`${app.keys.prefix}hitcounter:*:minute:*`)) {
    inBuckets += await sumOfScores(app.redis.client, minute);
  }
  t.is(inBuckets, 1001, 'the minute buckets got the sums too');
});

test('while Redis is down hits are still acknowledged, and every one is counted once it is back', async (t) => {
  t.timeout(60_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url, { tweak: (s) => { s.writeBehind = { enabled: true, flushIntervalMs: 20 }; s.redis.commandTimeoutMs = 500; } });
  const stop = new AbortController();
  const load = hammer(app.url, { concurrency: 20, until: stop.signal, prefix: 'wbdown' });
  await sleep(500);
  await redis.process!.kill();
  await sleep(700);
  await redis.restart!();
  await sleep(700);
  stop.abort();
  const outcomes = await load;
  await flushed(app);
  t.log(`acknowledged ${outcomes.count(200)}, other ${JSON.stringify(Object.fromEntries(outcomes.errors))}`);
  t.deepEqual([...outcomes.statuses.keys()], [200], 'write-behind acknowledges even while Redis is down');
  t.is(await app.totalHits(), outcomes.count(200), 'each acknowledged hit counted exactly once, through a kill -9');
});

test('SIGTERM flushes what is pending before the server exits', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const prefix = `test:${randomUUID()}:`;
  // A long interval: nothing would reach Redis before SIGTERM without the final flush.
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, WRITE_BEHIND: 'true', WRITE_BEHIND_FLUSH_MS: '60000' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  for (let i = 0; i < 300; i++) await got(`${base}/api/sigterm/${i % 7}`);
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  t.is(await client.zcard(`${prefix}hits`), 0, 'nothing flushed yet');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  t.is(await sumOfScores(client, `${prefix}hits`), 300);
});
