// The naive hit counter: Koa + @koa/router + one ioredis ZINCRBY per request, nothing else (no
// normalization, no exactness ledger, no analytics). It separates what the HTTP stack and one Redis
// round trip cost from what hitcounter's own guarantees cost.
import Router from '@koa/router';
import { Redis } from 'ioredis';
import Koa from 'koa';

const redis = new Redis(process.env.REDIS_URL);
const router = new Router();
router.all('/api{/*rest}', async (ctx) => {
  const hits = await redis.zincrby('bench:naive:hits', 1, ctx.path);
  ctx.body = { path: ctx.path, hits: Number(hits) };
});
router.get('/health', (ctx) => {
  ctx.body = { status: 'ok' };
});
const app = new Koa();
app.use(router.routes());
app.listen(Number(process.env.PORT), '127.0.0.1');
// Exits normally on SIGTERM so that node --cpu-prof writes its profile (npm run bench:profile -- --server bench/koa-naive.mjs).
process.on('SIGTERM', () => process.exit(0));
