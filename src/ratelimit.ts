// Rate limits per client IP and route group, kept in Redis so they hold across replicas
// (rate-limiter-flexible). Counting (/api/*) is unlimited by default: the counter must take load.
import type { Redis } from 'ioredis';
import type { Middleware } from 'koa';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { TooManyRequestsError } from './errors.js';
import { isLoopbackHost, LOADGEN_HEADER } from './loopback.js';
import type { GlobalKeys } from './redis/keys.js';
import type { Settings } from './settings.js';

export type RouteGroup = keyof Settings['rateLimits'];

// The router is not strict about trailing slashes (`/stats/` is `/stats`), and the reads include
// their variants (`/stats.csv`, `/stats/path/…`, `/stats/stream`, `/events…`): a limit must not
// be escaped by spelling a path another way.
const READS_AND_WRITES = /^\/(?:stats|events|test)(?:[./]|$)/;

export function routeGroup(method: string, path: string): RouteGroup | undefined {
  // OPTIONS reads nothing and writes nothing: a preflight must not spend a client's budget.
  if (method === 'OPTIONS') return undefined;
  if (path === '/api' || path.startsWith('/api/')) return 'api';
  if (READS_AND_WRITES.test(path)) return method === 'GET' || method === 'HEAD' ? 'read' : 'write';
  return undefined;
}

interface Window {
  limiter: RateLimiterRedis;
  points: number;
  durationSeconds: number;
}

export interface RateLimitDeps {
  redis: Redis;
  keys: GlobalKeys;
  limits: Settings['rateLimits'];
  /** Requests from loopback carrying this in LOADGEN_HEADER are the server's own load tests. */
  loadgenSecret: string;
}

export function rateLimits({ redis, keys, limits, loadgenSecret }: RateLimitDeps): Middleware {
  const groups = new Map<RouteGroup, Window[]>();
  for (const [group, windows] of Object.entries(limits) as Array<[RouteGroup, Settings['rateLimits'][RouteGroup]]>) {
    groups.set(group, windows.map(({ points, durationSeconds }) => ({
      points,
      durationSeconds,
      limiter: new RateLimiterRedis({ storeClient: redis, keyPrefix: keys.rateLimit(group, durationSeconds), points, duration: durationSeconds }),
    })));
  }

  return async function rateLimit(ctx, next) {
    const group = routeGroup(ctx.method, ctx.path);
    const windows = group ? groups.get(group)! : [];
    if (windows.length === 0) return next();
    if (ctx.get(LOADGEN_HEADER) === loadgenSecret && isLoopbackHost(ctx.ip)) return next();

    // Every window is charged. The headers describe the window that refused (the longest wait),
    // or else the one with the least left.
    const results: Array<{ window: Window; result: RateLimiterRes; refused: boolean }> = [];
    for (const window of windows) {
      try {
        results.push({ window, result: await window.limiter.consume(ctx.ip), refused: false });
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) {
          // Redis is unreachable: let the request through rather than fail it for the limiter's sake.
          ctx.state.log.debug({ err: error }, 'rate limiter unavailable; request let through');
          return next();
        }
        results.push({ window, result: error, refused: true });
      }
    }
    const refusals = results.filter((r) => r.refused);
    const refused = refusals.length > 0;
    const tightest = refused
      ? refusals.reduce((a, b) => (b.result.msBeforeNext > a.result.msBeforeNext ? b : a))
      : results.reduce((a, b) => (b.result.remainingPoints < a.result.remainingPoints ? b : a));
    const { window, result } = tightest;
    const resetSeconds = Math.ceil(result.msBeforeNext / 1000);
    const headers = {
      'RateLimit-Limit': String(window.points),
      'RateLimit-Remaining': String(Math.max(0, result.remainingPoints)),
      'RateLimit-Reset': String(resetSeconds),
      'RateLimit-Policy': windows.map((w) => `${w.points};w=${w.durationSeconds}`).join(', '),
    };
    if (refused) {
      const error = new TooManyRequestsError(`Rate limit reached: ${window.points} ${group} requests per ${window.durationSeconds} s; try again in ${resetSeconds} s`, resetSeconds);
      Object.assign(error.headers, headers);
      throw error;
    }
    ctx.set(headers);
    return next();
  };
}
