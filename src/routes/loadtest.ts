// The built-in load generator: fires n hits at this server's own /api/*.
import type Router from '@koa/router';
import bodyParser from 'koa-bodyparser';
import type { SeedSource } from '../clock.js';
import { BadRequestError } from '../errors.js';
import type { LoadOptions } from '../loadgen/runner.js';
import type { LoadReport } from '../loadgen/report.js';
import type { Settings } from '../settings.js';
import { integerParam, rejectUnknown } from './params.js';

export interface LoadtestDeps {
  settings: Readonly<Settings>;
  runLoad: (options: LoadOptions) => Promise<LoadReport>;
  seedSource: SeedSource;
}

const PARAMS = ['concurrency', 'seed'] as const;
const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

/** This server, reached over loopback when it listens on every interface. */
function selfTarget(host: string, port: number): string {
  if (WILDCARD_HOSTS.has(host)) return `http://127.0.0.1:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

export function mount(router: Router, { settings, runLoad, seedSource }: LoadtestDeps): void {
  const { loadtest } = settings;

  // POST /test/:n?concurrency=&seed=   (the same fields may come as a JSON body; the query wins)
  // Fires n requests at random paths under /api/ on this server, at most `concurrency` at once,
  // and reports what happened. The run stops early if the client disconnects.
  //   200 {requested, completed, succeeded, failed, durationMs, requestsPerSecond,
  //        latencyMs: {min, mean, p50, p90, p99, max}, statusCodes, errors, distinctPaths, concurrency, seed}
  //   400 n, concurrency or seed out of range, unknown parameter, malformed JSON body
  router.post('/test/:n', bodyParser({ enableTypes: ['json'], strict: true }), async (ctx) => {
    const body: unknown = ctx.request.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestError('Expected the JSON body to be an object');
    }
    const params = { ...(body as Record<string, unknown>), ...ctx.query };
    rejectUnknown(params, PARAMS);
    const requests = integerParam('n', ctx.params.n, 1, loadtest.maxRequests)!;
    const concurrency = integerParam('concurrency', params.concurrency, 1, loadtest.maxConcurrency) ?? loadtest.defaultConcurrency;
    const seed = integerParam('seed', params.seed, 0, 2 ** 32 - 1) ?? seedSource();

    const abort = new AbortController();
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) abort.abort();
    });
    ctx.body = await runLoad({
      requests,
      concurrency,
      seed,
      vocabulary: loadtest.vocabulary,
      batchSize: loadtest.batchSize,
      target: selfTarget(settings.server.host, ctx.req.socket.localPort!),
      requestTimeoutMs: loadtest.requestTimeoutMs,
      signal: abort.signal,
    });
  });
}
