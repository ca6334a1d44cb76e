// Liveness of the server and its Redis.
import { z } from 'zod';
import { storeFigures } from '../hits/store.js';
import type { Services } from '../services.js';
import { route, type RouteDeclaration } from './declare.js';

const count = z.int().min(0);

// unresolvedHits: hits answered 503 whose command Redis may still have applied; the server takes
// back those it did as soon as Redis can tell, and counts them in retractedHits.
const figures = {
  unresolvedHits: count.meta({ description: 'Hits answered 503 whose Redis command may still have been applied.' }),
  retractedHits: count.meta({ description: 'Of those, hits that were applied and have been taken back.' }),
  pendingHits: count.meta({ description: 'Write-behind mode: acknowledged hits not yet known to be in Redis.' }),
};

const HealthUp = z.strictObject({
  status: z.literal('ok'),
  redis: z.strictObject({ status: z.literal('up'), latencyMs: z.number().min(0) }),
  ...figures,
}).meta({ id: 'HealthUp' });

const HealthDown = z.strictObject({
  status: z.literal('down'),
  redis: z.strictObject({
    status: z.enum(['down', 'out of memory', 'refusing writes']).meta({ description: '`down`: Redis does not answer `PING`. `out of memory`: it answers, but refused the last hits because it reached `maxmemory` (OOM) and took no write since; `refusing writes`: likewise for another refusal (READONLY, CLUSTERDOWN, …). Hits are answered 503 meanwhile.' }),
    error: z.string().meta({ description: 'Redis\'s error, first line only.' }),
  }),
  ...figures,
}).meta({ id: 'HealthDown' });

export function routes({ redis, clock, stores }: Services): RouteDeclaration[] {
  const currentFigures = () => {
    const { unresolved, retracted, pendingHits } = storeFigures(stores);
    return { unresolvedHits: unresolved, retractedHits: retracted, pendingHits };
  };
  return [
    route({
      operationId: 'getHealth',
      method: 'get',
      path: '/health',
      tags: ['health'],
      summary: 'Liveness of the server and its Redis',
      auth: 'public',
      responses: {
        200: { description: 'Redis answers `PING`.', content: { 'application/json': HealthUp } },
        503: { description: 'Redis does not answer, or refuses the hits\' writes (out of memory).', content: { 'application/json': HealthDown } },
      },
      handler: async (ctx) => {
        ctx.set('Cache-Control', 'no-store');
        const started = clock.now();
        try {
          await redis.client.ping();
          const latencyMs = Math.round((clock.now() - started) * 1000) / 1000;
          // Redis answers PING when it is out of memory, but refuses every hit. Whichever store saw
          // the refusal says so (with api.bots "separate", only bots may have written lately); a
          // small write checks again each time.
          const refusal = (await Promise.all(stores.map((one) => one.writeRefusal()))).find((found) => found !== undefined);
          if (refusal) {
            ctx.status = 503;
            ctx.body = { status: 'down', redis: { status: refusal.reason === 'redis_oom' ? 'out of memory' : 'refusing writes', error: refusal.error }, ...currentFigures() };
            return;
          }
          ctx.body = { status: 'ok', redis: { status: 'up', latencyMs }, ...currentFigures() };
        } catch (error) {
          ctx.status = 503;
          ctx.body = { status: 'down', redis: { status: 'down', error: (error as Error).message }, ...currentFigures() };
        }
      },
    }),
  ];
}
