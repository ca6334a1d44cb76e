// A finished run's results in standard formats: its per-second series as CSV, its latencies as an
// HdrHistogram log (readable by HdrHistogram's own tools), and two runs compared.
import { stringify } from 'csv-stringify/sync';
import { z } from 'zod';
import { ConflictError, NotFoundError } from '../errors.js';
import { compareRuns, METHOD, METRICS, MIN_SECONDS } from '../loadgen/compare.js';
import type { Job, JobManager, JobReport } from '../loadgen/jobs.js';
import { SERIES_COLUMNS } from '../loadgen/merge.js';
import type { Services } from '../services.js';
import { route, type RouteDeclaration } from './declare.js';
import { jobIdParam } from './loadtest-inputs.js';

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The finished run `id`, or the 404/409 that says why it has no results to give. */
export async function finishedRun(jobs: JobManager, id: string): Promise<Job> {
  const job = JOB_ID.test(id) ? await jobs.get(id) : undefined;
  if (!job) throw new NotFoundError(`No load test job ${id}`);
  if (job.kind !== 'run') throw new NotFoundError(`Load test job ${id} is a search: its steps are in its report, it has no series of its own`);
  if (job.status === 'queued' || job.status === 'running') throw new ConflictError(`Load test job ${id} is still ${job.status}: its results come when it ends`);
  if (job.status === 'failed') throw new NotFoundError(`Load test job ${id} failed, and has no results: ${job.error}`);
  return job;
}

const winner = z.enum(['a', 'b', 'neither']);
const run = z.object({
  id: z.uuid(),
  model: z.enum(['closed', 'open', 'mixed']),
  rate: z.number().min(1).nullable(),
  concurrency: z.int().min(1),
  completed: z.int().min(0),
  durationMs: z.number().min(0),
  fullSeconds: z.int().min(0).meta({ description: 'Seconds of its series the noise was estimated from: all but the first and the last.' }),
});

export const Comparison = z.object({
  a: run,
  b: run,
  metrics: z.array(z.object({
    metric: z.enum(METRICS),
    unit: z.enum(['req/s', 'ms', '%']),
    a: z.number().min(0),
    b: z.number().min(0),
    difference: z.number().meta({ description: 'b − a.' }),
    changePercent: z.number().nullable().meta({ description: '(b − a) / a × 100; null when a is 0.' }),
    standardError: z.number().min(0).nullable().meta({ description: 'Welch\'s standard error of the difference of the two runs\' per-second means; null when it cannot be estimated.' }),
    beyondNoise: z.boolean().meta({ description: 'Whether |difference| exceeds twice the standard error; never when it cannot be estimated.' }),
    better: winner.meta({ description: 'The run this metric favours: the higher rate, the lower latency or error rate.' }),
  })).meta({ description: '`requestsPerSecond`, `p50`, `p90`, `p99`, `p99_9` (ms) and `errorRate` (percent of the requests due that failed or were dropped), in that order.' }),
  verdict: z.object({
    summary: z.string().meta({ description: 'The verdict in a sentence.' }),
    faster: winner,
    decidedBy: z.enum(METRICS).meta({ description: 'Latency (p99, else p50) when both runs are open at the same rate schedule, since their rate was fixed; throughput otherwise.' }),
    beyondNoise: z.boolean(),
  }),
  noise: z.object({
    estimated: z.boolean().meta({ description: `False when either run has fewer than ${MIN_SECONDS} full seconds.` }),
    reason: z.string().nullable(),
  }),
  method: z.string().meta({ description: 'How the noise was estimated.', examples: [METHOD] }),
  warnings: z.array(z.string()).meta({ description: 'When the runs differ in plan, target or warm-up, a run was cancelled, or a run\'s generator was strained: the comparison may mislead.' }),
}).meta({ id: 'Comparison', description: 'Two runs compared: each figure, its difference, and whether that exceeds run-to-run noise.' });

export function routes({ jobs }: Services): RouteDeclaration[] {
  const id = jobIdParam;
  const redisUnavailable = { ref: 'RedisUnavailable', description: 'Redis could not be reached, or refused the command for now.' };
  const notFound = { ref: 'NotFound', description: 'No such job, it expired, it failed, or it is a search (which has no series).' };
  const conflict = { ref: 'Conflict', description: 'The job is still queued or running.' };

  return [
    route({
      operationId: 'getJobSeries',
      method: 'get',
      path: '/test/jobs/{id}.csv',
      tags: ['loadtest'],
      summary: 'A finished run\'s per-second series, as CSV',
      description: `One row per second of the measured part (warm-up left out), all threads added: ${SERIES_COLUMNS.map((c) => `\`${c}\``).join(', ')} (latencies in ms, from each request's due time).`,
      auth: 'reader',
      params: z.strictObject({ id }),
      responses: {
        200: { description: 'The series.', headers: { 'Content-Disposition': { description: '`attachment; filename="<id>.csv"`.', schema: { type: 'string' } } }, content: { 'text/csv': { type: 'string', examples: ['second,stage,completed,succeeded,failed,dropped,p50,p90,p99,max\n0,0,4981,4981,0,0,1.2,2.1,4.3,9.8\n'] } } },
        404: notFound,
        409: conflict,
        503: redisUnavailable,
      },
      handler: async (ctx, { params }) => {
        await finishedRun(jobs, params.id);
        const series = await jobs.series(params.id);
        if (!series) throw new NotFoundError(`Load test job ${params.id} has no series (it expired, or was cancelled before it began)`);
        ctx.type = 'text/csv';
        ctx.attachment(`${params.id}.csv`);
        ctx.body = stringify(series, { header: true, columns: [...SERIES_COLUMNS] });
      },
    }),
    route({
      operationId: 'getJobHistogram',
      method: 'get',
      path: '/test/jobs/{id}/histogram',
      tags: ['loadtest'],
      summary: 'A finished run\'s latencies, in the HdrHistogram log format',
      description: 'One interval histogram per second of the measured part (values in µs, from each request\'s due time), and the warm-up as one interval tagged `warmup`. Readable by HdrHistogram\'s tools (`HistogramLogProcessor`, `HistogramLogReader` of any port) and by hdr-histogram-js, which wrote it.',
      auth: 'reader',
      params: z.strictObject({ id }),
      responses: {
        200: { description: 'The log.', content: { 'text/plain': { type: 'string', examples: ['#[Histogram log format version 1.3]\n#[StartTime: 1796137200.000 (seconds since epoch), …]\n"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n0.000,1.000,9.800,HISTFAAAA…\n'] } } },
        404: notFound,
        409: conflict,
        503: redisUnavailable,
      },
      handler: async (ctx, { params }) => {
        await finishedRun(jobs, params.id);
        const log = await jobs.histogramLog(params.id);
        if (log === undefined) throw new NotFoundError(`Load test job ${params.id} has no histogram (it expired, or was cancelled before it began)`);
        ctx.type = 'text/plain; charset=utf-8';
        ctx.body = log;
      },
    }),
    route({
      operationId: 'compareJobs',
      method: 'get',
      path: '/test/jobs/{a}/compare/{b}',
      tags: ['loadtest'],
      summary: 'Two finished runs compared: which is faster, and by more than noise?',
      description: 'The difference b − a in throughput, p50, p90, p99, p99.9 and error rate, each against run-to-run noise estimated from the two runs\' per-second series (`method` says how), and a verdict: by latency when both runs are open at the same rate schedule, by throughput otherwise. A run compared with itself is allowed.',
      auth: 'reader',
      params: z.strictObject({
        a: z.string().meta({ description: 'The first run\'s job id.', format: 'uuid' }),
        b: z.string().meta({ description: 'The second run\'s job id.', format: 'uuid' }),
      }),
      responses: {
        200: { description: 'The comparison.', content: { 'application/json': Comparison } },
        404: notFound,
        409: { ref: 'Conflict', description: 'A job is still queued or running.' },
        503: redisUnavailable,
      },
      handler: async (ctx, { params }) => {
        // One after the other, so that a's 404 or 409 is the one told when both have one.
        const runOf = async (id: string) => {
          const job = await finishedRun(jobs, id);
          const series = await jobs.series(id);
          if (!series) throw new NotFoundError(`Load test job ${id} has no series (it expired, or was cancelled before it began)`);
          return { id, report: job.report as JobReport, series };
        };
        const a = await runOf(params.a);
        const b = params.b === params.a ? a : await runOf(params.b);
        ctx.body = compareRuns(a, b);
      },
    }),
  ];
}
