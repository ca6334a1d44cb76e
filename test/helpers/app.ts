// An app on an ephemeral loopback port with its own key prefix, torn down (keys included)
// when the test ends.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import got, { type Got } from 'got';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createApp } from '../../src/app.js';
import { createHttpServer } from '../../src/http.js';
import type { HitStore } from '../../src/hits/store.js';
import { RedisConnection } from '../../src/redis/connection.js';
import type { GlobalKeys, ShardKeys } from '../../src/redis/keys.js';
import { createServices, type ServiceDeps, type Services } from '../../src/services.js';
import { parseSettings, SETTINGS_FILE, type Settings } from '../../src/settings.js';
import { checkContract } from './contract.js';
import { startRedis, sumOfScores, type TestRedis } from './redis.js';

export const defaultSettingsJson = (): Settings => JSON.parse(readFileSync(SETTINGS_FILE, 'utf8')) as Settings;

/**
 * The load generator's request timeout in tests: longer than any test may run. A request the
 * server counted but the generator gave up on (10 s by default, easily outlasted on a busy machine
 * running load tests side by side) would show as an error and break every exact count; a request
 * that never comes back fails its test by the test's own timeout instead.
 */
export const PATIENT_LOADGEN_MS = 600_000;

/**
 * Redis's command timeout in tests, unless a test sets its own (the fault tests do, to provoke
 * timeouts). A command that merely waits behind a busy machine (a million-row ZADD in the next
 * test file, busy loops on every core) must not become a 503 in a test that counts exactly.
 */
export const PATIENT_REDIS_MS = 30_000;

export interface TestApp {
  url: string;
  http: Got;
  settings: Readonly<Settings>;
  /** The keys that exist once (prefix, salts, jobs, window budget). */
  keys: GlobalKeys;
  /** Shard 0's keys of the ranking: the whole ranking's unless redis.shards > 1 (then see services.shards). */
  shard: ShardKeys;
  redis: RedisConnection;
  /** The app's own services (its store among them), for the tests' reads. */
  services: Services;
  store: HitStore;
  /** Sum of all hits under this app's key, over every shard. */
  totalHits(): Promise<number>;
}

type Tweak = (settings: Settings) => void;

export interface StartOptions {
  tweak?: Tweak;
  deps?: Partial<ServiceDeps>;
  /** Settings made whole elsewhere (a Redis Cluster's: see cluster.ts), used as they are. */
  settings?: Settings;
}

/** An app on the given Redis, or on this test file's shared Redis (see sharedRedis) without one. */
export async function startApp(t: ExecutionContext, options?: StartOptions): Promise<TestApp>;
export async function startApp(t: ExecutionContext, redisUrl: string, options?: StartOptions): Promise<TestApp>;
export async function startApp(t: ExecutionContext, urlOrOptions?: string | StartOptions, maybeOptions: StartOptions = {}): Promise<TestApp> {
  const redisUrl = typeof urlOrOptions === 'string' ? urlOrOptions : (await sharedRedis()).url;
  const options = typeof urlOrOptions === 'string' ? maybeOptions : urlOrOptions ?? {};
  const json = defaultSettingsJson();
  json.server.host = '127.0.0.1';
  json.server.port = 1; // unused: the test server listens on an ephemeral port
  json.redis.url = redisUrl;
  json.redis.keyPrefix = `test:${randomUUID()}:`;
  json.loadtest.requestTimeoutMs = PATIENT_LOADGEN_MS;
  json.redis.commandTimeoutMs = PATIENT_REDIS_MS;
  // Tests compare scrapes taken moments apart; one that tests the cache sets its own.
  json.metrics.cacheMs = 0;
  options.tweak?.(json);
  const settings = options.settings ?? parseSettings(json);

  const redis = new RedisConnection({ url: settings.redis.url, clusterNodes: settings.redis.cluster.nodes, commandTimeoutMs: settings.redis.commandTimeoutMs, connectTimeoutMs: settings.redis.connectTimeoutMs, name: 'hitcounter-test' });
  await redis.connect();
  const services = createServices(settings, redis, { logger: pino({ level: 'silent' }), ...options.deps });
  const server = createHttpServer(createApp(services), settings.server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // server.ts's order: load tests first (they send to this server), then the server, then the
  // services (write-behind's last flush, timers, listeners), then Redis.
  t.teardown(async () => {
    await services.stopJobs();
    services.closeStreams();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await services.close();
    // On a cluster KEYS would ask one node only: cluster tests' keys go with their cluster.
    if (redis.status === 'ready' && !redis.isCluster) {
      const doomed = await redis.client.keys(`${settings.redis.keyPrefix}*`);
      if (doomed.length > 0) await redis.client.del(...doomed);
    }
    await redis.close();
  });

  return {
    url,
    // Every response is checked against src/openapi.json (see contract.ts).
    http: got.extend({ prefixUrl: url, throwHttpErrors: false, retry: { limit: 0 }, responseType: 'json', hooks: { afterResponse: [checkContract] } }),
    settings,
    keys: services.keys,
    shard: services.shards[0]!,
    redis,
    services,
    store: services.store,
    totalHits: async () => (await Promise.all(services.shards.map((shard) => sumOfScores(redis.client, shard.hits)))).reduce((a, b) => a + b, 0),
  };
}

let fileRedis: Promise<TestRedis> | undefined;
// Registered while the test file loads (ava takes no hooks later); a no-op for a file that never used it.
test.after.always('stop the shared Redis', async () => { await (await fileRedis)?.stop(); });

/**
 * The Redis of this test file: started on first use, shared by the file's tests (each app has its
 * own key prefix), and stopped after the file's last test. Test files run in separate processes.
 */
export function sharedRedis(): Promise<TestRedis> {
  fileRedis ??= startRedis();
  return fileRedis;
}

/** A client of this file's Redis and a unique key prefix, whose keys go when the test ends: for tests of a module without an app. */
export async function prefixedRedis(t: ExecutionContext): Promise<{ redis: Redis; prefix: string }> {
  const redis = new Redis((await sharedRedis()).url);
  const prefix = `test:${randomUUID()}:`;
  t.teardown(async () => {
    const doomed = await redis.keys(`${prefix}*`);
    if (doomed.length > 0) await redis.del(...doomed);
    redis.disconnect();
  });
  return { redis, prefix };
}

type AppRun = (t: ExecutionContext, app: TestApp) => Promise<void> | void;

const appMacro = (options: StartOptions = {}) =>
  test.macro(async (t, run: AppRun) => {
    await run(t, await startApp(t, options));
  });

/**
 * got's withServer, for hitcounter: `test('…', withApp, async (t, app) => …)` gets an app on an
 * ephemeral port with a unique key prefix and its clients, torn down (keys included) after the
 * test. `withApp.using({ tweak, deps })` changes its settings or dependencies.
 */
// A copy, not Object.assign: ava freezes the macros it makes.
export const withApp = { ...appMacro(), using: (options: StartOptions) => appMacro(options) };
