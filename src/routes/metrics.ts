// The Prometheus scrape endpoint; what it exposes is defined in ../metrics.ts.
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { Metrics } from '../metrics.js';

export interface MetricsDeps {
  metrics: Metrics;
  reader: Middleware;
}

export function mount(router: Router, { metrics, reader }: MetricsDeps): void {

  // GET /metrics
  // Prometheus text exposition (0.0.4): HTTP requests, hits, Redis, load tests, Node process.
  // With server.workers > 1, every worker's metrics summed, whichever worker answers.
  //   200 text/plain; version=0.0.4
  //   401 with auth.protectStats, the admin token missing or wrong
  //   503 with server.workers > 1, the other workers' metrics did not arrive in time
  router.get('/metrics', reader, async (ctx) => {
    const text = await metrics.scrape();
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Type', metrics.contentType);
    ctx.body = text;
  });
}
