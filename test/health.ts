import test from 'ava';
import { Redis } from 'ioredis';
import { startApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { startLocalRedis, startRedis } from './helpers/redis.js';

/** A clock that moves `stepMs` at every reading: a duration measured on it is a known number of steps. */
class SteppingClock extends ManualClock {
  constructor(private readonly stepMs: number) { super(); }
  override now(): number { return this.advance(this.stepMs); }
}

test('GET /health is 200 with Redis up, with its latency', async (t) => {
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  // The latency is read on the injected clock, around the PING: one step, however slow the machine.
  const app = await startApp(t, redis.url, { deps: { clock: new SteppingClock(0.25) } });
  const response = await app.http.get<{ status: string; redis: { status: string; latencyMs: number } }>('health');
  t.is(response.statusCode, 200);
  t.is(response.body.status, 'ok');
  t.is(response.body.redis.status, 'up');
  t.is(response.body.redis.latencyMs, 0.25);
});

test('with Redis gone, /health is 503 and hits are 503 with Retry-After, counting nothing', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url);
  t.is((await app.http.get('api/before')).statusCode, 200);
  // With appendfsync everysec, Redis postpones writing its AOF buffer by up to 2 s while a slow
  // fsync runs (a loaded disk), replying meanwhile: a kill then would lose the hit, as the README
  // says. The kill waits until the buffer has reached the file, which a process crash keeps.
  const admin = new Redis(redis.url);
  await eventually(async () => /aof_buffer_length:0\r?\n/.test(await admin.info('persistence')), { what: 'the AOF buffer to reach the file' });
  admin.disconnect();
  await redis.process!.kill();

  const health = await app.http.get<{ status: string; redis: { status: string } }>('health');
  t.is(health.statusCode, 503);
  t.is(health.body.status, 'down');
  t.is(health.body.redis.status, 'down');

  const started = performance.now();
  const hit = await app.http.get('api/during', { timeout: { request: 60_000 } });
  const tookMs = performance.now() - started;
  t.is(hit.statusCode, 503);
  t.deepEqual(hit.body, { error: 'Redis is unavailable: the hit was not counted' });
  t.is(hit.headers['retry-after'], '1');
  // What this guards against is a hit left waiting for Redis to come back, which here is never:
  // Redis is restarted only after this answer (the request gives up after a minute). 30 s is 15
  // times the 2 s command timeout: no machine is that slow to answer a 503.
  t.true(tookMs < 30_000, `answered after ${tookMs.toFixed(0)} ms`);
  t.is((await app.http.get('stats')).statusCode, 503);

  await redis.restart!();
  // ioredis reconnects by itself, backing off up to 2 s.
  await eventually(async () => (await app.http.get('health')).statusCode === 200, { what: '/health to recover once Redis is back' });
  t.is(await app.store.hitsOf('/api/during'), 0);
  t.is(await app.store.hitsOf('/api/before'), 1, 'AOF kept the acknowledged hit through the crash');
});
