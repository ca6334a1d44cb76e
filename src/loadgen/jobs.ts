// Load tests run as jobs. A job's state lives in Redis with a TTL, so any replica can answer
// for it, and a Lua-guarded set of leases caps how many run at once across all replicas.
// The replica that started a job runs it (in a worker thread) and writes its progress.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { ConflictError, NotFoundError, TooManyRequestsError } from '../errors.js';
import type { HitStore } from '../hits/store.js';
import type { GlobalKeys } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import { unavailable } from '../redis/unavailable.js';
import { vocabulary } from './paths.js';
import { emptyRun, mergeRuns, type LoadReport, type RunResult } from './merge.js';
import type { LoadPlan, Progress } from './runner.js';
import { runSearch, type SearchProgress, type SearchReport, type SearchSpec } from './search.js';
import type { Execution, ExecuteLoad } from './thread.js';

export const JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
const FINISHED: ReadonlySet<JobStatus> = new Set(['done', 'failed', 'cancelled']);

export interface CountCheck {
  /** How much the hits of the run's vocabulary grew in Redis between start and finish. */
  hits: number;
  /** Requests answered with a 2xx, the warm-up's included: what `hits` must equal. */
  succeeded: number;
  equalsSucceeded: boolean;
  note: string;
}

export type JobReport = LoadReport & { counted: CountCheck };
export type SearchJobReport = SearchReport & { counted: CountCheck };

export type ShownPlan = Omit<LoadPlan, 'batchSize' | 'progressIntervalMs' | 'loadgenSecret'>;

/** A job; `Job<JobReport>` is a run's, whose report has its figures. */
export interface Job<Report extends JobReport | SearchJobReport = JobReport | SearchJobReport> {
  id: string;
  /** A run of stages, or a search for the highest rate that meets an objective (search.ts). */
  kind: 'run' | 'search';
  status: JobStatus;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** A run's plan; a search's plan of one step (its stages, without the rate it searches). */
  plan: ShownPlan;
  search: SearchSpec | null;
  progress: (Progress & { search?: SearchProgress }) | null;
  report: Report | null;
  error: string | null;
}

export interface JobSettings {
  maxRunningJobs: number;
  jobTtlSeconds: number;
  progressIntervalMs: number;
  /** The longest a job sends for; see #run. */
  maxDurationMs: number;
}

export interface JobManagerDeps {
  redis: Redis;
  keys: GlobalKeys;
  scripts: Scripts;
  store: HitStore;
  clock: Clock;
  execute: ExecuteLoad;
  logger: Logger;
  settings: JobSettings;
}

interface LocalJob {
  execution?: Execution<unknown>;
  stopRequested: boolean;
  done: Promise<Job>;
}

export function countCheck(hits: number, succeeded: number, paths: number): CountCheck {
  return {
    hits,
    succeeded,
    equalsSucceeded: hits === succeeded,
    note:
      `counted is how much the hits of this run's ${paths} vocabulary paths grew in Redis between its start and finish; ` +
      'succeeded here includes the warm-up\'s 2xx answers, which count in Redis like any other. ' +
      'They are equal only when nothing else hit those paths meanwhile, and the target counts into this Redis.',
  };
}

/** 2xx answers of a run, its warm-up's included: what its hits in Redis must equal. */
export const succeededWithWarmup = (report: LoadReport) => report.succeeded + (report.warmup?.succeeded ?? 0);

type Outcome = { report: JobReport | SearchJobReport; cancelled: boolean; series?: RunResult['series']; histogramLog?: string };

export class JobManager {
  readonly #local = new Map<string, LocalJob>();
  readonly #ttlMs: number;
  readonly #leaseMs: number;

  constructor(private readonly deps: JobManagerDeps) {
    this.#ttlMs = deps.settings.jobTtlSeconds * 1000;
    // A lease outlives several missed progress ticks before another replica may reclaim the slot.
    this.#leaseMs = Math.max(10_000, deps.settings.progressIntervalMs * 10);
  }

  /**
   * Starts a job, or throws TooManyRequestsError when maxRunningJobs are already running.
   * Resolves once the job is recorded; `done` resolves with the finished job.
   */
  async start(plan: LoadPlan, search: SearchSpec | null = null): Promise<{ job: Job; done: Promise<Job> }> {
    const { redis, keys, scripts, clock, settings } = this.deps;
    const id = randomUUID();
    const now = clock.now();
    const taken = await scripts.acquireJobSlot(keys.runningJobs, now, settings.maxRunningJobs, id, now + this.#leaseMs).catch(unavailable);
    if (taken !== 1) {
      throw new TooManyRequestsError(`${settings.maxRunningJobs} load test(s) already running, the most allowed at once; try again later`, 5);
    }
    const { batchSize: _batch, progressIntervalMs: _interval, loadgenSecret: _secret, ...shown } = plan;
    const job: Job = { id, kind: search ? 'search' : 'run', status: 'queued', createdAt: new Date(now).toISOString(), startedAt: null, finishedAt: null, plan: shown, search, progress: null, report: null, error: null };
    try {
      await this.#save(job);
    } catch (error) {
      await redis.zrem(keys.runningJobs, id).catch(() => {});
      throw error;
    }
    const local: LocalJob = { stopRequested: false, done: Promise.resolve(job) };
    local.done = this.#run(job, plan, search, local);
    this.#local.set(id, local);
    return { job: structuredClone(job), done: local.done };
  }

  async #run(job: Job, plan: LoadPlan, search: SearchSpec | null, local: LocalJob): Promise<Job> {
    const { store, clock, execute, logger, redis, keys } = this.deps;
    try {
      const before = await store.sumOf(vocabulary(plan.paths));
      if (local.stopRequested) {
        job.status = 'cancelled';
        if (!search) job.report = { ...mergeRuns(plan, [emptyRun(plan, clock.now())]).report, counted: countCheck(0, 0, plan.paths) };
        return job;
      }
      job.status = 'running';
      job.startedAt = new Date(clock.now()).toISOString();
      await this.#save(job);
      let writes = Promise.resolve();
      const onProgress = (progress: Job['progress'] & object) => {
        job.progress = progress;
        // One write at a time, in order; a slow Redis makes progress coarser, never reordered.
        writes = writes.then(() => this.#tick(job, execution)).catch((error) => logger.warn({ err: error, job: job.id }, 'could not record load-test progress'));
      };
      const execution: Execution<Outcome> = search
        ? mapExecution(runSearch(plan, search, execute, onProgress), (report) => ({ report: { ...report, counted: countCheck(0, report.succeeded, plan.paths) }, cancelled: report.cancelled }))
        : mapExecution(execute(plan, onProgress), ({ report, series, histogramLog }) => ({ report: { ...report, counted: countCheck(0, succeededWithWarmup(report), plan.paths) }, cancelled: report.cancelled, series, histogramLog }));
      local.execution = execution;
      if (local.stopRequested) execution.stop();
      // A count of requests has no end in time of its own: n requests at a target that answers
      // slowly could hold one of the few job slots for days. So, like k6's maxDuration, a run
      // stops sending once it has run loadtest.maxDurationMs, the bound its durations are checked
      // against, plus one request timeout for the last requests to settle (so a run that fits the
      // bound is never cut short). It ends cancelled, as at a server's shutdown, with a warning that
      // says why; the count check stays exact. A search needs none: its steps are open-model runs
      // of fixed durations, checked against the bound in all.
      let overran = false;
      const deadline = search ? undefined : setTimeout(() => { overran = true; execution.stop(); }, this.deps.settings.maxDurationMs + plan.requestTimeoutMs);
      let outcome: Outcome;
      try {
        outcome = await execution.result;
      } finally {
        clearTimeout(deadline);
      }
      if (overran && !local.stopRequested && 'stages' in outcome.report) {
        const { report } = outcome;
        report.warnings.push(`Stopped at loadtest.maxDurationMs (${this.deps.settings.maxDurationMs} ms) after ${report.completed + (report.warmup?.completed ?? 0)} requests, the warm-up's included: the run did not finish its plan, and its figures cover what it sent.`);
      }
      await writes;
      const after = await store.sumOf(vocabulary(plan.paths));
      outcome.report.counted = countCheck(after - before, outcome.report.counted.succeeded, plan.paths);
      job.report = outcome.report;
      if ('stages' in outcome.report) job.progress = finalProgress(outcome.report);
      if (outcome.series) await this.#saveSeries(job.id, outcome.series, outcome.histogramLog ?? '');
      job.status = outcome.cancelled ? 'cancelled' : 'done';
    } catch (error) {
      logger.error({ err: error, job: job.id }, 'load test failed');
      job.status = 'failed';
      job.error = (error as Error).message;
    } finally {
      job.finishedAt = new Date(clock.now()).toISOString();
      await this.#save(job).catch((error) => logger.error({ err: error, job: job.id }, 'could not record the finished load test'));
      await redis.multi().zrem(keys.runningJobs, job.id).del(keys.jobCancel(job.id)).exec().catch(() => {});
      this.#local.delete(job.id);
    }
    return job;
  }

  /** Saves progress, renews the lease, and picks up a cancel asked for on another replica. */
  async #tick(job: Job, execution: Execution<unknown>): Promise<void> {
    const { redis, keys, clock } = this.deps;
    const now = clock.now();
    const results = await redis
      .multi()
      .set(keys.job(job.id), JSON.stringify(job), 'PX', this.#ttlMs)
      .zadd(keys.runningJobs, 'XX', now + this.#leaseMs, job.id)
      .exists(keys.jobCancel(job.id))
      .exec();
    if (results?.[2]?.[1] === 1) execution.stop();
  }

  /** A run's per-second series and HdrHistogram log, kept beside the job as long as it is. */
  async #saveSeries(id: string, series: RunResult['series'], histogramLog: string): Promise<void> {
    const { redis, keys } = this.deps;
    await redis.multi()
      .set(keys.jobSeries(id), JSON.stringify(series), 'PX', this.#ttlMs)
      .set(keys.jobHistogram(id), histogramLog, 'PX', this.#ttlMs)
      .exec()
      .catch(unavailable);
  }

  /** A run's per-second series, or undefined when the job has none (a search, or it expired). */
  async series(id: string): Promise<RunResult['series'] | undefined> {
    const json = await this.deps.redis.get(this.deps.keys.jobSeries(id)).catch(unavailable);
    return json === null ? undefined : (JSON.parse(json) as RunResult['series']);
  }

  async histogramLog(id: string): Promise<string | undefined> {
    return (await this.deps.redis.get(this.deps.keys.jobHistogram(id)).catch(unavailable)) ?? undefined;
  }

  async #save(job: Job): Promise<void> {
    const { redis, keys, clock } = this.deps;
    const now = clock.now();
    await redis
      .multi()
      .set(keys.job(job.id), JSON.stringify(job), 'PX', this.#ttlMs)
      .zadd(keys.jobs, Date.parse(job.createdAt), job.id)
      // The index forgets jobs whose own keys have expired.
      .zremrangebyscore(keys.jobs, '-inf', now - this.#ttlMs)
      .exec()
      .catch(unavailable);
  }

  async get(id: string): Promise<Job | undefined> {
    const json = await this.deps.redis.get(this.deps.keys.job(id)).catch(unavailable);
    return json === null ? undefined : (JSON.parse(json) as Job);
  }

  /** The newest jobs first. */
  async list(limit: number): Promise<Job[]> {
    const { redis, keys } = this.deps;
    const ids = await redis.zrevrange(keys.jobs, 0, limit - 1).catch(unavailable);
    if (ids.length === 0) return [];
    const values = await redis.mget(ids.map((id) => keys.job(id))).catch(unavailable);
    return values.flatMap((json) => (json === null ? [] : [JSON.parse(json) as Job]));
  }

  /**
   * Cancels a queued or running job. On the replica that runs it, resolves with the finished job
   * once in-flight requests have settled (`settled: true`); elsewhere, leaves a cancel request
   * that the running replica picks up at its next progress tick (`settled: false`).
   */
  async cancel(id: string): Promise<{ job: Job; settled: boolean }> {
    const job = await this.get(id);
    if (!job) throw new NotFoundError(`No load test job ${id}`);
    if (FINISHED.has(job.status)) throw new ConflictError(`Load test job ${id} has already finished (${job.status})`);
    const local = this.#local.get(id);
    if (local) {
      local.stopRequested = true;
      local.execution?.stop();
      return { job: await local.done, settled: true };
    }
    await this.deps.redis.set(this.deps.keys.jobCancel(id), '1', 'PX', this.#ttlMs).catch(unavailable);
    return { job, settled: false };
  }

  /** Stops every job this replica runs and waits until they are recorded as cancelled. */
  async cancelAll(): Promise<void> {
    await Promise.all([...this.#local.values()].map((local) => {
      local.stopRequested = true;
      local.execution?.stop();
      return local.done;
    }));
  }
}

/** A finished run's progress: everything it sent, the warm-up's included, as progress counts it. */
function finalProgress(report: LoadReport): Progress {
  const warmup = report.warmup ?? { completed: 0, succeeded: 0, failed: 0, dropped: 0 };
  return {
    completed: report.completed + warmup.completed,
    succeeded: report.succeeded + warmup.succeeded,
    failed: report.failed + warmup.failed,
    dropped: report.dropped + warmup.dropped,
    elapsedMs: Date.parse(report.finishedAt) - Date.parse(report.startedAt),
    requestsPerSecond: report.requestsPerSecond,
    p99: report.latencyMs.p99,
    stage: Math.max(0, report.stages.length - 1),
    warmup: false,
    targetRate: null,
  };
}

function mapExecution<A, B>(execution: Execution<A>, map: (result: A) => B): Execution<B> {
  return { stop: () => execution.stop(), result: execution.result.then(map) };
}
