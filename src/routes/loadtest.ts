// The built-in load generator and its jobs: POST /test/{n} and /test/jobs.
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { BadRequestError, NotFoundError } from '../errors.js';
import { jsonBody } from '../limits.js';
import type { Job as JobRecord } from '../loadgen/jobs.js';
import type { LoadPlan } from '../loadgen/runner.js';
import type { SearchSpec } from '../loadgen/search.js';
import { resolveStage, type StagePlan } from '../loadgen/stages.js';
import { selfUrl } from '../loadgen/target.js';
import { loadThreads } from '../loadgen/thread.js';
import type { Services } from '../services.js';
import { route, type ResponseDeclaration, type RouteDeclaration } from './declare.js';
import { jobIdParam, searchBody, simpleOptions, stagedBody } from './loadtest-inputs.js';
import { Job, LoadReport, SearchReport } from './loadtest-schemas.js';
import { flag, integer, query } from './schemas.js';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function jobId(raw: string): string {
  if (!JOB_ID.test(raw)) throw new NotFoundError(`No load test job ${raw}`);
  return raw;
}

/**
 * The body of POST /test/{n}: a JSON object, of which the query's fields are dropped (the query
 * wins), so that validation sees each option once, from where it is taken.
 */
const optionsBody: Middleware = (ctx, next) => {
  const body: unknown = ctx.request.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new BadRequestError('Expected the JSON body to be an object');
  ctx.request.body = Object.fromEntries(Object.entries(body).filter(([name]) => !Object.hasOwn(ctx.query, name)));
  return next();
};

type Shared = { distribution?: LoadPlan['distribution'] | undefined; paths?: number | undefined; seed?: number | undefined; target?: string | undefined; async?: boolean | undefined };

export function routes(services: Services): RouteDeclaration[] {
  const { settings, jobs, seedSource, loadgenSecret } = services;
  const { loadtest } = settings;
  const jobUrl = (id: string) => `/test/jobs/${id}`;
  const options = simpleOptions(loadtest);
  const redisUnavailable = { ref: 'RedisUnavailable', description: 'Redis could not be reached, or refused the command for now.' };
  const asyncHeader = z.object({ Prefer: z.string().optional().meta({ description: '`respond-async`: answer 202 at once with the queued job, as `async=1` does.' }) });
  const tooMany = { ref: 'TooManyRequests', description: `\`loadtest.maxRunningJobs\` (${loadtest.maxRunningJobs}) jobs already running across all replicas (\`Retry-After: 5\`), or the \`write\` rate limit.` };
  const tooLarge = { ref: 'PayloadTooLarge', description: `The JSON body is over \`server.maxBodyBytes\` (${settings.server.maxBodyBytes}).` };
  const failed = { ref: 'InternalError', description: 'The load test failed (the job says why), or an unexpected error.' };
  /**
   * What every route that starts a job answers, around its own 200 and 400: 202 with the queued
   * job, and the refusals of a body too large, too many jobs, a failed run, Redis down.
   */
  const jobResponses = ({ 200: ok, 400: bad }: { 200: ResponseDeclaration; 400: ResponseDeclaration }): Record<number, ResponseDeclaration> => ({
    200: ok,
    202: { description: 'With `async` or `Prefer: respond-async`: the queued job.', headers: { Location: 'JobLocation' }, content: { 'application/json': Job } },
    400: bad,
    413: tooLarge,
    429: tooMany,
    500: failed,
    503: redisUnavailable,
  });
  const json = jsonBody({ maxBytes: settings.server.maxBodyBytes, maxDepth: settings.server.maxJsonDepth });

  /** The plan of a run of `stages`, with the options every run shares. */
  const planOf = (ctx: Context, stages: StagePlan[], given: Shared): LoadPlan => ({
    stages,
    distribution: given.distribution ?? loadtest.distribution,
    paths: given.paths ?? loadtest.paths,
    zipfExponent: loadtest.zipfExponent,
    seed: given.seed ?? seedSource(),
    target: given.target ?? (loadtest.target || selfUrl(settings.server.host, ctx.req.socket.localPort!)),
    threads: loadThreads(loadtest.threads),
    batchSize: loadtest.batchSize,
    requestTimeoutMs: loadtest.requestTimeoutMs,
    maxLagMs: loadtest.maxLagMs,
    progressIntervalMs: loadtest.progressIntervalMs,
    loadgenSecret,
  });

  /** Starts the job; answers 202 with it when asked to, or waits and answers with its report. */
  const runJob = async (ctx: Context, plan: LoadPlan, search: SearchSpec | null, respondAsync: boolean | undefined) => {
    const { job, done } = await jobs.start(plan, search);
    if (respondAsync ?? /\brespond-async\b/i.test(ctx.get('Prefer'))) {
      ctx.status = 202;
      ctx.set('Location', jobUrl(job.id));
      ctx.body = job;
      return;
    }
    // A client that gives up on a synchronous run cancels it; in-flight requests still settle.
    ctx.res.once('close', () => {
      if (!ctx.res.writableFinished) jobs.cancel(job.id).catch(() => {});
    });
    const finished: JobRecord = await done;
    ctx.set('Content-Location', jobUrl(job.id));
    if (finished.status === 'failed') throw new Error(`load test ${job.id} failed: ${finished.error}`);
    ctx.body = finished.report;
  };

  return [
    route({
      operationId: 'runLoadTest',
      headers: asyncHeader,
      method: 'post',
      path: '/test/{n}',
      tags: ['loadtest'],
      summary: 'Load-test this server from inside itself (admin)',
      description: 'Fires `n` requests at random paths under `/api/` from worker threads (`loadtest.threads`), as a job any replica can report on: the closed model (`concurrency` in flight) by default, the open model with `rate`; `warmupMs` runs a warm-up first. The parameters may also come as a JSON body; the query string wins. Synchronous by default; a client that disconnects cancels the run. `POST /test` runs stages and ramps.',
      auth: 'admin',
      params: z.strictObject({
        n: integer(1, loadtest.maxRequests).meta({ description: `Requests to send: 1 to \`loadtest.maxRequests\` (${loadtest.maxRequests} by default).`, param: { example: 1000 } }),
      }),
      query: query(options),
      body: {
        // An override, not `examples`: zod leaves out the examples of an input schema with
        // transforms (they could be outputs), and these are inputs.
        schema: z.strictObject(options).meta({ id: 'LoadTestOptions', description: 'The query parameters of `POST /test/{n}`, as JSON.', override: { examples: [{ concurrency: 10, seed: 42 }] } }),
        description: 'The same parameters as the query string, as JSON (the query string wins). Any other content type is ignored.',
      },
      before: [...json, optionsBody],
      responses: jobResponses({
        200: { description: 'The report, when the run ended (also when it was cancelled: `cancelled: true`).', headers: { 'Content-Location': 'JobLocation' }, content: { 'application/json': LoadReport } },
        400: { ref: 'BadRequest', description: 'A parameter out of range or unknown, a `target` not on loopback, a malformed JSON body or one that is not an object, one nested deeper than `server.maxJsonDepth`; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
      }),
      handler: async (ctx, { params, query: fromQuery, body: fromBody }) => {
        const given = { ...fromBody, ...fromQuery };
        const stage = { concurrency: given.concurrency ?? loadtest.defaultConcurrency, rate: given.rate };
        const stages = [resolveStage({ ...stage, requests: params.n }, loadtest.defaultConcurrency)];
        if (given.warmupMs) {
          const warmup = resolveStage({ ...stage, durationMs: given.warmupMs, warmup: true }, loadtest.defaultConcurrency);
          // A warm-up at a rate sends a known number of requests, bounded with n's as POST /test bounds its stages.
          const total = params.n + (warmup.requests ?? 0);
          if (total > loadtest.maxRequests) throw new BadRequestError(`Expected \`n\` and the warm-up to send at most ${loadtest.maxRequests} requests in all (loadtest.maxRequests), not ${total}`);
          stages.unshift(warmup);
        }
        await runJob(ctx, planOf(ctx, stages, given), null, given.async);
      },
    }),
    route({
      operationId: 'runStagedLoadTest',
      headers: asyncHeader,
      method: 'post',
      path: '/test',
      tags: ['loadtest'],
      summary: 'Load-test this server in stages: ramps, warm-up, closed and open (admin)',
      description: 'Runs the stages one after the other, as `POST /test/{n}` runs one. A stage ends after `durationMs` or `requests`, and has a `concurrency` (closed model) or a `rate`, which `[from, to]` ramps linearly over the stage (open model). Warm-up stages count in Redis and in `counted`, never in the figures. The report gives each stage\'s figures and the whole run\'s.',
      auth: 'admin',
      query: query({ async: flag().optional().meta({ description: '`1`/`true`: answer 202 at once with the queued job.' }) }),
      body: { schema: stagedBody(loadtest), description: 'The stages, and the options every run shares.', required: true },
      before: [...json],
      responses: jobResponses({
        200: { description: 'The report, when the run ended (also when it was cancelled: `cancelled: true`).', headers: { 'Content-Location': 'JobLocation' }, content: { 'application/json': LoadReport } },
        400: { ref: 'BadRequest', description: 'A stage without a duration or a count or with both, a value out of range, unknown fields, too many stages, too many requests or too long in all (`loadtest.maxRequests`, `loadtest.maxDurationMs`), only warm-up stages, a `target` not on loopback; a body that is not a JSON object.' },
      }),
      handler: async (ctx, { query: { async: respondAsync }, body }) => {
        const stages = body.stages.map((stage) => resolveStage(stage, loadtest.defaultConcurrency));
        await runJob(ctx, planOf(ctx, stages, body), null, body.async ?? respondAsync);
      },
    }),
    route({
      operationId: 'searchBreakingPoint',
      headers: asyncHeader,
      method: 'post',
      path: '/test/search',
      tags: ['loadtest'],
      summary: 'Find the highest rate that meets an objective: the breaking point (admin)',
      description: 'Open-model steps at rates from `minRate` up: the rate doubles until a step misses the objective, then bisects between the best passing and the first failing rate until they are within `precision`. Each step is a warm-up then `stepDurationMs` measured. A job like any other: progress (with every step so far), cancel, TTL.',
      auth: 'admin',
      query: query({ async: flag().optional().meta({ description: '`1`/`true`: answer 202 at once with the queued job.' }) }),
      body: { schema: searchBody(loadtest), description: 'The objective, the bounds, and the options every run shares.', required: true },
      before: [...json],
      responses: jobResponses({
        200: { description: 'The search\'s report, when it ended.', headers: { 'Content-Location': 'JobLocation' }, content: { 'application/json': SearchReport } },
        400: { ref: 'BadRequest', description: 'An objective that bounds nothing, a bound out of range or unknown, `minRate` above `maxRate`, steps that would last longer than `loadtest.maxDurationMs` in all or send more than `loadtest.maxRequests` each; a body that is not a JSON object.' },
      }),
      handler: async (ctx, { query: { async: respondAsync }, body }) => {
        const spec: SearchSpec = {
          objective: body.objective,
          minRate: body.minRate,
          maxRate: body.maxRate,
          stepDurationMs: body.stepDurationMs ?? 5000,
          warmupMs: body.warmupMs ?? 1000,
          precision: body.precision ?? 0.05,
          maxSteps: body.maxSteps ?? 20,
          concurrency: body.concurrency ?? loadtest.defaultConcurrency,
        };
        // The plan shown with the job is that of the first step; each step's comes from stepStages.
        const plan = planOf(ctx, [resolveStage({ rate: spec.minRate, durationMs: spec.stepDurationMs, concurrency: spec.concurrency }, spec.concurrency)], body);
        await runJob(ctx, plan, spec, body.async ?? respondAsync);
      },
    }),
    route({
      operationId: 'listJobs',
      method: 'get',
      path: '/test/jobs',
      tags: ['loadtest'],
      summary: 'Load-test jobs, newest first',
      description: 'Jobs expire after `loadtest.jobTtlSeconds` (a day).',
      auth: 'reader',
      query: query({ limit: integer(1, 1000).optional().meta({ description: 'At most this many jobs.', default: 100 }) }),
      responses: {
        200: { description: 'The jobs.', content: { 'application/json': z.array(Job) } },
        400: { ref: 'BadRequest', description: 'A bad `limit`, or an unknown parameter; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        503: redisUnavailable,
      },
      handler: async (ctx, { query: { limit = 100 } }) => {
        ctx.body = await jobs.list(limit);
      },
    }),
    // What the document gives every path, declared here so that /test/{n} does not add POST to
    // the Allow of /test/jobs (literalPathWins above).
    route({
      operationId: 'getJob',
      method: 'get',
      path: '/test/jobs/{id}',
      tags: ['loadtest'],
      summary: 'One load-test job: its status, progress and report',
      auth: 'reader',
      params: z.strictObject({ id: jobIdParam }),
      responses: {
        200: { description: 'The job.', content: { 'application/json': Job } },
        404: { ref: 'NotFound', description: 'No such job, or it expired.' },
        503: redisUnavailable,
      },
      handler: async (ctx, { params: { id } }) => {
        const job = await jobs.get(jobId(id));
        if (!job) throw new NotFoundError(`No load test job ${id}`);
        ctx.set('Cache-Control', 'no-store');
        ctx.body = job;
      },
    }),
    route({
      operationId: 'cancelJob',
      method: 'delete',
      path: '/test/jobs/{id}',
      tags: ['loadtest'],
      summary: 'Cancel a queued or running job (admin)',
      description: 'Sends nothing more; requests already in flight settle and are reported.',
      auth: 'admin',
      params: z.strictObject({ id: jobIdParam }),
      responses: {
        200: { description: 'This replica runs the job: the cancelled job with its report, once in-flight requests settled.', content: { 'application/json': Job } },
        202: { description: 'Another replica runs the job: it stops at its next progress tick. The job as it was.', content: { 'application/json': Job } },
        404: { ref: 'NotFound', description: 'No such job, or it expired.' },
        409: { ref: 'Conflict', description: 'The job has already finished.' },
        503: redisUnavailable,
      },
      handler: async (ctx, { params: { id } }) => {
        const { job, settled } = await jobs.cancel(jobId(id));
        ctx.status = settled ? 200 : 202;
        ctx.body = job;
      },
    }),
  ];
}
