// The built-in load generator and its jobs: POST /test/{n} and /test/jobs.
import type { Middleware } from 'koa';
import { z } from 'zod';
import { BadRequestError, NotFoundError } from '../errors.js';
import { jsonBody } from '../limits.js';
import { DISTRIBUTIONS } from '../loadgen/paths.js';
import type { LoadPlan } from '../loadgen/runner.js';
import { loopbackUrl, selfUrl } from '../loadgen/target.js';
import type { Services } from '../services.js';
import type { Settings } from '../settings.js';
import { route, type RouteDeclaration } from './declare.js';
import { Job, LoadReport } from './loadtest-schemas.js';
import { flag, integer, oneOf, query } from './schemas.js';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function jobId(raw: string): string {
  if (!JOB_ID.test(raw)) throw new NotFoundError(`No load test job ${raw}`);
  return raw;
}

/** A loopback http(s) base URL (loadgen/target.ts), as its origin: never a third party. */
function loopbackTarget() {
  const error = 'Expected `{name}` to be a loopback http URL such as http://127.0.0.1:5000';
  return z
    .string({ error })
    .transform((raw, ctx) => {
      const url = loopbackUrl(raw);
      if (url === undefined) {
        ctx.issues.push({ code: 'custom', message: error, input: raw });
        return z.NEVER;
      }
      return url;
    })
    .meta({ format: 'uri' });
}

/** The options of a run, as query parameters or JSON body fields. */
function loadOptions({ loadtest }: Readonly<Settings>) {
  return {
    concurrency: integer(1, loadtest.maxConcurrency).optional().meta({ description: `Requests in flight at most: 1 to \`loadtest.maxConcurrency\` (${loadtest.maxConcurrency}); default \`loadtest.defaultConcurrency\` (${loadtest.defaultConcurrency}).` }),
    rate: integer(1, loadtest.maxRate).optional().meta({ description: `Requests per second, 1 to \`loadtest.maxRate\` (${loadtest.maxRate}): the open model. Absent: the closed model.` }),
    distribution: oneOf(DISTRIBUTIONS).optional().meta({ description: `How paths are drawn; default \`loadtest.distribution\` (\`${loadtest.distribution}\`).` }),
    paths: integer(1, loadtest.maxPaths).optional().meta({ description: `Vocabulary size: 1 to \`loadtest.maxPaths\` (${loadtest.maxPaths}); default \`loadtest.paths\` (${loadtest.paths}).` }),
    seed: integer(0, 2 ** 32 - 1).optional().meta({ description: 'RNG seed; the report gives the one used, so any run can be replayed. Random when absent.' }),
    target: loopbackTarget().optional().meta({ description: 'A loopback base URL to load instead of this server; default `loadtest.target`, or this server.', param: { example: 'http://127.0.0.1:5001' } }),
    async: flag().optional().meta({ description: '`1`/`true`: answer 202 at once with the queued job. The header `Prefer: respond-async` does the same.' }),
  };
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

export function routes({ settings, jobs, seedSource, loadgenSecret }: Services): RouteDeclaration[] {
  const { loadtest } = settings;
  const jobUrl = (id: string) => `/test/jobs/${id}`;
  const options = loadOptions(settings);
  const jobIdParam = z.string().meta({ description: 'The job id, as in `Location` of a 202.', format: 'uuid', param: { id: 'JobId' } });
  const redisUnavailable = { ref: 'RedisUnavailable', description: 'Redis could not be reached, or refused the command for now.' };

  return [
    route({
      operationId: 'runLoadTest',
      headers: z.object({ Prefer: z.string().optional().meta({ description: '`respond-async`: answer 202 at once with the queued job, as `async=1` does.' }) }),
      method: 'post',
      path: '/test/{n}',
      tags: ['loadtest'],
      summary: 'Load-test this server from inside itself (admin)',
      description: 'Fires `n` requests at random paths under `/api/` in a worker thread, as a job any replica can report on: the closed model (`concurrency` in flight) by default, the open model with `rate`. The parameters may also come as a JSON body; the query string wins. Synchronous by default; a client that disconnects cancels the run.',
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
      before: [
        ...jsonBody({ maxBytes: settings.server.maxBodyBytes, maxDepth: settings.server.maxJsonDepth }),
        optionsBody,
      ],
      responses: {
        200: { description: 'The report, when the run ended (also when it was cancelled: `cancelled: true`).', headers: { 'Content-Location': 'JobLocation' }, content: { 'application/json': LoadReport } },
        202: { description: 'With `async` or `Prefer: respond-async`: the queued job.', headers: { Location: 'JobLocation' }, content: { 'application/json': Job } },
        400: { ref: 'BadRequest', description: 'A parameter out of range or unknown, a `target` not on loopback, a malformed JSON body or one that is not an object, one nested deeper than `server.maxJsonDepth`; or a request Node\'s HTTP parser rejected, then without `X-Request-Id`.' },
        413: { ref: 'PayloadTooLarge', description: `The JSON body is over \`server.maxBodyBytes\` (${settings.server.maxBodyBytes}).` },
        429: { ref: 'TooManyRequests', description: `\`loadtest.maxRunningJobs\` (${loadtest.maxRunningJobs}) jobs already running across all replicas (\`Retry-After: 5\`), or the \`write\` rate limit.` },
        500: { ref: 'InternalError', description: 'The load test failed (the job says why), or an unexpected error.' },
        503: redisUnavailable,
      },
      handler: async (ctx, { params, query: fromQuery, body: fromBody }) => {
        const given = { ...fromBody, ...fromQuery };
        const plan: LoadPlan = {
          requests: params.n,
          concurrency: given.concurrency ?? loadtest.defaultConcurrency,
          rate: given.rate ?? null,
          distribution: given.distribution ?? loadtest.distribution,
          paths: given.paths ?? loadtest.paths,
          zipfExponent: loadtest.zipfExponent,
          seed: given.seed ?? seedSource(),
          target: given.target ?? (loadtest.target || selfUrl(settings.server.host, ctx.req.socket.localPort!)),
          batchSize: loadtest.batchSize,
          requestTimeoutMs: loadtest.requestTimeoutMs,
          maxLagMs: loadtest.maxLagMs,
          progressIntervalMs: loadtest.progressIntervalMs,
          loadgenSecret,
        };
        const respondAsync = given.async ?? /\brespond-async\b/i.test(ctx.get('Prefer'));

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
