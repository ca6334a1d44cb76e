// A public address is hostile: against the real server process (src/server.ts), faults and abuse
// must end in a clear answer, never a crash, and every 2xx must still be counted exactly once.
import { randomUUID } from 'node:crypto';
import test, { type ExecutionContext } from 'ava';
import got from 'got';
import { Redis } from 'ioredis';
import { eventually } from './helpers/eventually.js';
import { spawnServer, type ServerProcess } from './helpers/process.js';
import { startLocalRedis, type TestRedis } from './helpers/redis.js';
import { assertCountedExactly, tally } from './helpers/outcomes.js';

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
  for (let start = 0; start < rows; start += 10_000) {
    const args: Array<string | number> = [];
    for (let i = start; i < start + 10_000; i++) args.push(i, `/api/export/${i}`);
    await client.zadd(`${setup.prefix}hits`, ...args);
  }
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
