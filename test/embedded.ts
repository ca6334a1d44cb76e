import { readdir } from 'node:fs/promises';
import test from 'ava';
import getPort from 'get-port';
import { tempDir } from './helpers/tmp.js';
import { Redis } from 'ioredis';
import { EmbeddedRedisError } from '../src/errors.js';
import { ensureRedisServer, INSTALL_HELP, redisAnswers, startRedisServer } from '../src/redis/embedded.js';
import { redisServerBinary } from './helpers/redis.js';

test('the embedded redis-server runs AOF with appendfsync everysec and keeps data across restarts', async (t) => {
  const dir = await tempDir(t);
  const binary = await redisServerBinary();
  const port = await getPort({ host: '127.0.0.1' });
  const options = { binary, port, dir, appendfsync: 'everysec' as const, startTimeoutMs: 10_000 };

  const first = await startRedisServer(options);
  const client = new Redis(first.url, { lazyConnect: true });
  await client.connect();
  t.deepEqual(await client.config('GET', 'appendonly'), ['appendonly', 'yes']);
  t.deepEqual(await client.config('GET', 'appendfsync'), ['appendfsync', 'everysec']);
  t.deepEqual(await client.config('GET', 'bind'), ['bind', '127.0.0.1'], 'reachable from this machine only');
  await client.zincrby('hits', 3, '/api/kept');
  client.disconnect();
  await first.stop();
  await first.stop(); // safe to call twice
  t.false(await redisAnswers(port));
  t.true((await readdir(dir)).includes('appendonlydir'));

  const second = await startRedisServer(options);
  t.teardown(() => second.stop());
  const again = new Redis(second.url);
  t.is(await again.zscore('hits', '/api/kept'), '3');
  again.disconnect();
});

test('a port that is taken fails with redis-server\'s own reason', async (t) => {
  const dir = await tempDir(t);
  const binary = await redisServerBinary();
  const port = await getPort({ host: '127.0.0.1' });
  const holder = await startRedisServer({ binary, port, dir, appendfsync: 'everysec', startTimeoutMs: 10_000 });
  t.teardown(() => holder.stop());
  // The holder answers on that port, but it is not the new child: the start must still fail.
  const other = await tempDir(t);
  await t.throwsAsync(startRedisServer({ binary, port, dir: other, appendfsync: 'everysec', startTimeoutMs: 5000 }), {
    instanceOf: EmbeddedRedisError,
    message: /did not start on port \d+[\s\S]*Address already in use/,
  });
});

test('nothing listening means redisAnswers is false', async (t) => {
  t.false(await redisAnswers(await getPort({ host: '127.0.0.1' })));
});

test('without redis-server and without apt, the error says exactly how to get it', async (t) => {
  const error = await t.throwsAsync(ensureRedisServer(() => {}, { searchPath: '/nonexistent', install: false }), { instanceOf: EmbeddedRedisError });
  t.is(error?.message, INSTALL_HELP);
  t.regex(INSTALL_HELP, /apt-get install -y redis-server/);
  t.regex(INSTALL_HELP, /docker compose up/);
  t.regex(INSTALL_HELP, /REDIS_URL=/);
});
