// server.workers > 1: node:cluster workers on one port, each with its own Redis connection.
import { randomUUID } from 'node:crypto';
import test from 'ava';
import { Redis } from 'ioredis';
import { hammer } from './helpers/load.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis, sumOfScores } from './helpers/redis.js';

test('two workers share the port, count exactly, and stop together on SIGTERM', async (t) => {
  t.timeout(60_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const prefix = `test:${randomUUID()}:`;
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, WORKERS: '2' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  t.regex(server.output(), /"workers":2/);
  t.is(server.output().match(/no admin token configured/g)?.length, 1, 'the warning comes once, not once per worker');

  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const clients = String(await client.client('LIST')).split('\n').filter((line) => line.includes('name=hitcounter '));
  t.is(clients.length, 2, 'one Redis connection per worker');

  const outcomes = await hammer(base, { concurrency: 20, requests: 2000, prefix: 'workers', keepAlive: false });
  t.is(outcomes.count(200), 2000);
  t.is(await sumOfScores(client, `${prefix}hits`), 2000, 'exactly one hit per 2xx across workers');

  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  const left = String(await client.client('LIST')).split('\n').filter((line) => line.includes('name=hitcounter '));
  t.is(left.length, 0, 'every worker closed its connection');
});
