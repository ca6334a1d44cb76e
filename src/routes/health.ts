// Liveness of the server and its Redis.
import type Router from '@koa/router';
import type { Clock } from '../clock.js';
import type { RedisConnection } from '../redis/connection.js';

export interface HealthDeps {
  redis: RedisConnection;
  clock: Clock;
}

export function mount(router: Router, { redis, clock }: HealthDeps): void {
  // GET /health
  //   200 {"status": "ok", "redis": {"status": "up", "latencyMs": 0.21}}
  //   503 {"status": "down", "redis": {"status": "down", "error": "..."}}
  router.get('/health', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const started = clock.now();
    try {
      await redis.client.ping();
      const latencyMs = Math.round((clock.now() - started) * 1000) / 1000;
      ctx.body = { status: 'ok', redis: { status: 'up', latencyMs } };
    } catch (error) {
      ctx.status = 503;
      ctx.body = { status: 'down', redis: { status: 'down', error: (error as Error).message } };
    }
  });
}
