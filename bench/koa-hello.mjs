// The ceiling for a Koa server on this machine: Koa's hello world, nothing else.
import Koa from 'koa';

const app = new Koa();
app.use((ctx) => {
  ctx.body = 'Hello World';
});
app.listen(Number(process.env.PORT), '127.0.0.1');
// Exits normally on SIGTERM so that node --cpu-prof writes its profile (npm run bench:profile -- --server bench/koa-hello.mjs).
process.on('SIGTERM', () => process.exit(0));
