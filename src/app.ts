// createApp(services) builds the Koa app: middleware order and route mounting, over the services
// createServices (services.ts) built and owns. It never listens.
import Router from '@koa/router';
import Koa from 'koa';
import { requireAdmin, requireReader } from './auth.js';
import { clientIp } from './clientip.js';
import { compression } from './compression.js';
import { cors } from './cors.js';
import { errorHandler } from './errors.js';
import { limitUrlLength, requireHost } from './limits.js';
import { requestContext } from './logger.js';
import { rateLimits } from './ratelimit.js';
import { mountRoutes } from './routes/declare.js';
import { routeTable } from './routes/index.js';
import type { Services } from './services.js';

/** Error codes of a response whose client closed the connection before it was complete. */
const CLIENT_GONE = new Set(['ERR_STREAM_PREMATURE_CLOSE', 'EPIPE', 'ECONNRESET']);

export function createApp(services: Services): Koa {
  const { settings, redis, logger, keys, metrics, adminToken, loadgenSecret } = services;
  // Not Koa's proxy option: it believes X-Forwarded-* from any peer. clientIp below resolves
  // ctx.ip from server.trustedProxies only.
  const app = new Koa({ proxy: false });
  const admin = requireAdmin(adminToken);
  const reader = requireReader(adminToken, settings.auth.protectStats);
  // Errors are answered by errorHandler; this only reports failures after the response began,
  // such as a stream that breaks midway. A client that hangs up mid-answer is its own business
  // (debug); anything else is worth a warning. With a listener of its own, Koa does not print
  // errors to stderr itself (app.silent would only matter without one).
  app.on('error', (error: NodeJS.ErrnoException, ctx?: Koa.Context) => {
    const log = ctx?.state.log ?? logger;
    if (CLIENT_GONE.has(error.code ?? '')) log.debug({ err: error }, 'client went away before the answer was complete');
    else log.warn({ err: error }, 'response failed after it started');
  });
  app.use(clientIp(settings.server));
  app.use(requestContext(logger));
  app.use(metrics.http);
  app.use(errorHandler());
  // CORS before the checks and the limits below, so that their answers (400, 414, 429) and every
  // other error answer carry the Access-Control-* headers: a page may read why it was refused.
  const corsHeaders = cors(settings);
  if (corsHeaders) app.use(corsHeaders);
  app.use(requireHost());
  app.use(limitUrlLength(settings.server.maxUrlBytes));
  app.use(rateLimits({ redis: redis.client, keys, limits: settings.rateLimits, loadgenSecret }));

  // /api/* has a router of its own, first: a hit is matched against one route, not against every
  // route of the product (the main router tests each of its layers for every request).
  const table = routeTable(services);
  const guards = { admin, reader };
  const apiRouter = new Router({ sensitive: true });
  mountRoutes(apiRouter, table.api, guards);
  app.use(apiRouter.routes());
  // Compression after the /api router: a hit (a tiny answer) never runs it, not even to negotiate.
  const compress = compression(settings.compression);
  if (compress) app.use(compress);

  const router = new Router({ sensitive: true });
  mountRoutes(router, table.main, guards);
  // The route groups that label the HTTP metrics of requests no route matched: this router's,
  // read at request time. /api/* is its own group, matched by its own router.
  metrics.groupsFrom(router);
  app.use(router.routes());
  // Sets Allow and 405/501 on a known path with an unknown method; errorHandler words the error.
  app.use(router.allowedMethods());
  return app;
}
