// createApp(deps) builds the Koa app: middleware order and route mounting. It never listens.
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { randomSeed, systemClock, type Clock, type SeedSource } from './clock.js';
import { VisitorHasher } from './analytics/visitors.js';
import { requireAdmin, requireReader } from './auth.js';
import { clientIp } from './clientip.js';
import { errorHandler } from './errors.js';
import { limitUrlLength, requireHost } from './limits.js';
import { createMetrics } from './metrics.js';
import { requestContext } from './logger.js';
import { rateLimits } from './ratelimit.js';
import { HitStore, storeSettings } from './hits/store.js';
import { JobManager } from './loadgen/jobs.js';
import { executeInWorker, type ExecuteLoad } from './loadgen/thread.js';
import { createShardKeys, type Keys } from './redis/keys.js';
import { loadScripts } from './redis/scripts.js';
import type { RedisConnection } from './redis/connection.js';
import { EventLog } from './analytics/events.js';
import { TrafficSampler } from './analytics/traffic.js';
import * as api from './routes/api.js';
import * as docs from './routes/docs.js';
import * as events from './routes/events.js';
import * as health from './routes/health.js';
import * as loadtest from './routes/loadtest.js';
import * as metricsRoute from './routes/metrics.js';
import * as stats from './routes/stats.js';
import * as dashboard from './routes/dashboard.js';
import * as stream from './routes/stream.js';
import type { Settings } from './settings.js';

export interface AppDeps {
  settings: Readonly<Settings>;
  redis: RedisConnection;
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

export interface HitcounterApp extends Koa {
  /** Cancels this replica's running load tests and waits until they are recorded. */
  stopJobs(): Promise<void>;
  /** Write-behind mode: flushes every acknowledged hit to Redis (up to timeoutMs). */
  drain(timeoutMs: number): Promise<void>;
  /** Ends every open /stats/stream response, so that closing the server does not wait on them. */
  closeStreams(): void;
}

/** Error codes of a response whose client closed the connection before it was complete. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'EPIPE', 'ECONNRESET']);

export function createApp(deps: AppDeps): HitcounterApp {
  const { settings, redis, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const shards = createShardKeys({ prefix: settings.redis.keyPrefix, hits: settings.redis.key }, settings.redis.shards);
  // Shard 0's keys also name what is not sharded (jobs, rate limits, salts).
  const keys = shards[0]!;
  const scripts = loadScripts(redis.client);
  const metrics = createMetrics(redis.client, { cacheMs: settings.metrics.cacheMs });
  const visitors = settings.analytics.visitors ? new VisitorHasher(redis.client, keys) : undefined;
  // api.bots "separate": bots' hits go to a ranking of their own (`<key>:bots`, with its own
  // buckets and events), counted as exactly as anyone's; GET /stats?bots=1 reads it. Each store's
  // reset leaves the other's family to it.
  const botShards = settings.api.bots === 'separate' ? createShardKeys({ prefix: settings.redis.keyPrefix, hits: `${settings.redis.key}:bots` }, settings.redis.shards) : [];
  const inFamilyOf = (family: readonly Keys[]) => (key: string) => family.some((shard) => shard.inFamily(key));
  const newStore = (family: Keys[], resetSkips: (key: string) => boolean) => new HitStore({
    redis: redis.client,
    keys: family[0]!,
    shards: family,
    scripts,
    clock,
    logger,
    metrics: metrics.hitStore,
    visitors,
    resetSkips,
    ...storeSettings(settings),
  });
  const store = newStore(shards, inFamilyOf(botShards));
  const bots = botShards.length > 0 ? newStore(botShards, inFamilyOf(shards)) : undefined;
  const stores = bots ? [store, bots] : [store];
  metrics.watchStores(stores);
  const jobs = new JobManager({
    redis: redis.client,
    keys,
    scripts,
    store,
    clock,
    execute: metrics.timeLoad(deps.executeLoad ?? executeInWorker),
    logger,
    settings: settings.loadtest,
  });

  // Not Koa's proxy option: it believes X-Forwarded-* from any peer. clientIp below resolves
  // ctx.ip from server.trustedProxies only.
  const app = new Koa({ proxy: false });
  const admin = requireAdmin(deps.adminToken);
  const reader = requireReader(deps.adminToken, settings.auth.protectStats);
  // Errors are answered by errorHandler; this only reports failures after the response began,
  // such as a stream that breaks midway. A client that hangs up mid-answer is its own business
  // (debug); anything else is worth a warning. With a listener of its own, Koa does not print
  // errors to stderr itself (app.silent would only matter without one).
  app.on('error', (error: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    const log = ctx?.state.log ?? logger;
    if (CLIENT_GONE.has(error.code ?? '')) log.debug({ err: error }, 'client went away before the answer was complete');
    else log.warn({ err: error }, 'response failed after it started');
  });
  app.use(clientIp(settings.server));
  app.use(requestContext(logger));
  app.use(metrics.http);
  app.use(errorHandler());
  app.use(requireHost());
  app.use(limitUrlLength(settings.server.maxUrlBytes));
  const loadgenSecret = deps.loadgenSecret ?? randomUUID();
  app.use(rateLimits({ redis: redis.client, keys, limits: settings.rateLimits, loadgenSecret }));

  // /api/* has a router of its own, first: a hit is matched against one route, not against every
  // route of the product (the main router tests each of its layers for every request).
  const apiRouter = new Router({ sensitive: true });
  api.mount(apiRouter, { store, bots, clock, visitors, hashVisitorsLater: settings.writeBehind.enabled, api: settings.api, events: settings.events });
  app.use(apiRouter.routes());

  const router = new Router({ sensitive: true });
  stats.mount(router, { store, bots, clock, admin, reader });
  loadtest.mount(router, { settings, jobs, seedSource: deps.seedSource ?? randomSeed, admin, reader, loadgenSecret });
  events.mount(router, { log: new EventLog(redis.client, shards.map((shard) => shard.events)), enabled: settings.events.enabled, reader });
  health.mount(router, { redis, clock, stores });
  docs.mount(router);
  const traffic = new TrafficSampler({ redis: redis.client, shards, clock });
  stream.mount(router, { traffic, reader });
  dashboard.mount(router);
  metricsRoute.mount(router, { metrics, reader });

  app.use(router.routes());
  // Sets Allow and 405/501 on a known path with an unknown method; errorHandler words the error.
  app.use(router.allowedMethods());
  return Object.assign(app, { stopJobs: () => jobs.cancelAll(), drain: async (timeoutMs: number) => { await Promise.all(stores.map((one) => one.drain(timeoutMs))); }, closeStreams: () => traffic.close() });
}
