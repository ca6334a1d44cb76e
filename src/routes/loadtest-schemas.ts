// The answers of the load-test routes (loadtest.ts): a job, its plan and progress, and the report
// of a run. Response schemas only: what the server sends, as src/loadgen builds it.
import { z } from 'zod';
import { JOB_STATUSES } from '../loadgen/jobs.js';
import { DISTRIBUTIONS } from '../loadgen/paths.js';

const count = z.int().min(0);
const ms = z.number().min(0);
const time = z.iso.datetime({ offset: true });
const distribution = z.enum(DISTRIBUTIONS);
const seed = z.int().min(0).max(2 ** 32 - 1);
const target = z.url().meta({ format: 'uri' });

export const LatencySummary = z.object({
  min: ms,
  mean: ms,
  stddev: ms,
  p50: ms,
  p90: ms,
  p99: ms,
  p99_9: ms,
  max: ms,
}).meta({ id: 'LatencySummary', description: 'From an HDR histogram, in ms; all zero when nothing was recorded.' });

export const Progress = z.object({
  completed: count,
  succeeded: count,
  failed: count,
  dropped: count,
  elapsedMs: ms,
  requestsPerSecond: z.number().min(0),
  p99: ms.meta({ description: 'ms' }),
}).meta({ id: 'Progress' });

export const CountCheck = z.object({
  hits: z.int().meta({ description: 'How much the hits of the run\'s vocabulary paths grew in Redis between its start and finish.' }),
  equalsSucceeded: z.boolean(),
  note: z.string(),
}).meta({ id: 'CountCheck' });

export const LoadReport = z.object({
  model: z.enum(['closed', 'open']),
  rate: z.int().min(1).nullable().meta({ description: 'Open model: requests per second; null in the closed model.' }),
  concurrency: z.int().min(1),
  distribution,
  paths: z.int().min(1),
  seed,
  target,
  requested: z.int().min(1),
  completed: count.meta({ description: 'Requests that ended, with a response or an error.' }),
  succeeded: count.meta({ description: 'Requests answered with a 2xx.' }),
  failed: count.meta({ description: '`completed` − `succeeded` = `non2xx` + errors.' }),
  non2xx: count,
  dropped: count.meta({ description: 'Open model: never sent, because they could not go out within `loadtest.maxLagMs` of their due time.' }),
  cancelled: z.boolean(),
  startedAt: time,
  finishedAt: time,
  durationMs: ms,
  requestsPerSecond: z.number().min(0),
  perSecond: z.array(count).meta({ description: 'Requests completed in each second of the run; the last may cover a partial second.' }),
  latencyMs: LatencySummary,
  statusCodes: z.record(z.string().regex(/^[1-5]\d\d$/), z.int().min(1)).meta({ description: 'Responses by status.' }),
  errors: z.record(z.string(), z.int().min(1)).meta({ description: 'Requests without a response, by error code (`ETIMEDOUT`, `ECONNREFUSED`, …).' }),
  distinctPaths: count,
  counted: CountCheck,
}).meta({ id: 'LoadReport', description: 'What a load test did.' });

export const JobPlan = z.object({
  requests: z.int().min(1),
  concurrency: z.int().min(1),
  rate: z.int().min(1).nullable(),
  distribution,
  paths: z.int().min(1),
  zipfExponent: z.number(),
  seed,
  target,
  requestTimeoutMs: ms,
  maxLagMs: ms,
}).meta({ id: 'JobPlan' });

export const Job = z.object({
  id: z.uuid(),
  status: z.enum(JOB_STATUSES),
  createdAt: time,
  startedAt: time.nullable(),
  finishedAt: time.nullable(),
  plan: JobPlan,
  progress: Progress.nullable().meta({ description: 'So far; null until the first progress tick.' }),
  report: LoadReport.nullable().meta({ description: 'Once the job ended (done or cancelled).' }),
  error: z.string().nullable().meta({ description: 'Why a failed job failed.' }),
}).meta({ id: 'Job', description: 'A load test, as kept in Redis for `loadtest.jobTtlSeconds`.' });
