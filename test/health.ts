import test from 'ava';
import { startApp } from './helpers/app.js';
import { startLocalRedis, startRedis } from './helpers/redis.js';

test('GET /health is 200 with Redis up, with its latency', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url);
  const response = await app.http.get<{ status: string; redis: { status: string; latencyMs: number } }>('health');
  t.is(response.statusCode, 200);
  t.is(response.body.status, 'ok');
  t.is(response.body.redis.status, 'up');
  t.true(response.body.redis.latencyMs >= 0 && response.body.redis.latencyMs < 1000);
});

test('with Redis gone, /health is 503 and hits are 503 with Retry-After, counting nothing', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url);
  t.is((await app.http.get('api/before')).statusCode, 200);
  await redis.process!.kill();

  const health = await app.http.get<{ status: string; redis: { status: string } }>('health');
  t.is(health.statusCode, 503);
  t.is(health.body.status, 'down');
  t.is(health.body.redis.status, 'down');

  const started = Date.now();
  const hit = await app.http.get('api/during');
  t.is(hit.statusCode, 503);
  t.deepEqual(hit.body, { error: 'Redis is unavailable: the hit was not counted' });
  t.is(hit.headers['retry-after'], '1');
  t.true(Date.now() - started < app.settings.redis.commandTimeoutMs + 1000, 'answers within the command timeout');
  t.is((await app.http.get('stats')).statusCode, 503);

  await redis.restart!();
  // ioredis reconnects by itself, backing off up to 2 s.
  let status = 0;
  for (let i = 0; i < 50 && status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = (await app.http.get('health')).statusCode;
  }
  t.is(status, 200, 'recovers when Redis returns');
  t.is(await app.store.hitsOf('/api/during'), 0);
  t.is(await app.store.hitsOf('/api/before'), 1, 'AOF kept the acknowledged hit through the crash');
});
