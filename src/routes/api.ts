// The counting endpoint. Every method but OPTIONS counts one hit.
import type Router from '@koa/router';
import type { HitStore } from '../hits/store.js';
import { normalizePath } from '../hits/normalize.js';

export interface ApiDeps {
  store: HitStore;
}

const ALLOW = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

export function mount(router: Router, { store }: ApiDeps): void {
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
    const hits = await store.record(path);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { path, hits };
  });
}
