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

const rampRate = z.object({ from: z.number().min(1), to: z.number().min(1) });

export const Progress = z.object({
  completed: count.meta({ description: 'Requests that ended so far, the warm-up\'s included.' }),
  succeeded: count,
  failed: count,
  dropped: count,
  elapsedMs: ms,
  requestsPerSecond: z.number().min(0),
  p99: ms.meta({ description: 'ms, of the measured part so far (of the warm-up while it runs); with several threads, the highest thread\'s.' }),
  stage: count.meta({ description: 'The stage running now (0-based).' }),
  warmup: z.boolean().meta({ description: 'Whether that stage is a warm-up.' }),
  targetRate: z.number().min(0).nullable().meta({ description: 'The open stage\'s target rate at this moment (the ramp); null in a closed stage.' }),
}).meta({ id: 'Progress' });

export const CountCheck = z.object({
  hits: z.int().meta({ description: 'How much the hits of the run\'s vocabulary paths grew in Redis between its start and finish.' }),
  succeeded: count.meta({ description: '2xx answers, the warm-up\'s included: what `hits` must equal.' }),
  equalsSucceeded: z.boolean(),
  note: z.string(),
}).meta({ id: 'CountCheck' });

const figures = {
  completed: count.meta({ description: 'Requests that ended, with a response or an error.' }),
  succeeded: count.meta({ description: 'Requests answered with a 2xx.' }),
  failed: count.meta({ description: '`completed` − `succeeded` = `non2xx` + errors.' }),
  non2xx: count,
  dropped: count.meta({ description: 'Open model: never sent, because they could not go out within `loadtest.maxLagMs` of their due time.' }),
  durationMs: ms,
  requestsPerSecond: z.number().min(0),
  latencyMs: LatencySummary,
  statusCodes: z.record(z.string().regex(/^[1-5]\d\d$/), z.int().min(1)).meta({ description: 'Responses by status.' }),
  errors: z.record(z.string(), z.int().min(1)).meta({ description: 'Requests without a response, by error code (`ETIMEDOUT`, `ECONNREFUSED`, …).' }),
};

const Generator = z.object({
  threads: z.int().min(1),
  eventLoopUtilization: z.number().min(0).max(1).meta({ description: 'The busiest generator thread\'s event-loop utilization over the run.' }),
  eventLoopDelayP99Ms: ms.meta({ description: 'How late the busiest thread\'s event loop ran at p99 (beyond the 10 ms interval it is sampled at): how long a response may have waited to be read.' }),
}).meta({ id: 'Generator', description: 'How busy the load generator itself was: its threads, and the busiest one\'s event loop.' });

export const StageReport = z.object({
  index: count,
  warmup: z.boolean(),
  model: z.enum(['closed', 'open']),
  rate: rampRate.nullable().meta({ description: 'Open: requests per second from `from` at the stage\'s start to `to` at its end; null when closed.' }),
  concurrency: z.int().min(1),
  requested: z.int().min(1).nullable().meta({ description: 'null: a closed stage bounded by its duration.' }),
  plannedDurationMs: ms.nullable().meta({ description: 'null: a closed stage bounded by its count.' }),
  startedAt: time,
  finishedAt: time,
  ...figures,
}).meta({ id: 'StageReport', description: 'One stage\'s figures.' });

export const LoadReport = z.object({
  model: z.enum(['closed', 'open', 'mixed']),
  rate: z.number().min(1).nullable().meta({ description: 'The one constant rate of an open run; null otherwise.' }),
  concurrency: z.int().min(1).meta({ description: 'The highest concurrency of the measured stages.' }),
  distribution,
  paths: z.int().min(1),
  seed,
  target,
  requested: z.int().min(1).nullable().meta({ description: 'Requests the measured stages were to send; null when one is bounded by its duration only.' }),
  cancelled: z.boolean(),
  startedAt: time,
  finishedAt: time,
  ...figures,
  durationMs: ms.meta({ description: 'Of the measured part: from the end of the warm-up to the last answer.' }),
  perSecond: z.array(count).meta({ description: 'Requests completed in each second of the measured part; the last may cover a partial second.' }),
  distinctPaths: count,
  stages: z.array(StageReport),
  warmup: z.object({ ...figures, requested: z.int().min(1).nullable() }).nullable().meta({ description: 'The warm-up, left out of every other figure; null without one.' }),
  generator: Generator,
  warnings: z.array(z.string()).meta({ description: 'When the generator itself may have been the bottleneck (busy or lagging event loop), requests were dropped, or the run was stopped at `loadtest.maxDurationMs` before it finished its plan.' }),
  counted: CountCheck,
}).meta({ id: 'LoadReport', description: 'What a load test did.' });

const Objective = z.object({ p50: ms.optional(), p90: ms.optional(), p99: ms.optional(), p99_9: ms.optional(), errors: z.number().min(0).max(100).optional() });

export const SearchStep = z.object({
  step: count,
  phase: z.enum(['ramp', 'bisect']),
  rate: z.int().min(1),
  met: z.boolean(),
  missed: z.array(z.string()).meta({ description: 'What missed the objective, e.g. `p99 31.2 ms > 20 ms`.' }),
  requestsPerSecond: z.number().min(0),
  latencyMs: LatencySummary,
  completed: count,
  failed: count,
  dropped: count,
  errors: z.number().min(0).max(100).meta({ description: 'Percent failed or dropped.' }),
  succeeded: count.meta({ description: '2xx answers, the warm-up\'s included.' }),
  warnings: z.array(z.string()),
  generator: Generator,
}).meta({ id: 'SearchStep' });

export const SearchSpecSchema = z.object({
  objective: Objective,
  minRate: z.int().min(1),
  maxRate: z.int().min(1),
  stepDurationMs: ms,
  warmupMs: ms,
  precision: z.number(),
  maxSteps: z.int().min(1),
  concurrency: z.int().min(1),
}).meta({ id: 'SearchSpec' });

export const SearchReport = z.object({
  objective: Objective,
  minRate: z.int().min(1),
  maxRate: z.int().min(1),
  breakingPoint: z.int().min(1).nullable().meta({ description: 'The highest rate whose step met the objective; null when even `minRate` missed it.' }),
  firstFailingRate: z.int().min(1).nullable().meta({ description: 'The lowest rate whose step missed it; null when every step up to `maxRate` met it.' }),
  steps: z.array(SearchStep),
  cancelled: z.boolean(),
  startedAt: time,
  finishedAt: time,
  durationMs: ms,
  succeeded: count,
  note: z.string(),
  counted: CountCheck,
}).meta({ id: 'SearchReport', description: 'What a breaking-point search found.' });

const Stage = z.object({
  warmup: z.boolean(),
  rate: rampRate.nullable(),
  concurrency: z.int().min(1),
  requests: z.number().min(1).nullable(),
  durationMs: ms.nullable(),
});

export const JobPlan = z.object({
  stages: z.array(Stage),
  distribution,
  paths: z.int().min(1),
  zipfExponent: z.number(),
  seed,
  target,
  threads: z.int().min(1),
  requestTimeoutMs: ms,
  maxLagMs: ms,
}).meta({ id: 'JobPlan' });

export const Job = z.object({
  id: z.uuid(),
  kind: z.enum(['run', 'search']),
  status: z.enum(JOB_STATUSES),
  createdAt: time,
  startedAt: time.nullable(),
  finishedAt: time.nullable(),
  plan: JobPlan,
  search: SearchSpecSchema.nullable().meta({ description: 'A search\'s objective and bounds; null for a run.' }),
  progress: Progress.extend({
    search: z.object({
      step: count,
      rate: z.int().min(1),
      phase: z.enum(['ramp', 'bisect']),
      passing: z.int().min(1).nullable(),
      failing: z.int().min(1).nullable(),
      steps: z.array(SearchStep),
    }).optional().meta({ description: 'A search: the step running, and every step so far.' }),
  }).nullable().meta({ description: 'So far; null until the first progress tick.' }),
  report: z.union([LoadReport, SearchReport]).nullable().meta({ description: 'Once the job ended (done or cancelled): a run\'s or a search\'s report.' }),
  error: z.string().nullable().meta({ description: 'Why a failed job failed.' }),
}).meta({ id: 'Job', description: 'A load test, as kept in Redis for `loadtest.jobTtlSeconds`.' });
