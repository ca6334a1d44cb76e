import { Writable } from 'node:stream';
import test from 'ava';
import getPort from 'get-port';
import got from 'got';
import { createLogger } from '../src/logger.js';
import { startRedisServer } from '../src/redis/embedded.js';
import { startApp } from './helpers/app.js';
import { spawnServer } from './helpers/process.js';
import { redisServerBinary } from './helpers/redis.js';
import { tempDir } from './helpers/tmp.js';

const TOKEN = 'tok-9f8e7d6c5b4a';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk, _encoding, done) { lines.push(...String(chunk).split('\n').filter(Boolean)); done(); } });
  return { logger: createLogger('trace', stream), lines, text: () => lines.join('\n') };
}

test('every request gets an id, echoed in X-Request-Id and stamped on each of its log lines', async (t) => {
  const log = capture();
  const app = await startApp(t, { deps: { logger: log.logger } });
  const generated = await app.http.get('api/logged');
  t.regex(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  const given = await app.http.get('nope', { headers: { 'x-request-id': 'trace-123' } });
  t.is(given.headers['x-request-id'], 'trace-123', "a client's own id is kept");
  const hostile = await app.http.get('api/x', { headers: { 'x-request-id': 'bad id\twith junk' } });
  t.not(hostile.headers['x-request-id'], 'bad id\twith junk');

  const requestLines = log.lines.map((line) => JSON.parse(line) as { reqId?: string; url?: string; msg: string }).filter((line) => line.url !== undefined);
  t.true(requestLines.length >= 3);
  for (const line of requestLines) t.truthy(line.reqId, JSON.stringify(line));
  t.true(requestLines.some((line) => line.reqId === 'trace-123' && line.url === '/nope'));
});

test('tokens and passwords never reach the log', async (t) => {
  const log = capture();
  const app = await startApp(t, { deps: { logger: log.logger, adminToken: TOKEN } });
  await app.http.post('test/5', { headers: { authorization: `Bearer ${TOKEN}` } });
  await app.http.post('test/5', { headers: { authorization: `Bearer ${TOKEN}-wrong` } });
  await app.http.post('test/5', { headers: { authorization: `Basic ${Buffer.from(`me:${TOKEN}`).toString('base64')}` } });
  log.logger.info({ authorization: `Bearer ${TOKEN}`, headers: { authorization: TOKEN }, password: TOKEN, token: TOKEN }, 'a careless line');
  t.true(log.lines.length > 3);
  t.false(log.text().includes(TOKEN));
  t.false(log.text().includes(Buffer.from(`me:${TOKEN}`).toString('base64')));
  t.true(log.text().includes('[redacted]'));
});

test('the server process logs neither the admin token nor the Redis password, and works with requirepass', async (t) => {
  const dir = await tempDir(t);
  const password = 'redis-pass-5e6f7a';
  const redisPort = await getPort();
  const secured = await startRedisServer({ binary: await redisServerBinary(), port: redisPort, dir, appendfsync: 'everysec', startTimeoutMs: 10_000, password });
  t.teardown(() => secured.stop());
  const server = spawnServer({ REDIS_URL: `redis://:${password}@127.0.0.1:${redisPort}`, HITCOUNTER_ADMIN_TOKEN: TOKEN, LOG_LEVEL: 'trace' });
  t.teardown(() => { server.child.kill('SIGKILL'); });
  await server.waitFor(/hitcounter is listening/);
  const base = server.url();
  const url = base;
  t.deepEqual(await got(`${url}/api/secured`).json(), { path: '/api/secured', hits: 1 });
  t.is((await got.post(`${url}/test/5`, { headers: { authorization: `Bearer ${TOKEN}` } })).statusCode, 200);
  t.is((await got.post(`${url}/test/5`, { throwHttpErrors: false, headers: { authorization: `Bearer ${TOKEN}x` } })).statusCode, 401);
  server.child.kill('SIGTERM');
  await server.exited;
  t.regex(server.output(), /redis:\/\/\*\*\*@127\.0\.0\.1/);
  t.false(server.output().includes(TOKEN));
  t.false(server.output().includes(password));
});
