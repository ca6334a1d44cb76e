// createApp(deps) builds the Koa app: middleware order and route mounting. It never listens.
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import { randomSeed, systemClock, type Clock, type SeedSource } from './clock.js';
import { errorHandler } from './errors.js';
import { HitStore } from './hits/store.js';
import { seededIndexSource, type IndexSource } from './loadgen/paths.js';
import { runLoad } from './loadgen/runner.js';
import { createKeys } from './redis/keys.js';
import type { RedisConnection } from './redis/connection.js';
import * as api from './routes/api.js';
import * as health from './routes/health.js';
import * as loadtest from './routes/loadtest.js';
import * as stats from './routes/stats.js';
import type { Settings } from './settings.js';

export interface AppDeps {
  settings: Readonly<Settings>;
  redis: RedisConnection;
  logger: Logger;
  clock?: Clock;
  seedSource?: SeedSource;
  indexSource?: (seed: number) => IndexSource;
}

export function createApp(deps: AppDeps): Koa {
  const { settings, redis, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const indexSource = deps.indexSource ?? seededIndexSource;
  const keys = createKeys({ prefix: settings.redis.keyPrefix, hits: settings.redis.key });
  const store = new HitStore(redis.client, keys, settings.redis.statsPageSize);

  const app = new Koa();
  // Errors are answered by errorHandler; this only reports failures after the response began,
  // such as a stream that breaks midway.
  app.silent = true;
  app.on('error', (error) => logger.warn({ err: error }, 'response failed after it started'));
  app.use(errorHandler(logger));

  const router = new Router({ sensitive: true });
  api.mount(router, { store });
  stats.mount(router, { store, pageSize: settings.redis.statsPageSize });
  loadtest.mount(router, {
    settings,
    seedSource: deps.seedSource ?? randomSeed,
    runLoad: (options) => runLoad(options, { clock, indexSource }),
  });
  health.mount(router, { redis, clock });

  app.use(router.routes());
  // Sets Allow and 405/501 on a known path with an unknown method; errorHandler words the error.
  app.use(router.allowedMethods());
  return app;
}
