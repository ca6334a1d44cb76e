// A public address is hostile: against the real server process (src/server.ts), faults and abuse
// must end in a clear answer, never a crash, and every 2xx must still be counted exactly once.
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import got from 'got';
import { Redis } from 'ioredis';
import { eventually } from './helpers/eventually.js';
import { spawnServer, type ServerProcess } from './helpers/process.js';
import { seedRanking, startLocalRedis, type TestRedis } from './helpers/redis.js';
import { shardKeys } from '../src/redis/keys.js';
import { startLoad } from './helpers/load.js';
import { assertCountedExactly, assertOnlyExpected, settled, tally } from './helpers/outcomes.js';

interface Setup {
  redis: TestRedis;
  server: ServerProcess;
  url: string;
  prefix: string;
}

/** A real server process on its own redis-server, which the test may kill and restart. */
async function serverOnOwnRedis(t: ExecutionContext, env: Record<string, string> = {}): Promise<Setup> {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const prefix = `test:${randomUUID()}:`;
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, ...env });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  return { redis, server, url: server.url(), prefix };
}

/** The server is still there: its process runs and it answers. */
async function assertAlive(t: ExecutionContext, { server, url }: Setup): Promise<void> {
  t.is(server.child.exitCode, null, `the server process is still running:\n${server.output().slice(-2000)}`);
  const health = await got(`${url}/health`, { throwHttpErrors: false, retry: { limit: 0 } });
  t.true([200, 503].includes(health.statusCode), `/health answers (${health.statusCode})`);
}

/** After Redis is back, hits are counted again, each 2xx exactly once. */
async function assertCountsAgain(t: ExecutionContext, { url, redis, prefix }: Setup, label: string): Promise<void> {
  await eventually(async () => (await got(`${url}/health`, { throwHttpErrors: false, retry: { limit: 0 } })).statusCode === 200, { timeoutMs: 120_000, what: 'Redis to be back' });
  const statuses: number[] = [];
  for (let i = 0; i < 20; i++) statuses.push((await got(`${url}/api/${label}`, { throwHttpErrors: false, retry: { limit: 0 } })).statusCode);
  const client = new Redis(redis.url);
  try {
    await eventually(async () => {
      const health = await got(`${url}/health`, { throwHttpErrors: false, responseType: 'json', retry: { limit: 0 } });
      return health.statusCode === 200 && (health.body as { unresolvedHits: number }).unresolvedHits === 0;
    }, { timeoutMs: 120_000, what: 'every hit answered 503 resolved' });
    const counted = Number(await client.zscore(`${prefix}hits`, `/api/${label}`) ?? 0);
    assertCountedExactly(t, tally(statuses), counted, { sent: 20 });
  } finally {
    client.disconnect();
  }
}

test('GET /events.csv with Redis down: 503 with Retry-After, and the server lives on', async (t) => {
  const setup = await serverOnOwnRedis(t);
  t.is((await got(`${setup.url}/api/before`)).statusCode, 200);
  await setup.redis.process!.kill();
  const response = await got(`${setup.url}/events.csv`, { throwHttpErrors: false, retry: { limit: 0 }, responseType: 'json' });
  t.is(response.statusCode, 503);
  t.truthy(response.headers['retry-after']);
  t.like(response.body as object, { error: 'Redis is unavailable: nothing was counted or changed' });
  await assertAlive(t, setup);
  await setup.redis.restart!();
  await assertCountsAgain(t, setup, 'after-events-csv');
});

test('Redis killed midway through a 100,000-row /stats.csv export: the answer is cut off, the server lives on', async (t) => {
  t.timeout(300_000);
  const setup = await serverOnOwnRedis(t);
  const client = new Redis(setup.redis.url);
  const rows = 100_000;
  await seedRanking(client, `${setup.prefix}hits`, rows, '/api/export/', rows);
  client.disconnect();

  // The client reads one chunk, then stops reading: the server can send no more than the socket
  // buffers hold, so Redis dies while the export is still being read from it.
  const stream = got.stream(`${setup.url}/stats.csv`, { retry: { limit: 0 }, throwHttpErrors: false });
  let received = '';
  const ended = new Promise<string>((resolve) => {
    stream.on('data', (chunk: Buffer) => { received += chunk.toString(); });
    stream.once('end', () => resolve('end'));
    stream.once('error', (error: Error) => resolve(`error: ${error.message}`));
  });
  await eventually(() => received.length > 0, { what: 'the first rows of the export' });
  stream.pause();
  await setup.redis.process!.kill();
  stream.resume();
  const outcome = await ended;
  const lines = received.split('\n').filter(Boolean).length;
  t.log(`export: ${lines} lines received, then ${outcome}`);
  t.true(lines < rows + 1, `the export was cut off, not completed (${lines} lines)`);
  t.true(received.startsWith('path,hits\n'));
  await assertAlive(t, setup);
  await setup.redis.restart!();
  await assertCountsAgain(t, setup, 'after-stats-csv');
});

/** Every hit and every bucket of each granularity hold the same sum, and the event stream as many entries. */
async function families(client: Redis, prefix: string): Promise<{ ranking: number; minute: number; hour: number; day: number; events: number }> {
  const keys = shardKeys({ prefix, hits: 'hits' }, 1)[0]!;
  const sumOf = async (pattern: string) => {
    let sum = 0;
    for (const key of await client.keys(pattern)) {
      const flat = await client.zrange(key, 0, -1, 'WITHSCORES');
      for (let i = 1; i < flat.length; i += 2) sum += Number(flat[i]);
    }
    return sum;
  };
  // A bucket key ends with its start (e.g. `…:day:2026-11-20`): every bucket of a granularity,
  // whichever minute, hour or day the load ran through.
  const bucketPattern = (granularity: 'minute' | 'hour' | 'day') => {
    const sample = keys.bucket({ granularity, start: 0 });
    return `${sample.slice(0, sample.lastIndexOf(`:${granularity}:`))}:${granularity}:*`;
  };
  return {
    ranking: await sumOf(keys.hits),
    minute: await sumOf(bucketPattern('minute')),
    hour: await sumOf(bucketPattern('hour')),
    day: await sumOf(bucketPattern('day')),
    events: await client.xlen(keys.events),
  };
}

/** Hits of the load's paths, /api/<prefix>/<0..spread-1>. */
async function countedFor(client: Redis, prefix: string, load: string, spread: number): Promise<number> {
  const scores = await client.zmscore(`${prefix}hits`, ...Array.from({ length: spread }, (_, i) => `/api/${load}/${i}`));
  return scores.reduce((sum: number, score) => sum + Number(score ?? 0), 0);
}

/** Waits until `more` further 2xx answers came in: the load is flowing again, whatever the phase before did. */
const flowing = async (load: ReturnType<typeof startLoad>, more: number, what: string) => {
  const from = load.outcomes.ok();
  await eventually(() => load.outcomes.ok() >= from + more, { what: `${more} hits answered 2xx ${what}` });
};

test('one server through a reset under load, 1,000 idle connections, a window-query flood and an out-of-memory Redis: it answers throughout, and every 2xx is one hit', async (t) => {
  t.timeout(300_000);
  // A short headersTimeout, so that the idle connections' end comes soon on any machine.
  const setup = await serverOnOwnRedis(t, { HEADERS_TIMEOUT_MS: '2000' });
  const { url, prefix } = setup;
  const client = new Redis(setup.redis.url);
  t.teardown(() => client.disconnect());
  const http = got.extend({ prefixUrl: url, throwHttpErrors: false, retry: { limit: 0 } });

  // 1. A reset under load: afterwards the ranking, every bucket and the event stream agree.
  const before = startLoad(url, { concurrency: 10, prefix: 'before-reset', spread: 50 });
  t.teardown(() => before.stop()); // should the test fail before it stops the load itself
  await flowing(before, 200, 'before the reset');
  const reset = await http.delete('stats');
  t.is(reset.statusCode, 200, reset.body);
  await flowing(before, 200, 'after the reset');
  const beforeOutcomes = await before.stop();
  assertOnlyExpected(t, beforeOutcomes);
  const afterReset = await families(client, prefix);
  const { ranking } = afterReset;
  t.deepEqual(afterReset, { ranking, minute: ranking, hour: ranking, day: ranking, events: ranking }, 'the reset left every family holding the same hits');
  t.true(ranking > 0 && ranking < beforeOutcomes.ok(), `the hits after the reset (${ranking} of ${beforeOutcomes.ok()})`);

  // From here one load runs through every other phase; at the end its 2xx must equal its hits.
  const spread = 50;
  const load = startLoad(url, { concurrency: 10, prefix: 'hostile', spread });
  t.teardown(() => load.stop());

  // 2. 1,000 idle connections: each sends nothing. Hits are answered meanwhile, and the server
  // ends each idle one with a 408 once headersTimeout has passed.
  const idle: Array<{ socket: Socket; received: string; closed: boolean }> = [];
  await Promise.all(Array.from({ length: 1000 }, () => new Promise<void>((resolve, reject) => {
    const entry = { socket: connect(Number(new URL(url).port), '127.0.0.1'), received: '', closed: false };
    idle.push(entry);
    entry.socket.on('data', (chunk: Buffer) => { entry.received += chunk.toString(); });
    entry.socket.on('error', () => undefined); // a reset after the 408 is the server closing it
    entry.socket.once('close', () => { entry.closed = true; });
    entry.socket.once('connect', resolve);
    entry.socket.once('error', reject);
  })));
  t.teardown(() => { for (const { socket } of idle) socket.destroy(); });
  await flowing(load, 200, 'while 1,000 idle connections are open');
  t.is((await http.get('health')).statusCode, 200);
  await eventually(() => idle.every((entry) => entry.closed), { what: 'the server to close all 1,000 idle connections' });
  const timedOut = idle.filter((entry) => entry.received.startsWith('HTTP/1.1 408')).length;
  t.is(timedOut, 1000, 'each idle connection was ended with a 408');

  // 3. A flood of distinct custom windows: each is answered with its ranking or 503 with
  // Retry-After, and never more unions are stored than the budget. Two of the ranges are those
  // of named windows (15m and 1h end with the current minute): shared by all, outside the budget.
  const budget = 16 + 2; // analytics.maxCachedWindows in settings.json, and the two named windows
  const MINUTE = 60_000;
  const now = Math.floor(Date.now() / MINUTE) * MINUTE;
  const unions = async () => (await client.keys(`${prefix}hitcounter:*:window:*`)).length;
  let flooding = true;
  let most = 0;
  const sampler = (async () => { while (flooding) most = Math.max(most, await unions()); })();
  const windows = await Promise.all(Array.from({ length: 200 }, async (_, k) => http.get('stats', {
    searchParams: { from: new Date(now - (k + 1) * MINUTE).toISOString(), to: new Date(now + MINUTE).toISOString() },
  })));
  flooding = false;
  await sampler;
  const windowStatuses = tally(windows.map((response) => response.statusCode));
  assertOnlyExpected(t, windowStatuses, { allowed: [503], sent: 200 });
  t.true(windows.every((response) => response.statusCode === 200 || Number(response.headers['retry-after']) >= 1), 'each 503 says when to retry');
  t.true(windows.filter((response) => response.statusCode === 200).length >= 1, 'windows within the budget are answered');
  t.true(most <= budget && (await unions()) <= budget, `at most ${budget} unions stored (saw ${most})`);
  await flowing(load, 200, 'after the window flood');

  // 4. Redis out of memory: any memory in use is over a 1-byte maxmemory. Hits are refused with
  // 503 and nothing counted, /health says why, and the log does not fill up.
  const loggedBefore = setup.server.output().length;
  await client.config('SET', 'maxmemory-policy', 'noeviction');
  await client.config('SET', 'maxmemory', '1');
  const refused = load.outcomes.count(503);
  await eventually(() => load.outcomes.count(503) >= refused + 200, { what: '200 hits refused while Redis is out of memory' });
  const health = await http.get('health', { responseType: 'json' });
  t.is(health.statusCode, 503);
  t.is((health.body as { redis: { status: string } }).redis.status, 'out of memory');
  const oomLines = setup.server.output().slice(loggedBefore).split('\n').filter((line) => /OOM|out of memory|maxmemory/i.test(line));
  t.true(oomLines.length <= 5, `a few log lines about it, not one per hit: ${oomLines.length}`);
  t.false(oomLines.some((line) => line.includes('/api/hostile')), 'no log line about it carries a path');
  await client.config('SET', 'maxmemory', '0');
  await flowing(load, 200, 'once Redis has memory again');

  // The server still answers, and every 2xx of the load is exactly one hit: none lost, none doubled.
  const outcomes = await load.stop();
  await assertAlive(t, setup);
  await settled({ http });
  assertCountedExactly(t, outcomes, await countedFor(client, prefix, 'hostile', spread), { allowed: [503] });
  t.log(`reset: ${JSON.stringify(afterReset)}; 408 × ${timedOut}; windows ${JSON.stringify([...windowStatuses.statuses])}, most unions ${most}; load ${JSON.stringify([...outcomes.statuses])}`);
});
