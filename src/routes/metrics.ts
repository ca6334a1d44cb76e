// The Prometheus scrape endpoint; what it exposes is defined in ../metrics.ts.
import type { Services } from '../services.js';
import { route, type RouteDeclaration } from './declare.js';

export function routes({ metrics }: Services): RouteDeclaration[] {
  return [
    route({
      operationId: 'getMetrics',
      method: 'get',
      path: '/metrics',
      tags: ['metrics'],
      summary: 'Prometheus metrics',
      description: 'Prometheus text exposition format 0.0.4: HTTP requests, hits, Redis, load tests, the Node process. With `server.workers` > 1, every worker\'s metrics summed.',
      auth: 'reader',
      responses: {
        200: { description: 'The metrics.', content: { 'text/plain; version=0.0.4': { type: 'string', description: 'Prometheus text exposition format 0.0.4.' } } },
        503: { ref: 'ServiceUnavailable', description: 'With `server.workers` > 1: the other workers\' metrics did not arrive in time.' },
      },
      handler: async (ctx) => {
        const text = await metrics.scrape();
        ctx.set('Cache-Control', 'no-store');
        ctx.set('Content-Type', metrics.contentType);
        ctx.body = text;
      },
    }),
  ];
}
