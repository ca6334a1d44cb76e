import { existsSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import getPort from 'get-port';
import { tempDir } from './helpers/tmp.js';
import got from 'got';
import { redisAnswers } from '../src/redis/embedded.js';
import { spawnServer } from './helpers/process.js';
import { startLocalRedis } from './helpers/redis.js';

const client = got.extend({ throwHttpErrors: false, retry: { limit: 0 }, responseType: 'json' });

test('without REDIS_URL the server starts its own redis-server with AOF, counts, and stops it on SIGTERM', async (t) => {
  const dataDir = await tempDir(t);
  const redisPort = await getPort();
  const server = spawnServer({ REDIS_EMBEDDED_PORT: String(redisPort), REDIS_DATA_DIR: dataDir });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  t.regex(server.output(), /started an embedded redis-server/);
  t.regex(server.output(), /no admin token configured \(HITCOUNTER_ADMIN_TOKEN or auth\.tokenFile\): admin endpoints answer loopback clients only/);

  t.deepEqual((await client.get(`${base}/api/hello/world/`)).body, { path: '/api/hello/world', hits: 1 });
  t.deepEqual((await client.get(`${base}/api/hello/world`)).body, { path: '/api/hello/world', hits: 2 });
  t.true(existsSync(join(dataDir, 'appendonlydir')), 'AOF files live in the data directory');

  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  t.regex(server.output(), /"msg":"stopped"/);
  t.false(await redisAnswers(redisPort), 'the embedded redis-server was stopped with the server');
});

test('without REDIS_URL the server reuses a Redis already listening on the embedded port, and leaves it running', async (t) => {
  const redis = await startLocalRedis();
  t.teardown(() => redis.stop());
  const server = spawnServer({ REDIS_EMBEDDED_PORT: String(redis.process!.port) });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  t.regex(server.output(), /using the Redis already listening/);
  t.is((await client.get(`${base}/api/x`)).statusCode, 200);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
  t.true(await redisAnswers(redis.process!.port));
});

test('a bad setting stops the server with a message naming the field', async (t) => {
  const server = spawnServer({ PORT: 'abc' });
  t.is(await server.exited, 1);
  t.regex(server.output(), /hitcounter: Invalid setting `server\.port` \(from env PORT\): expected an integer from 0 to 65535, got "abc"/);
});

test('with REDIS_URL down at start-up the server still starts, and /health says 503', async (t) => {
  const server = spawnServer({ REDIS_URL: `redis://127.0.0.1:${await getPort()}` });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  const health = await client.get(`${base}/health`);
  t.is(health.statusCode, 503);
  t.is((await client.get(`${base}/api/x`)).statusCode, 503);
  server.child.kill('SIGTERM');
  t.is(await server.exited, 0);
});
