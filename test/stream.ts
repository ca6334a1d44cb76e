// GET /stats/stream, the live traffic feed: per-second counts written by the hit scripts, sampled
// once a second per process (not per client), exact across processes, and out of the way of a
// graceful shutdown.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import got from 'got';
import type { Clock } from '../src/clock.js';
import { startApp } from './helpers/app.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis, startRedis, type TestRedis } from './helpers/redis.js';
import { openSse, type SseEvent, type SseStream } from './helpers/sse.js';

let redis: TestRedis;
test.before(async () => { redis = await startRedis(); });
test.after.always(async () => { await redis?.stop(); });

interface Point { t: number; hits: number }
const point = (event: SseEvent) => JSON.parse(event.data) as Point;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A clock the test moves by hand. */
const manualClock = (ms: number): Clock & { ms: number } => ({ ms, now() { return this.ms; } });

/** Every second the stream told of, the latest value of each (a repeated `t` replaces the earlier). */
function seconds(stream: SseStream): Map<number, number> {
  const byTime = new Map<number, number>();
  for (const event of stream.events) {
    if (event.event === 'backlog') for (const p of JSON.parse(event.data) as Point[]) byTime.set(p.t, p.hits);
    if (event.event === 'hits') byTime.set(point(event).t, point(event).hits);
  }
  return byTime;
}
const sum = (byTime: Map<number, number>) => [...byTime.values()].reduce((a, b) => a + b, 0);

async function mgetCalls(url: string): Promise<number> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url);
  try {
    const info = await client.info('commandstats');
    return Number(/cmdstat_mget:calls=(\d+)/.exec(info)?.[1] ?? 0);
  } finally {
    client.disconnect();
  }
}

test.serial('many clients, one sampler: one MGET a second for the process, none once the last client left', async (t) => {
  const app = await startApp(t, redis.url);
  const before = await mgetCalls(redis.url);
  const streams = Array.from({ length: 6 }, () => openSse(`${app.url}/stats/stream`));
  await Promise.all(streams.map((stream) => stream.until((e) => e.event === 'backlog')));
  await Promise.all(streams.map((stream) => stream.until((e) => e.event === 'hits', 3000)));
  await sleep(2000);
  const during = (await mgetCalls(redis.url)) - before;
  // One backlog read and one read a second for everyone: about 4 here, where a read per client would be 24.
  t.true(during >= 3 && during <= 6, `${during} MGETs`);
  // Every client got the same points.
  const [first, ...others] = streams.map((stream) => stream.events.filter((e) => e.event === 'hits').slice(0, 2).map((e) => e.data));
  for (const other of others) t.deepEqual(other, first);

  for (const stream of streams) stream.close();
  await sleep(300);
  const stopped = await mgetCalls(redis.url);
  await sleep(2500);
  t.is(await mgetCalls(redis.url), stopped, 'the sampler stopped with its last client');
});

test('headers, a 300-second backlog, then a point each second', async (t) => {
  const app = await startApp(t, redis.url);
  const stream = openSse(`${app.url}/stats/stream`);
  t.teardown(() => stream.close());
  const response = await stream.response;
  t.is(response.statusCode, 200);
  t.is(response.headers['content-type'], 'text/event-stream; charset=utf-8');
  t.is(response.headers['cache-control'], 'no-store');
  t.is(response.headers['x-accel-buffering'], 'no');

  const backlog = JSON.parse((await stream.until((e) => e.event === 'backlog')).data) as Point[];
  t.is(backlog.length, 300);
  backlog.forEach((p, i) => { if (i > 0) t.is(p.t - backlog[i - 1]!.t, 1000); });
  const newest = backlog.at(-1)!.t;
  t.true(newest <= Date.now() - 1000 && newest >= Date.now() - 3000, `newest second ${new Date(newest).toISOString()}`);
  t.true(backlog.every((p) => p.hits === 0), 'nothing was counted under this key prefix');

  await stream.until((e) => e.event === 'hits' && point(e).t === newest + 2000, 4000);
  const next = stream.events.filter((e) => e.event === 'hits').map(point);
  t.deepEqual(next.slice(0, 2).map((p) => p.t), [newest + 1000, newest + 2000]);

  t.is((await got(`${app.url}/stats/stream?x=1`, { throwHttpErrors: false })).statusCode, 400);
});

test('counts every process sharing Redis, in the second the hits were counted, and late hits correct their second', async (t) => {
  const second = Math.floor(Date.now() / 1000) - 20;
  const clock = manualClock(second * 1000 + 400);
  const prefix = `test:${randomUUID()}:`;
  const shared = { tweak: (s: { redis: { keyPrefix: string } }) => { s.redis.keyPrefix = prefix; }, deps: { clock } };
  const a = await startApp(t, redis.url, shared);
  const b = await startApp(t, redis.url, shared);
  // A third process whose clock is behind: its hits land in a second the feed has already sent.
  const c = await startApp(t, redis.url, { ...shared, deps: { clock: manualClock(second * 1000 + 900) } });
  await Promise.all([...Array(7)].map((_, i) => a.http.get(`api/a/${i % 3}`)));
  await Promise.all([...Array(5)].map(() => b.http.get('api/b')));

  const stream = openSse(`${a.url}/stats/stream`);
  t.teardown(() => stream.close());
  const backlog = JSON.parse((await stream.until((e) => e.event === 'backlog')).data) as Point[];
  // The second in progress is not in the backlog: it is not over yet.
  t.is(backlog.at(-1)!.t, (second - 1) * 1000);

  clock.ms = (second + 1) * 1000 + 400;
  t.deepEqual(point(await stream.until((e) => e.event === 'hits' && point(e).t === second * 1000, 3000)), { t: second * 1000, hits: 12 });

  await c.http.get('api/c');
  t.deepEqual(point(await stream.until((e) => e.event === 'hits' && point(e).hits === 13, 3000)), { t: second * 1000, hits: 13 });
  t.is(sum(seconds(stream)), 13);
});

test('write-behind hits reach the feed when they are flushed', async (t) => {
  const app = await startApp(t, redis.url, { tweak: (s) => { s.writeBehind.enabled = true; } });
  const stream = openSse(`${app.url}/stats/stream`);
  t.teardown(() => stream.close());
  await stream.until((e) => e.event === 'backlog');
  await Promise.all([...Array(30)].map((_, i) => app.http.get(`api/wb/${i % 4}`)));
  for (let i = 0; i < 40 && sum(seconds(stream)) < 30; i++) await sleep(100);
  t.is(sum(seconds(stream)), 30);
});

test('with Redis gone the feed says so, and resumes by itself', async (t) => {
  const local = await startLocalRedis();
  t.teardown(() => local.stop());
  const app = await startApp(t, local.url);
  const stream = openSse(`${app.url}/stats/stream`);
  t.teardown(() => stream.close());
  await stream.until((e) => e.event === 'backlog');
  await local.process!.kill();
  const down = await stream.until((e) => e.event === 'unavailable', 4000);
  t.regex(JSON.parse(down.data).error, /^Redis is unavailable/);
  await local.restart!();
  const seen = stream.events.length;
  await stream.until((e) => e.event === 'hits' && stream.events.indexOf(e) >= seen, 8000);
  t.pass();
});

test('SIGTERM with feeds open: they end and the server stops without waiting out its shutdown timeout', async (t) => {
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `test:${randomUUID()}:`, SHUTDOWN_TIMEOUT_MS: '30000' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const streams = [openSse(`${server.url()}/stats/stream`), openSse(`${server.url()}/stats/stream`)];
  await Promise.all(streams.map((stream) => stream.until((e) => e.event === 'backlog')));
  const started = Date.now();
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  t.true(Date.now() - started < 5000, `stopped after ${Date.now() - started} ms`);
  await Promise.all(streams.map((stream) => stream.ended));
});
