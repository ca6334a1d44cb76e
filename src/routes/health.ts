// Liveness of the server and its Redis.
import type Router from '@koa/router';
import type { Clock } from '../clock.js';
import type { HitStore } from '../hits/store.js';
import type { RedisConnection } from '../redis/connection.js';

export interface HealthDeps {
  redis: RedisConnection;
  clock: Clock;
  store: HitStore;
}

export function mount(router: Router, { redis, clock, store }: HealthDeps): void {
  // GET /health
  //   200 {"status": "ok", "redis": {"status": "up", "latencyMs": 0.21}, "unresolvedHits": 0, "retractedHits": 0, "pendingHits": 0}
  //   503 {"status": "down", "redis": {"status": "down", "error": "..."}, "unresolvedHits": 3, "retractedHits": 0, "pendingHits": 0}
  // unresolvedHits: hits answered 503 whose command Redis may still have applied; the server
  // takes back those it did as soon as Redis can tell, and counts them in retractedHits.
  // pendingHits: write-behind mode's acknowledged hits not yet known to be in Redis.
  router.get('/health', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const started = clock.now();
    try {
      await redis.client.ping();
      const latencyMs = Math.round((clock.now() - started) * 1000) / 1000;
      ctx.body = { status: 'ok', redis: { status: 'up', latencyMs }, unresolvedHits: store.unresolved, retractedHits: store.retracted, pendingHits: store.pendingHits };
    } catch (error) {
      ctx.status = 503;
      ctx.body = { status: 'down', redis: { status: 'down', error: (error as Error).message }, unresolvedHits: store.unresolved, retractedHits: store.retracted, pendingHits: store.pendingHits };
    }
  });
}
