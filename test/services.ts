// createServices owns every service's lifecycle: after close(), nothing a service added is left
// on the Redis client, and no timer it started is still alive.
import { createHook } from 'node:async_hooks';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import got from 'got';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import { RedisConnection } from '../src/redis/connection.js';
import { createServices } from '../src/services.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson, sharedRedis } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every listener on the client, by event: what a service could forget to remove. */
const listenersOf = (emitter: NodeJS.EventEmitter) => Object.fromEntries(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]));

test('closing the services leaves no listener on the Redis client and no timer alive, and is safe twice', async (t) => {
  const json = defaultSettingsJson();
  json.redis.url = (await sharedRedis()).url;
  json.redis.keyPrefix = `test:services:${Date.now()}:`;
  // Every optional part on: write-behind's interval, the bots' second store, buckets, visitors.
  json.writeBehind = { enabled: true, flushIntervalMs: 20 };
  json.api.bots = 'separate';
  const settings = parseSettings(json);
  const redis = new RedisConnection({ url: settings.redis.url, commandTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
  await redis.connect();
  t.teardown(() => redis.close());
  const before = listenersOf(redis.client);

  // Every Timeout our own code (src/) starts from here until close(), unref'd ones included (the
  // event loop's list of active handles leaves those out), until it is cleared or has fired.
  // Those of Node's HTTP date cache and of ioredis's command timeouts are theirs, not a service's.
  const alive = new Map<number, string>();
  const hook = createHook({
    init(id, type) {
      if (type !== 'Timeout') return;
      const stack = new Error().stack ?? '';
      const caller = stack.split('\n').slice(1).find((line) => !/\(node:|\bnode:internal|async_hooks|test\/services\.ts/.test(line));
      if (caller?.includes(SRC)) alive.set(id, stack);
    },
    destroy(id) { alive.delete(id); },
  }).enable();
  t.teardown(() => hook.disable());

  const services = createServices(settings, redis, { logger: pino({ level: 'silent' }) });
  const server = createServer(createApp(services).callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = got.extend({ prefixUrl: url, retry: { limit: 0 }, throwHttpErrors: false, agent: {} });
  for (const userAgent of ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36', 'Googlebot/2.1']) t.is((await client.get('api/services', { headers: { 'user-agent': userAgent } })).statusCode, 200);
  t.true(Object.values(listenersOf(redis.client)).reduce((a, b) => a + b, 0) > Object.values(before).reduce((a, b) => a + b, 0), 'the stores listen on the client');
  await new Promise((resolve) => server.close(resolve));

  await services.close();
  await services.close();
  t.deepEqual(listenersOf(redis.client), before);
  for (const store of services.stores) t.is(await store.hitsOf('/api/services'), 1, 'the last flush happened before the stop');
  await eventually(() => alive.size === 0, { timeoutMs: 30_000, what: `every timer to be gone; left:\n${[...alive.values()].join('\n\n')}` });
  t.is(alive.size, 0);
  const doomed = await redis.client.keys(`${settings.redis.keyPrefix}*`);
  if (doomed.length > 0) await redis.client.del(...doomed);
});
