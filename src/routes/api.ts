// The counting endpoint. Every method but OPTIONS counts one hit.
import type Router from '@koa/router';
import { visitorIdentity, type VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import { normalizePath } from '../hits/normalize.js';
import type { HitStore } from '../hits/store.js';

export interface ApiDeps {
  store: HitStore;
  clock: Clock;
  /** Absent when analytics.visitors is off. */
  visitors?: VisitorHasher;
  /** Write-behind: the store hashes visitors when it flushes, so that a hit never waits on Redis for the salt. */
  hashVisitorsLater?: boolean;
}

const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';
// Event fields are kept short: the stream's memory is bounded by entries, not by what clients send.
const FIELD_MAX = 512;

export function mount(router: Router, { store, clock, visitors, hashVisitorsLater = false }: ApiDeps): void {
  // ANY /api/<path>
  // Counts one hit for the normalized path and answers with its new total.
  //   200 {"path": "/api/hello/world", "hits": 3}
  //   400 bad percent-encoding, invalid UTF-8, control character, ".." out of /api
  //   414 normalized path over 2048 bytes
  //   503 Redis unavailable: nothing was counted, retry after Retry-After
  // OPTIONS /api/<path>: 204 with Allow, counts nothing.
  router.all('/api{/*rest}', async (ctx) => {
    if (ctx.method === 'OPTIONS') {
      ctx.set('Allow', ALLOW);
      ctx.status = 204;
      return;
    }
    const path = normalizePath(ctx.url);
    const time = clock.now();
    const userAgent = ctx.get('User-Agent').slice(0, FIELD_MAX);
    const later = visitors !== undefined && hashVisitorsLater;
    const hits = await store.record({
      path,
      time,
      method: ctx.method,
      referrer: ctx.get('Referer').slice(0, FIELD_MAX),
      userAgent,
      visitor: visitors && !later ? await visitors.hash(time, ctx.ip, userAgent) : '',
      unhashedVisitor: later ? visitorIdentity(ctx.ip, userAgent) : undefined,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { path, hits };
  });
}
