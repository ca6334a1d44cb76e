// server.workers > 1: node:cluster workers on one port, each with its own Redis connection.
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import test from 'ava';
import got from 'got';
import { Redis } from 'ioredis';
import type { JobReport } from '../src/loadgen/jobs.js';
import { eventually } from './helpers/eventually.js';
import { hammer } from './helpers/load.js';
import { assertCountedExactly } from './helpers/outcomes.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis, sumOfScores } from './helpers/redis.js';

test('two workers share the port, count exactly, and stop together on SIGTERM', async (t) => {
  t.timeout(300_000);
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

  const outcomes = await hammer(base, { concurrency: 20, requests: 1000, prefix: 'workers', keepAlive: false });
  // Exactly one hit per 2xx across workers, and every one of the 1000 a 2xx.
  assertCountedExactly(t, outcomes, await sumOfScores(client, `${prefix}hits`), { sent: 1000 });
  t.is(outcomes.count(200), 1000);

  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  const left = String(await client.client('LIST')).split('\n').filter((line) => line.includes('name=hitcounter '));
  t.is(left.length, 0, 'every worker closed its connection');
});

test('with two workers, a port already taken stops the server with the port message instead of re-forking workers', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const port = (holder.address() as AddressInfo).port;
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `test:${randomUUID()}:`, WORKERS: '2', PORT: String(port) });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await eventually(() => server.child.exitCode !== null || server.child.signalCode !== null, { timeoutMs: 120_000, what: 'the server to stop by itself' });
  t.is(await server.exited, 1);
  const output = server.output();
  // node:cluster words the error `bind EADDRINUSE 127.0.0.1:<port>`; the rest is the one-worker message.
  const message = new RegExp(`^hitcounter: .*EADDRINUSE.* 127\\.0\\.0\\.1:${port}\\. Another process holds the port; set PORT to use a different one\\.$`);
  t.is(output.split('\n').filter((line) => message.test(line)).length, 1, `the port message, once:\n${output}`);
  const workers = new Set([...output.matchAll(/"worker":(\d+)/g)].map((match) => match[1]));
  t.true(workers.size <= 2, `forked workers ${[...workers].join(', ')}`);
  t.notRegex(output, /a worker died; starting another/);
});

test('with two workers, the server\'s own load tests are exempt from the counting limit on every worker; other clients are not', async (t) => {
  t.timeout(300_000);
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const limits = { api: [{ points: 5, durationSeconds: 60 }], read: [], write: [] };
  const server = spawnServer({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `test:${randomUUID()}:`, WORKERS: '2', RATE_LIMITS: JSON.stringify(limits) });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  // Ten keep-alive sockets: node:cluster hands the connections to both workers in turn.
  const report = await got.post(`${base}/test/200?concurrency=10`).json<JobReport>();
  t.deepEqual(report.statusCodes, { '200': 200 }, 'no load request was rate-limited, whichever worker answered it');
  t.is(report.succeeded, 200);
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await got(`${base}/api/outsider`, { throwHttpErrors: false, retry: { limit: 0 } })).statusCode);
  t.deepEqual(statuses, [200, 200, 200, 200, 200, 429], 'a plain client is limited');
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
