// createServices builds every service the app uses, once, and owns their lifecycle: close() stops
// them in order, and each removes the timers and listeners it added. server.ts, the tests and the
// bench start and stop through this and createApp (app.ts), which only builds middleware and routes.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { EventLog } from './analytics/events.js';
import { TrafficSampler } from './analytics/traffic.js';
import { VisitorHasher } from './analytics/visitors.js';
import { randomSeed, systemClock, type Clock, type SeedSource } from './clock.js';
import { HitStore, storeSettings } from './hits/store.js';
import { JobManager } from './loadgen/jobs.js';
import { GeneratorThreads, type ExecuteLoad } from './loadgen/thread.js';
import { createMetrics, type Metrics } from './metrics.js';
import type { RedisConnection } from './redis/connection.js';
import { botsRanking, globalKeys, shardKeys, type GlobalKeys, type ShardKeys } from './redis/keys.js';
import { loadScripts, type Scripts } from './redis/scripts.js';
import type { Settings } from './settings.js';
import { createHitCounter, type HitCounter } from './hits/count-hit.js';

export interface ServiceDeps {
  logger: Logger;
  clock?: Clock;
  seedSource?: SeedSource;
  /** Runs a load test; a worker thread by default. */
  executeLoad?: ExecuteLoad;
  /** The admin token (see auth.ts); undefined: admin endpoints answer loopback clients only. */
  adminToken?: string;
  /**
   * What the built-in load generator sends to pass the rate limits (see ratelimit.ts). It must be
   * the same in every process that shares the port (node:cluster workers); default: a new one.
   */
  loadgenSecret?: string;
}

export interface Services {
  readonly settings: Readonly<Settings>;
  readonly redis: RedisConnection;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly seedSource: SeedSource;
  readonly adminToken: string | undefined;
  readonly loadgenSecret: string;
  /** The keys that exist once (jobs, rate limits, salts, the window budget, the product's pattern). */
  readonly keys: GlobalKeys;
  /** Each shard's keys of the ranking (redis.key), shard i at index i. */
  readonly shards: readonly ShardKeys[];
  readonly scripts: Scripts;
  readonly metrics: Metrics;
  /** Absent when analytics.visitors is off. */
  readonly visitors: VisitorHasher | undefined;
  readonly store: HitStore;
  /** api.bots "separate": bots' hits, in a ranking of their own. */
  readonly bots: HitStore | undefined;
  readonly stores: readonly HitStore[];
  readonly jobs: JobManager;
  readonly traffic: TrafficSampler;
  readonly events: EventLog;
  /** Counts one offered hit from any door (/api/*, pixel, badge, trackers), with the controls they share. */
  readonly counter: HitCounter;
  /** Cancels this replica's running load tests and waits until they are recorded. */
  stopJobs(): Promise<void>;
  /** Ends every open /stats/stream response, so that closing the HTTP server does not wait on them. */
  closeStreams(): void;
  /** Write-behind: flushes every acknowledged hit to Redis (up to timeoutMs). */
  drain(timeoutMs: number): Promise<void>;
  /**
   * Stops everything, in order: load tests and the generator's idle threads, live feeds,
   * write-behind's last flush, then the stores' timers and listeners. The Redis connection is the
   * caller's. Safe to call twice.
   */
  close(): Promise<void>;
}

export function createServices(settings: Readonly<Settings>, redis: RedisConnection, deps: ServiceDeps): Services {
  const { logger } = deps;
  const clock = deps.clock ?? systemClock;
  const keys = globalKeys(settings.redis.keyPrefix);
  const shards = shardKeys({ prefix: settings.redis.keyPrefix, hits: settings.redis.key }, settings.redis.shards);
  const scripts = loadScripts(redis.client);
  const metrics = createMetrics(redis.client, { cacheMs: settings.metrics.cacheMs });
  const visitors = settings.analytics.visitors ? new VisitorHasher(redis.client, keys) : undefined;
  // api.bots "separate": bots' hits go to a ranking of their own (`<key>:bots`, with its own
  // buckets and events), counted as exactly as anyone's; GET /stats?bots=1 reads it. Each store's
  // reset leaves the other's family to it.
  const botShards = settings.api.bots === 'separate' ? shardKeys({ prefix: settings.redis.keyPrefix, hits: botsRanking(settings.redis.key) }, settings.redis.shards) : [];
  const inFamilyOf = (family: readonly ShardKeys[]) => (key: string) => family.some((shard) => shard.inFamily(key));
  const newStore = (family: ShardKeys[], resetSkips: (key: string) => boolean) => new HitStore({
    redis: redis.client, keys, shards: family, scripts, clock, logger, metrics: metrics.hitStore, visitors, resetSkips,
    ...storeSettings(settings),
  });
  const store = newStore(shards, inFamilyOf(botShards));
  const bots = botShards.length > 0 ? newStore(botShards, inFamilyOf(shards)) : undefined;
  const stores = bots ? [store, bots] : [store];
  metrics.watchStores(stores);
  const generator = deps.executeLoad ? undefined : new GeneratorThreads(settings.loadtest.keepWarmMs);
  const jobs = new JobManager({
    redis: redis.client, keys, scripts, store, clock, logger, settings: settings.loadtest,
    execute: metrics.timeLoad(deps.executeLoad ?? generator!.execute),
  });
  const traffic = new TrafficSampler({ redis: redis.client, shards, clock });

  const drain = async (timeoutMs: number) => { await Promise.all(stores.map((one) => one.drain(timeoutMs))); };
  let closing: Promise<void> | undefined;
  return {
    settings, redis, logger, clock, keys, shards, scripts, metrics, visitors, store, bots, stores, jobs, traffic,
    seedSource: deps.seedSource ?? randomSeed,
    adminToken: deps.adminToken,
    loadgenSecret: deps.loadgenSecret ?? randomUUID(),
    events: new EventLog(redis.client, shards.map((shard) => shard.events)),
    counter: createHitCounter({ settings, store, bots, clock, visitors }),
    stopJobs: () => jobs.cancelAll(),
    closeStreams: () => traffic.close(),
    drain,
    close() {
      closing ??= (async () => {
        await jobs.cancelAll().catch((error: unknown) => logger.error({ err: error }, 'could not record cancelled load tests'));
        await generator?.close();
        traffic.close();
        await drain(settings.server.shutdownTimeoutMs);
        for (const one of stores) one.close();
      })();
      return closing;
    },
  };
}
