// Liveness of the server and its Redis.
import type Router from '@koa/router';
import type { Clock } from '../clock.js';
import { storeFigures, type HitStore } from '../hits/store.js';
import type { RedisConnection } from '../redis/connection.js';

export interface HealthDeps {
  redis: RedisConnection;
  clock: Clock;
  /** The hit stores (two with api.bots "separate"): their figures are summed. */
  stores: readonly HitStore[];
}

export function mount(router: Router, { redis, clock, stores }: HealthDeps): void {
  const figures = () => {
    const { unresolved, retracted, pendingHits } = storeFigures(stores);
    return { unresolvedHits: unresolved, retractedHits: retracted, pendingHits };
  };
  // GET /health
  //   200 {"status": "ok", "redis": {"status": "up", "latencyMs": 0.21}, "unresolvedHits": 0, "retractedHits": 0, "pendingHits": 0}
  //   503 {"status": "down", "redis": {"status": "down", "error": "..."}, "unresolvedHits": 3, "retractedHits": 0, "pendingHits": 0}
  //   503 {"status": "down", "redis": {"status": "out of memory", "error": "OOM command not allowed…"}, …}: Redis answers
  //       PING but refused the last hits (maxmemory reached); checked again with a small write each time
  // unresolvedHits: hits answered 503 whose command Redis may still have applied; the server
  // takes back those it did as soon as Redis can tell, and counts them in retractedHits.
  // pendingHits: write-behind mode's acknowledged hits not yet known to be in Redis.
  router.get('/health', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const started = clock.now();
    try {
      await redis.client.ping();
      const latencyMs = Math.round((clock.now() - started) * 1000) / 1000;
      // Redis answers PING when it is out of memory, but refuses every hit. Whichever store saw the
      // refusal says so (with api.bots "separate", only bots may have written lately).
      const refusal = (await Promise.all(stores.map((one) => one.writeRefusal()))).find((found) => found !== undefined);
      if (refusal) {
        ctx.status = 503;
        ctx.body = { status: 'down', redis: { status: refusal.reason === 'redis_oom' ? 'out of memory' : 'refusing writes', error: refusal.error }, ...figures() };
        return;
      }
      ctx.body = { status: 'ok', redis: { status: 'up', latencyMs }, ...figures() };
    } catch (error) {
      ctx.status = 503;
      ctx.body = { status: 'down', redis: { status: 'down', error: (error as Error).message }, ...figures() };
    }
  });
}
