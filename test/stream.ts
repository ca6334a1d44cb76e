// GET /stats/stream, the live traffic feed: per-second counts written by the hit scripts, sampled
// once a second per process (not per client), exact across processes, and out of the way of a
// graceful shutdown.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import got from 'got';
import { Redis } from 'ioredis';
import { startApp, withApp, sharedRedis } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { eventually } from './helpers/eventually.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis } from './helpers/redis.js';
import { openSse, type SseEvent, type SseStream } from './helpers/sse.js';

interface Point { t: number; hits: number }
const point = (event: SseEvent) => JSON.parse(event.data) as Point;
const points = (stream: SseStream) => stream.events.filter((e) => e.event === 'hits').map(point);

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

test.serial('many clients, one sampler: one MGET a second for the process, none once the last client left', withApp, async (t, app) => {
  // The app's own connection (the one the sampler reads on), to see from outside when it goes quiet.
  const appConnection = await app.redis.client.client('ID');
  const before = await mgetCalls((await sharedRedis()).url);
  const streams = Array.from({ length: 6 }, () => openSse(`${app.url}/stats/stream`));
  await Promise.all(streams.map((stream) => stream.until((e) => e.event === 'backlog')));
  // Three seconds' points for every client, whenever they come on this machine.
  await Promise.all(streams.map((stream) => stream.until(() => points(stream).length >= 3)));
  const during = (await mgetCalls((await sharedRedis()).url)) - before;
  const sent = Math.max(...streams.map((stream) => points(stream).length));
  // One read for the backlog, then one a tick, and every tick sends at least the second it is
  // the first to read; one more may have come since. A read per client would be six times that.
  t.log(`${during} MGETs for ${sent} points to each of 6 clients`);
  t.true(during >= 1 && during <= sent + 2, `${during} MGETs for ${sent} points`);
  // Every client got the same figure for every second they both got: on a busy machine one may
  // have joined a second later than another, so their first points need not be the same second.
  const [first, ...others] = streams.map((stream) => new Map(points(stream).map((point) => [point.t, point.hits])));
  for (const other of others) {
    const shared = [...other.keys()].filter((time) => first!.has(time));
    t.true(shared.length > 0, 'the clients got points of the same seconds');
    for (const time of shared) t.is(other.get(time), first!.get(time), `second ${time}`);
  }

  for (const stream of streams) stream.close();
  // A sampler still running reads within every second; the connection it reads on staying quiet
  // for three, however long that takes to come on this machine, says it stopped.
  const admin = new Redis((await sharedRedis()).url);
  t.teardown(() => admin.disconnect());
  const idle = async () => Number(/ idle=(\d+)/.exec(String(await admin.client('LIST', 'ID', appConnection)))?.[1]);
  await eventually(async () => (await idle()) >= 3, { timeoutMs: 120_000, intervalMs: 200, what: "the app's Redis connection to go quiet" });
  t.true((await idle()) >= 3, 'the sampler stopped with its last client');
});

test('headers, a 300-second backlog, then a point each second', async (t) => {
  // 400 ms into a second: the sampler reads seconds on this clock, which moves only when told.
  const clock = new ManualClock(Date.UTC(2026, 10, 20, 12, 0, 0, 400));
  const app = await startApp(t, { deps: { clock } });
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
  t.is(newest, Date.UTC(2026, 10, 20, 11, 59, 59), 'the newest second over (the current one is still counting)');
  t.true(backlog.every((p) => p.hits === 0), 'nothing was counted under this key prefix');

  // Each second the clock moves on is one more point, and nothing else is.
  clock.advance(1000);
  await stream.until((e) => e.event === 'hits' && point(e).t === newest + 1000);
  clock.advance(1000);
  await stream.until((e) => e.event === 'hits' && point(e).t === newest + 2000);
  t.deepEqual(points(stream), [{ t: newest + 1000, hits: 0 }, { t: newest + 2000, hits: 0 }]);

  t.is((await got(`${app.url}/stats/stream?x=1`, { throwHttpErrors: false })).statusCode, 400);
});

test('counts every process sharing Redis, in the second the hits were counted, and late hits correct their second', async (t) => {
  const second = Date.UTC(2026, 10, 20, 12, 0, 0) / 1000;
  const clock = new ManualClock(second * 1000 + 400);
  const prefix = `test:${randomUUID()}:`;
  const shared = { tweak: (s: { redis: { keyPrefix: string } }) => { s.redis.keyPrefix = prefix; }, deps: { clock } };
  const a = await startApp(t, shared);
  const b = await startApp(t, shared);
  // A third process whose clock is behind: its hits land in a second the feed has already sent.
  const c = await startApp(t, { ...shared, deps: { clock: new ManualClock(second * 1000 + 900) } });
  await Promise.all([...Array(7)].map((_, i) => a.http.get(`api/a/${i % 3}`)));
  await Promise.all([...Array(5)].map(() => b.http.get('api/b')));

  const stream = openSse(`${a.url}/stats/stream`);
  t.teardown(() => stream.close());
  const backlog = JSON.parse((await stream.until((e) => e.event === 'backlog')).data) as Point[];
  // The second in progress is not in the backlog: it is not over yet.
  t.is(backlog.at(-1)!.t, (second - 1) * 1000);

  clock.set((second + 1) * 1000 + 400);
  t.deepEqual(point(await stream.until((e) => e.event === 'hits' && point(e).t === second * 1000)), { t: second * 1000, hits: 12 });

  await c.http.get('api/c');
  t.deepEqual(point(await stream.until((e) => e.event === 'hits' && point(e).hits === 13)), { t: second * 1000, hits: 13 });
  t.is(sum(seconds(stream)), 13);
});

test('write-behind hits reach the feed when they are flushed', async (t) => {
  const app = await startApp(t, { tweak: (s) => { s.writeBehind.enabled = true; } });
  const stream = openSse(`${app.url}/stats/stream`);
  t.teardown(() => stream.close());
  await stream.until((e) => e.event === 'backlog');
  await Promise.all([...Array(30)].map((_, i) => app.http.get(`api/wb/${i % 4}`)));
  await eventually(() => sum(seconds(stream)) >= 30, { what: 'the flushed hits in the feed' });
  t.is(sum(seconds(stream)), 30);
});

test('with Redis gone the feed says so, and resumes by itself', async (t) => {
  const local = await startLocalRedis();
  t.teardown(() => local.stop());
  const app = await startApp(t, local.url);
  const stream = openSse(`${app.url}/stats/stream`);
  t.teardown(() => stream.close());
  const backlog = JSON.parse((await stream.until((e) => e.event === 'backlog')).data) as Point[];
  await local.process!.kill();
  const down = await stream.until((e) => e.event === 'unavailable');
  t.regex(JSON.parse(down.data).error, /^Redis is unavailable/);
  await local.restart!();
  const seen = stream.events.length;
  const resumed = point(await stream.until((e) => e.event === 'hits' && stream.events.indexOf(e) >= seen));
  // Points go on from where the feed was: a later second than the backlog's, counting nothing.
  t.true(resumed.t > backlog.at(-1)!.t, `resumed at ${new Date(resumed.t).toISOString()}, after the backlog`);
  t.is(resumed.hits, 0);
});

test('SIGTERM with feeds open: they end and the server stops without waiting out its shutdown timeout', async (t) => {
  const server = spawnServer({ REDIS_URL: (await sharedRedis()).url, REDIS_KEY_PREFIX: `test:${randomUUID()}:`, SHUTDOWN_TIMEOUT_MS: '120000' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const streams = [openSse(`${server.url()}/stats/stream`), openSse(`${server.url()}/stats/stream`)];
  await Promise.all(streams.map((stream) => stream.until((e) => e.event === 'backlog')));
  const started = performance.now();
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  // A server that waited out its shutdown timeout would take 120 s; one that ended the feeds takes
  // well under a second here, a few on a busy machine. Half the timeout cannot be mistaken either way.
  const tookMs = performance.now() - started;
  t.true(tookMs < 60_000, `stopped after ${tookMs.toFixed(0)} ms`);
  await Promise.all(streams.map((stream) => stream.ended));
});

test('a hit taken back after its reply was lost is taken out of its second in the feed too', async (t) => {
  t.timeout(300_000);
  const local = await startLocalRedis();
  t.teardown(() => local.stop());
  const second = Math.floor(Date.now() / 1000) - 20;
  const clock = new ManualClock(second * 1000 + 400);
  const app = await startApp(t, local.url, { deps: { clock }, tweak: (s) => { s.redis.commandTimeoutMs = 300; } });
  t.is((await app.http.get('api/kept')).statusCode, 200);
  const { Redis } = await import('ioredis');
  const admin = new Redis(local.url);
  t.teardown(() => admin.disconnect());
  // Redis holds the hit past its timeout (503) and applies it afterwards: the store must take it
  // back. The pause lasts until the 503 is in (not a fixed time a loaded machine could outlast).
  await admin.client('PAUSE', 120_000, 'WRITE');
  t.teardown(() => admin.client('UNPAUSE').catch(() => {}));
  t.is((await app.http.get('api/lost')).statusCode, 503);
  await admin.client('UNPAUSE');
  await eventually(async () => (await app.http.get<{ retractedHits: number }>('health')).body.retractedHits === 1, { timeoutMs: 120_000, what: 'the lost hit to be taken back' });
  t.is(await app.totalHits(), 1, 'the ranking holds the acknowledged hit only');
  t.is(await admin.get(app.shard.second(second)), '1', "the second's counter holds the acknowledged hit only");

  clock.set((second + 1) * 1000 + 400);
  const stream = openSse(`${app.url}/stats/stream`);
  t.teardown(() => stream.close());
  const backlog = JSON.parse((await stream.until((e) => e.event === 'backlog')).data) as Point[];
  t.deepEqual(backlog.at(-1), { t: second * 1000, hits: 1 });
});
