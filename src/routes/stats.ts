// The ranking of every counted path, highest first.
import { Readable } from 'node:stream';
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { HitStore, Page, PathHits } from '../hits/store.js';
import { integerParam, rejectUnknown } from './params.js';

export interface StatsDeps {
  store: HitStore;
  pageSize: number;
  admin: Middleware;
  reader: Middleware;
}

const rowJson = ({ path, hits }: PathHits) => `{"path":${JSON.stringify(path)},"hits":${hits}}`;

/** Streams the ranking as one JSON array, a Redis page per chunk. */
async function* jsonArray(pages: AsyncGenerator<PathHits[]>): AsyncGenerator<string> {
  let first = true;
  yield '[';
  for await (const rows of pages) {
    yield (first ? '' : ',') + rows.map(rowJson).join(',');
    first = false;
  }
  yield ']';
}

export function mount(router: Router, { store, pageSize, admin, reader }: StatsDeps): void {
  // GET /stats?limit=&offset=
  // Every counted path with its hits, in `ZREVRANGE hits 0 -1 WITHSCORES` order.
  //   200 [{"path": "/api/a", "hits": 3}, ...]  X-Total-Count: distinct paths in all
  //   400 bad limit or offset, unknown parameter
  //   401 with auth.protectStats: admin token missing or wrong
  //   503 Redis unavailable
  router.get('/stats', reader, async (ctx) => {
    rejectUnknown(ctx.query, ['limit', 'offset']);
    const limit = integerParam('limit', ctx.query.limit, 1);
    const offset = integerParam('offset', ctx.query.offset, 0) ?? 0;
    const page: Page = { offset, limit };
    const total = await store.distinctPaths();
    ctx.set('X-Total-Count', String(total));
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'application/json';
    if (limit !== undefined && limit <= pageSize) {
      const rows: PathHits[] = [];
      for await (const chunk of store.ranking(page)) rows.push(...chunk);
      ctx.body = rows;
      return;
    }
    // Large answers stream, so a million paths never sit in memory as one array or string.
    ctx.body = Readable.from(jsonArray(store.ranking(page)));
  });

  // DELETE /stats   (admin)
  // Erases every count: the hits sorted set is deleted.
  //   204 done
  //   401 admin token missing or wrong; 403 no token configured and the client is not on loopback
  //   503 Redis unavailable
  router.delete('/stats', admin, async (ctx) => {
    await store.reset();
    ctx.status = 204;
  });
}
