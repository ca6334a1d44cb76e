// createServices owns every service's lifecycle: after close(), nothing a service added is left
// on the Redis client, and no timer it started is still alive; twenty apps closed on one client
// leave the process with no more resources than before the first.
import { createHook } from 'node:async_hooks';
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import got from 'got';
import { pino } from 'pino';
import { createApp } from '../src/app.js';
import { createHttpServer } from '../src/http.js';
import { RedisConnection } from '../src/redis/connection.js';
import { storeFigures } from '../src/hits/store.js';
import { createServices } from '../src/services.js';
import { parseSettings } from '../src/settings.js';
import { defaultSettingsJson, sharedRedis } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Every listener on the client, by event: what a service could forget to remove. */
const listenersOf = (emitter: NodeJS.EventEmitter) => Object.fromEntries(emitter.eventNames().map((name) => [String(name), emitter.listenerCount(name)]));

/**
 * Every Timeout our own code (src/) starts from now on, unref'd ones included (the event loop's
 * list of active handles leaves those out), until it is cleared or has fired: id → its stack.
 * Those of Node's HTTP date cache and of ioredis's command timeouts are theirs, not a service's.
 */
function srcTimers(t: ExecutionContext): Map<number, string> {
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
  return alive;
}

/** The process's active resources (sockets, servers, timers, …), counted by type. */
function resourceCounts(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1;
  return counts;
}

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

  // Every Timeout src/ starts from here until close().
  const alive = srcTimers(t);

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
  // The figures say, when this fails, whether the hit was still pending or lost its way.
  for (const [i, store] of services.stores.entries()) t.is(await store.hitsOf('/api/services'), 1, `the last flush happened before the stop (store ${i}: ${JSON.stringify(storeFigures([store]))})`);
  await eventually(() => alive.size === 0, { timeoutMs: 30_000, what: `every timer to be gone; left:\n${[...alive.values()].join('\n\n')}` });
  t.is(alive.size, 0);
  const doomed = await redis.client.keys(`${settings.redis.keyPrefix}*`);
  if (doomed.length > 0) await redis.client.del(...doomed);
});

// Serial: it measures the whole process (its resources, every src/ timer), so no other test may
// run beside it. AVA runs serial tests before the concurrent ones.
test.serial('closing 20 apps on one shared client releases every listener, src/ timer and process resource they took', async (t) => {
  t.timeout(300_000);
  const APPS = 20;
  const BROWSER = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36';
  const json = defaultSettingsJson();
  json.redis.url = (await sharedRedis()).url;
  json.redis.keyPrefix = `test:services-20:${Date.now()}:`;
  json.server.host = '127.0.0.1';
  // Every optional part on, in every app: write-behind's interval, the bots' store, visitors.
  json.writeBehind = { enabled: true, flushIntervalMs: 20 };
  json.api.bots = 'separate';
  json.analytics.visitors = true;
  const settings = parseSettings(json);
  const redis = new RedisConnection({ url: settings.redis.url, commandTimeoutMs: 30_000, connectTimeoutMs: 30_000 });
  await redis.connect();
  t.teardown(() => redis.close());
  t.teardown(async () => {
    const doomed = await redis.client.keys(`${settings.redis.keyPrefix}*`);
    if (doomed.length > 0) await redis.client.del(...doomed);
  });
  // The test's own client: no keep-alive, so its sockets are not the apps' to close.
  const agent = new Agent({ keepAlive: false });
  t.teardown(() => agent.destroy());

  // 20 apps on one client is this test's doing (an app owns its client): each app's ledgers listen
  // for 'close', more than the 10 past which node warns of a leak, so the bound is raised here.
  redis.client.setMaxListeners(10 + 4 * APPS);
  const listenersBefore = listenersOf(redis.client);
  // Taken inside eventually, as the check after is: its own deadline timer counts in both.
  const resourcesBefore = await eventually(() => resourceCounts());
  const alive = srcTimers(t);

  const apps = [];
  for (let i = 0; i < APPS; i++) {
    const services = createServices(settings, redis, { logger: pino({ level: 'silent' }) });
    const server = createHttpServer(createApp(services), settings.server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    apps.push({ services, server, path: `/api/services/app${i}` });
    const hit = await got.get(`${url}${apps[i]!.path}`, { retry: { limit: 0 }, throwHttpErrors: false, agent: { http: agent }, headers: { 'user-agent': BROWSER } });
    t.is(hit.statusCode, 200, `app ${i}: ${hit.body}`);
  }
  t.true(Object.values(listenersOf(redis.client)).reduce((a, b) => a + b, 0) > Object.values(listenersBefore).reduce((a, b) => a + b, 0), 'the apps listen on the client');

  // server.ts's order, app by app: load tests, live feeds, the HTTP server, then the services.
  for (const { services, server } of apps) {
    await services.stopJobs();
    services.closeStreams();
    const closed = new Promise((resolve) => server.close(resolve));
    server.closeAllConnections();
    await closed;
    await services.close();
  }
  for (const { services, path } of apps) t.is(await services.store.hitsOf(path), 1, `${path}: flushed before the stop`);

  t.deepEqual(listenersOf(redis.client), listenersBefore, 'every listener the apps added to the shared client is gone');
  await eventually(() => {
    if (alive.size > 0) throw new Error(`${alive.size} left:\n${[...alive.values()].join('\n\n')}`);
    return true;
  }, { timeoutMs: 60_000, what: 'every src/ timer to be gone' });
  // Sockets close asynchronously: poll, and name what is still over the count when time runs out.
  await eventually(() => {
    const now = resourceCounts();
    const extra = Object.entries(now).filter(([type, count]) => count > (resourcesBefore[type] ?? 0));
    if (extra.length > 0) throw new Error(`more than before: ${extra.map(([type, count]) => `${type} ${count} (was ${resourcesBefore[type] ?? 0})`).join(', ')}`);
    return true;
  }, { timeoutMs: 60_000, what: 'the active resources to be back to those before the first app' });
  t.pass();
});
