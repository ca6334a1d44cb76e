// Fault injection against real redis-server processes: the promise under test is that every 2xx
// from /api/* is exactly one hit in Redis, and nothing else is.
import test from 'ava';
import getPort from 'get-port';
import got from 'got';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Job, JobReport } from '../src/loadgen/jobs.js';

type RunJob = Job<JobReport>;
import { createLogger } from '../src/logger.js';
import { startRedisServer, ensureRedisServer } from '../src/redis/embedded.js';
import { globalKeys, shardKeys } from '../src/redis/keys.js';
import { PATIENT_LOADGEN_MS, startApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';
import { hammer, startLoad, type Load } from './helpers/load.js';
import { assertCountedExactly, assertReportAddsUp, settled, tally } from './helpers/outcomes.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis, sumOfScores } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

// Each fault comes at a point the load has reached, not after a length of time: a busy machine
// only makes the test slower.
const answered2xx = (load: Load, n: number, what: string) =>
  eventually(() => load.outcomes.ok() >= n, { timeoutMs: 120_000, what: `${n} 2xx ${what}` });

test.serial('Redis crash: kill -9 mid-load and restart on the same data; /stats sums to exactly the 2xx', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const app = await startApp(t, redis.url, { tweak: (s) => { s.redis.commandTimeoutMs = 1000; } });
  const load = startLoad(app.url, { concurrency: 50, prefix: 'crash' });
  await answered2xx(load, 300, 'before the crash');
  await redis.process!.kill();
  await eventually(() => load.outcomes.count(503) > 0, { what: 'the crash to be felt (a 503)' });
  await redis.restart!();
  await answered2xx(load, load.outcomes.ok() + 300, 'more, after the restart');
  const outcomes = await load.stop();
  await settled(app);

  t.log(`taken back after the restart: ${(await app.http.get<{ retractedHits: number }>('health')).body.retractedHits}`);
  t.true(outcomes.count(503) > 0, 'the crash was felt');
  // Every non-2xx a 503, and no connection dropped: exactly one hit per 2xx.
  assertCountedExactly(t, outcomes, await app.totalHits(), { allowed: [503] });
});

test.serial('slow Redis: requests time out with 503 within the bound, late-applied hits are taken back', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const commandTimeoutMs = 500;
  const app = await startApp(t, redis.url, { tweak: (s) => { s.redis.commandTimeoutMs = commandTimeoutMs; } });
  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  const load = startLoad(app.url, { concurrency: 50, prefix: 'slow' });
  await answered2xx(load, 300, 'before the pause');
  // Redis stops serving every client for PAUSE_MS (its own timer, not the test's), then applies
  // everything it queued meanwhile. The length is the experiment: long next to the command
  // timeout, so that a 503 given at the timeout stands apart from an answer that waited it out.
  const PAUSE_MS = 20_000;
  await admin.client('PAUSE', PAUSE_MS, 'ALL');
  await eventually(() => load.outcomes.count(503) > 0, { what: 'the pause to be felt (a 503)' });
  // No hit can be answered 2xx while Redis is paused: the next ones come after it.
  await answered2xx(load, load.outcomes.ok() + 300, 'more, once the pause is over');
  const outcomes = await load.stop();
  await settled(app);

  t.log(`slowest 503 ${outcomes.slowest503Ms.toFixed(0)} ms`);
  t.true(outcomes.count(503) > 0, 'the pause was felt');
  // The bound is commandTimeoutMs: alone this measures 510–650 ms here, 3.3 s with busy loops on
  // both cores (the client shares its process with the server). Half the pause is 10 s: an
  // answer that waited for Redis would take up to the whole pause, one at the timeout never that.
  t.true(outcomes.slowest503Ms < PAUSE_MS / 2, `a 503 took ${outcomes.slowest503Ms.toFixed(0)} ms`);
  const { body: health } = await app.http.get<{ retractedHits: number }>('health');
  t.log(`hits Redis applied after their 503, taken back: ${health.retractedHits}`);
  t.true(health.retractedHits > 0, 'Redis did apply timed-out hits late: the case this guards against happened');
  assertCountedExactly(t, outcomes, await app.totalHits(), { allowed: [503] });
});

test.serial('Redis absent at start-up: the server starts, /health says 503, and it counts exactly once Redis appears', async (t) => {
  t.timeout(300_000);
  const redisPort = await getPort();
  const prefix = `test:${randomUUID()}:`;
  const server = spawnServer({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, REDIS_KEY_PREFIX: prefix });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const url = server.url();
  const health = async () => (await got(`${url}/health`, { throwHttpErrors: false, retry: { limit: 0 } })).statusCode;
  t.is(await health(), 503);
  t.is((await got(`${url}/api/early`, { throwHttpErrors: false, retry: { limit: 0 } })).statusCode, 503);

  const dir = await tempDir(t);
  const redis = await startRedisServer({ binary: await ensureRedisServer(() => {}), port: redisPort, dir, appendfsync: 'everysec', startTimeoutMs: 10_000 });
  t.teardown(() => redis.stop());
  await eventually(async () => (await health()) === 200, { what: 'the server to find Redis by itself' });
  const outcomes = await hammer(url, { concurrency: 20, requests: 500, prefix: 'late' });
  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  // The early 503 was not counted; every 2xx was, and with Redis up every answer is one.
  assertCountedExactly(t, outcomes, await sumOfScores(client, `${prefix}hits`), { sent: 500 });
  t.is(outcomes.count(200), 500);
});

test.serial('server shutdown: SIGTERM mid-load finishes in-flight requests, refuses new ones, saves running jobs as cancelled, counts every 2xx', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const prefix = `test:${randomUUID()}:`;
  // The load generator's timeout as in the other tests (see PATIENT_LOADGEN_MS): its hits are counted exactly below.
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'info', LOADTEST_REQUEST_TIMEOUT_MS: String(PATIENT_LOADGEN_MS) });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const url = server.url();

  // A job in the background, and a synchronous run whose request is in flight when SIGTERM lands.
  const job = await got.post(`${url}/test/1000000?async=1&concurrency=5&rate=200`).json<RunJob>();
  const inFlight = got.post(`${url}/test/1000000?concurrency=5&rate=200`, { retry: { limit: 0 } }).json<JobReport>();
  inFlight.catch(() => undefined); // awaited below; keeps an earlier failure from going unhandled
  const load = startLoad(url, { concurrency: 20, prefix: 'shutdown', keepAlive: false });
  // SIGTERM lands mid-load: once the test's load and both runs are under way. (Every 100 ms: the
  // job list counts against the read rate limit.)
  await answered2xx(load, 200, 'before SIGTERM');
  await eventually(async () => {
    const jobs = await got(`${url}/test/jobs`).json<RunJob[]>();
    return jobs.length === 2 && jobs.every((j) => (j.progress?.completed ?? 0) > 0);
  }, { intervalMs: 100, what: 'both load-test runs to be under way' });
  server.child.kill('SIGTERM');
  const exitCode = await server.exited;
  // The load goes on until it meets the closed port, so that what comes after the exit is seen too.
  await eventually(() => (load.outcomes.errors.get('ECONNREFUSED') ?? 0) > 0, { what: 'a request refused after the exit' });
  const outcomes = await load.stop();
  const syncReport = await inFlight;

  t.is(exitCode, 0);
  t.true(syncReport.cancelled, 'the in-flight synchronous run was cancelled, and still answered with its report');
  assertReportAddsUp(t, syncReport);

  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const saved = JSON.parse((await client.get(globalKeys(prefix).job(job.id)))!) as RunJob;
  t.is(saved.status, 'cancelled');
  t.true(saved.report!.cancelled);
  assertReportAddsUp(t, saved.report!);
  const counted = await sumOfScores(client, shardKeys({ prefix, hits: 'hits' }, 1)[0]!.hits);
  t.log(`job (async) succeeded ${saved.report!.succeeded}, run in flight (sync) succeeded ${syncReport.succeeded}; hits counted ${counted}`);
  // Every request the server read was answered, and answered 2xx. Refused: the listening socket
  // is closed. Reset: connections still in the kernel's accept queue, or accepted but not yet
  // read, when it closed. Every 2xx, from the test and from both runs, is exactly one hit.
  assertCountedExactly(t, outcomes, counted - saved.report!.succeeded - syncReport.succeeded, { allowedErrors: ['ECONNREFUSED', 'ECONNRESET'] });
  t.true(outcomes.ok() > 0);
});

test.serial('Redis out of memory: hits are 503 with Retry-After and uncounted, /health says so, and the log gets one line without request data', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  const app = await startApp(t, redis.url, { deps: { logger: createLogger('info', stream) } });
  for (let i = 0; i < 5; i++) t.is((await app.http.get('api/before-oom')).statusCode, 200);

  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  // Any memory in use is over a 1-byte maxmemory: what a full Redis with nothing to evict says.
  await admin.config('SET', 'maxmemory-policy', 'noeviction');
  await admin.config('SET', 'maxmemory', '1');

  const marker = `oom-${randomUUID()}`;
  const headers = { 'user-agent': `UA-${marker}-${'u'.repeat(400)}`, referer: `https://ref.example/${marker}` };
  const responses = await Promise.all(Array.from({ length: 300 }, (_, i) => app.http.get(`api/${marker}/${i % 30}`, { headers })));
  const statuses = responses.map((response) => response.statusCode);
  assertCountedExactly(t, tally(statuses), (await app.totalHits()) - 5, { allowed: [503], sent: 300 });
  t.true(statuses.every((status) => status === 503), `every hit refused: ${statuses.filter((s) => s !== 503).length} not 503`);
  t.true(responses.every((response) => Number(response.headers['retry-after']) >= 1), 'each 503 says when to retry');

  const health = await app.http.get<{ status: string; redis: { status: string } }>('health');
  t.is(health.statusCode, 503);
  t.is(health.body.redis.status, 'out of memory');

  const aboutIt = lines.filter((line) => /OOM|maxmemory|redis_oom/.test(line));
  t.true(aboutIt.length >= 1 && aboutIt.length <= 2, `one or two log lines about it, got ${aboutIt.length}: ${aboutIt.join('\n').slice(0, 2000)}`);
  t.false(lines.some((line) => line.includes(marker)), 'no log line carries a path, User-Agent or Referer');
  t.true(lines.join('\n').length < 10_000, `the log stays small: ${lines.join('\n').length} bytes`);

  // Memory freed: /health finds out by itself, and hits count again.
  await admin.config('SET', 'maxmemory', '0');
  await eventually(async () => (await app.http.get('health')).statusCode === 200, { what: '/health ok again' });
  t.is((await app.http.get('api/after-oom')).statusCode, 200);
  t.is(await app.totalHits(), 6);
});
