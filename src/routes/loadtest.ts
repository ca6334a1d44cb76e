// The built-in load generator and its jobs: POST /test/:n and /test/jobs.
import type Router from '@koa/router';
import type { Middleware } from 'koa';
import type { SeedSource } from '../clock.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { JobManager } from '../loadgen/jobs.js';
import { DISTRIBUTIONS } from '../loadgen/paths.js';
import type { LoadPlan } from '../loadgen/runner.js';
import { loopbackUrl, selfUrl } from '../loadgen/target.js';
import type { Settings } from '../settings.js';
import { jsonBody } from '../limits.js';
import { booleanParam, enumParam, integerParam, rejectUnknown } from './params.js';

export interface LoadtestDeps {
  settings: Readonly<Settings>;
  jobs: JobManager;
  seedSource: SeedSource;
  admin: Middleware;
  reader: Middleware;
  loadgenSecret: string;
}

const PARAMS = ['concurrency', 'rate', 'distribution', 'paths', 'seed', 'target', 'async'] as const;
const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function jobId(raw: string): string {
  if (!JOB_ID.test(raw)) throw new NotFoundError(`No load test job ${raw}`);
  return raw;
}

export function mount(router: Router, { settings, jobs, seedSource, admin, reader, loadgenSecret }: LoadtestDeps): void {
  const { loadtest } = settings;
  const jobUrl = (id: string) => `/test/jobs/${id}`;

  // POST /test/:n?concurrency=&rate=&distribution=&paths=&seed=&target=&async=   (admin)
  // (the same fields may come as a JSON body; the query wins)
  // Fires n requests at random /api/ paths of this server (or another loopback `target`), in the
  // closed model (`concurrency` in flight) or, with `rate`, the open model (`rate` per second).
  // Runs in a worker thread, as a job that any replica can report on.
  //   200 the report (the job's report, when it ran to the end or was cancelled)
  //   202 with ?async=1 or `Prefer: respond-async`: the queued job; Location: /test/jobs/<id>
  //   400 a parameter out of range, an unknown parameter, a malformed or too deeply nested JSON body
  //   401 admin token missing or wrong; 403 no token configured and the client is not on loopback
  //   413 JSON body over server.maxBodyBytes
  //   429 loadtest.maxRunningJobs jobs already running, or the write rate limit; Retry-After
  const body = jsonBody({ maxBytes: settings.server.maxBodyBytes, maxDepth: settings.server.maxJsonDepth });
  router.post('/test/:n', admin, ...body, async (ctx) => {
    const body: unknown = ctx.request.body ?? {};
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new BadRequestError('Expected the JSON body to be an object');
    }
    const params = { ...(body as Record<string, unknown>), ...ctx.query };
    rejectUnknown(params, PARAMS);
    let target = loadtest.target || selfUrl(settings.server.host, ctx.req.socket.localPort!);
    if (params.target !== undefined) {
      const given = typeof params.target === 'string' ? loopbackUrl(params.target) : undefined;
      if (!given) throw new BadRequestError('Expected `target` to be a loopback http URL such as http://127.0.0.1:5000');
      target = given;
    }
    const plan: LoadPlan = {
      requests: integerParam('n', ctx.params.n, 1, loadtest.maxRequests)!,
      concurrency: integerParam('concurrency', params.concurrency, 1, loadtest.maxConcurrency) ?? loadtest.defaultConcurrency,
      rate: integerParam('rate', params.rate, 1, loadtest.maxRate) ?? null,
      distribution: enumParam('distribution', params.distribution, DISTRIBUTIONS) ?? loadtest.distribution,
      paths: integerParam('paths', params.paths, 1, loadtest.maxPaths) ?? loadtest.paths,
      zipfExponent: loadtest.zipfExponent,
      seed: integerParam('seed', params.seed, 0, 2 ** 32 - 1) ?? seedSource(),
      target,
      batchSize: loadtest.batchSize,
      requestTimeoutMs: loadtest.requestTimeoutMs,
      maxLagMs: loadtest.maxLagMs,
      progressIntervalMs: loadtest.progressIntervalMs,
      loadgenSecret,
    };
    const respondAsync = booleanParam('async', params.async) ?? /\brespond-async\b/i.test(ctx.get('Prefer'));

    const { job, done } = await jobs.start(plan);
    if (respondAsync) {
      ctx.status = 202;
      ctx.set('Location', jobUrl(job.id));
      ctx.body = job;
      return;
    }
    // A client that gives up on a synchronous run cancels it; in-flight requests still settle.
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) jobs.cancel(job.id).catch(() => {});
    });
    const finished = await done;
    ctx.set('Content-Location', jobUrl(job.id));
    if (finished.status === 'failed') throw new Error(`load test ${job.id} failed: ${finished.error}`);
    ctx.body = finished.report;
  });

  // GET /test/jobs?limit=
  //   200 [job, ...] newest first (jobs expire after loadtest.jobTtlSeconds)
  //   400 bad limit
  router.get('/test/jobs', reader, async (ctx) => {
    rejectUnknown(ctx.query, ['limit']);
    ctx.body = await jobs.list(integerParam('limit', ctx.query.limit, 1, 1000) ?? 100);
  });

  // GET /test/jobs/:id
  //   200 {id, status: queued|running|done|failed|cancelled, progress, report, ...}
  //   404 no such job (or it expired)
  router.get('/test/jobs/:id', reader, async (ctx) => {
    const job = await jobs.get(jobId(ctx.params.id!));
    if (!job) throw new NotFoundError(`No load test job ${ctx.params.id}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = job;
  });

  // DELETE /test/jobs/:id   (admin)
  // Stops sending; requests already in flight settle and are reported.
  //   200 the cancelled job, when this replica runs it
  //   202 the job, when another replica runs it and will cancel it at its next progress tick
  //   404 no such job; 409 it has already finished
  router.delete('/test/jobs/:id', admin, async (ctx) => {
    const { job, settled } = await jobs.cancel(jobId(ctx.params.id!));
    ctx.status = settled ? 200 : 202;
    ctx.body = job;
  });
}
