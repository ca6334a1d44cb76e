// The report of a run from its threads' records (runner.ts RawRun): histograms added, counters
// summed, per second and per stage, so that a run on four threads reports exactly what one
// thread sending all of it would have. Also the run's per-second series and its HdrHistogram log.
import { decodeFromCompressedBase64, encodeIntoCompressedBase64, HistogramLogWriter, type Histogram } from 'hdr-histogram-js';
import type { Distribution } from './paths.js';
import { newLatencyHistogram, PathSet, requestsPerSecond, summarizeLatency, type LatencySummary, type RawTally } from './report.js';
import type { LoadPlan, RawRun } from './runner.js';
import { plannedRequests, type StagePlan } from './stages.js';

/** The figures of a set of requests: a stage, the warm-up, or the measured run. */
export interface Figures {
  completed: number;
  succeeded: number;
  failed: number;
  non2xx: number;
  dropped: number;
  durationMs: number;
  requestsPerSecond: number;
  latencyMs: LatencySummary;
  statusCodes: Record<string, number>;
  errors: Record<string, number>;
}

export interface StageReport extends Figures {
  index: number;
  warmup: boolean;
  model: 'closed' | 'open';
  rate: { from: number; to: number } | null;
  concurrency: number;
  requested: number | null;
  plannedDurationMs: number | null;
  startedAt: string;
  finishedAt: string;
}

export interface LoadReport extends Figures {
  model: 'closed' | 'open' | 'mixed';
  /** The one constant rate of an open run; null otherwise. */
  rate: number | null;
  /** The highest concurrency of the measured stages. */
  concurrency: number;
  distribution: Distribution;
  paths: number;
  seed: number;
  target: string;
  /** Requests the measured stages were to send; null when one of them is bounded by time only. */
  requested: number | null;
  cancelled: boolean;
  startedAt: string;
  finishedAt: string;
  /** Requests completed in each second of the measured part; the last may cover a partial second. */
  perSecond: number[];
  distinctPaths: number;
  stages: StageReport[];
  /** The warm-up's figures, left out of every figure above; null without a warm-up. */
  warmup: (Figures & { requested: number | null }) | null;
  generator: { threads: number; eventLoopUtilization: number; eventLoopDelayP99Ms: number };
  /** When the generator itself may have been the bottleneck, or the run did not go as planned. */
  warnings: string[];
}

/** One second of the measured part, all threads added. */
export interface SeriesRow {
  second: number;
  stage: number;
  completed: number;
  succeeded: number;
  failed: number;
  dropped: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface RunResult {
  report: LoadReport;
  series: SeriesRow[];
  /** The measured seconds as interval histograms (µs), and the warm-up tagged `warmup`: HdrHistogram's log format. */
  histogramLog: string;
}

// Above these the generator's own event loop was the queue its latencies measured.
const BUSY_UTILIZATION = 0.9;
const LAGGING_DELAY_MS = 20;

const decode = (raw: RawTally): Histogram => decodeFromCompressedBase64(raw.histogram);

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [key, count] of Object.entries(from)) into[key] = (into[key] ?? 0) + count;
}

/** Tallies added: counters summed, histograms added. */
function mergeTallies(raws: readonly RawTally[]): Omit<RawTally, 'histogram'> & { latency: Histogram } {
  const latency = newLatencyHistogram();
  const merged = { completed: 0, succeeded: 0, non2xx: 0, dropped: 0, statusCodes: {} as Record<string, number>, errors: {} as Record<string, number>, latency };
  for (const raw of raws) {
    merged.completed += raw.completed;
    merged.succeeded += raw.succeeded;
    merged.non2xx += raw.non2xx;
    merged.dropped += raw.dropped;
    addCounts(merged.statusCodes, raw.statusCodes);
    addCounts(merged.errors, raw.errors);
    const histogram = decode(raw);
    latency.add(histogram);
    histogram.destroy();
  }
  return merged;
}

function figures(merged: ReturnType<typeof mergeTallies>, durationMs: number): Figures {
  const sortedCodes = Object.entries(merged.statusCodes).sort(([a], [b]) => Number(a) - Number(b));
  return {
    completed: merged.completed,
    succeeded: merged.succeeded,
    failed: merged.completed - merged.succeeded,
    non2xx: merged.non2xx,
    dropped: merged.dropped,
    durationMs: Math.round(durationMs * 1000) / 1000,
    requestsPerSecond: requestsPerSecond(merged.completed, durationMs),
    latencyMs: summarizeLatency(merged.latency),
    statusCodes: Object.fromEntries(sortedCodes),
    errors: merged.errors,
  };
}

function describeModel(stages: readonly StagePlan[]): Pick<LoadReport, 'model' | 'rate' | 'concurrency'> {
  const measured = stages.filter((stage) => !stage.warmup);
  const shown = measured.length > 0 ? measured : stages;
  const open = shown.filter((stage) => stage.rate);
  const model = open.length === shown.length ? 'open' : open.length === 0 ? 'closed' : 'mixed';
  const rates = new Set(open.flatMap((stage) => [stage.rate!.from, stage.rate!.to]));
  return { model, rate: model === 'open' && rates.size === 1 ? [...rates][0]! : null, concurrency: Math.max(...shown.map((stage) => stage.concurrency)) };
}

const iso = (ms: number) => new Date(ms).toISOString();

export function mergeRuns(plan: LoadPlan, runs: readonly RawRun[]): RunResult {
  const startedAt = Math.min(...runs.map((run) => run.startedAt));
  const finishedAt = Math.max(...runs.map((run) => run.finishedAt));
  const measuredStarts = runs.map((run) => run.measuredFrom).filter((at): at is number => at !== null);
  const measuredFrom = measuredStarts.length > 0 ? Math.min(...measuredStarts) : null;
  const measured = mergeTallies(runs.map((run) => run.measured));
  const cancelled = runs.some((run) => run.cancelled);

  const stages: StageReport[] = [];
  const warmupRaws: RawTally[] = [];
  let warmupMs = 0;
  for (const [index, stage] of plan.stages.entries()) {
    const raws = runs.flatMap((run) => (run.stages[index] ? [run.stages[index]] : []));
    if (raws.length === 0) continue;
    const merged = mergeTallies(raws);
    const from = Math.min(...raws.map((raw) => raw.startedAt));
    const to = Math.max(...raws.map((raw) => raw.finishedAt));
    stages.push({
      index,
      warmup: stage.warmup,
      model: stage.rate ? 'open' : 'closed',
      rate: stage.rate,
      concurrency: stage.concurrency,
      requested: stage.requests,
      plannedDurationMs: stage.durationMs,
      startedAt: iso(from),
      finishedAt: iso(to),
      ...figures(merged, to - from),
    });
    if (stage.warmup) {
      warmupRaws.push(...raws);
      warmupMs += to - from;
    }
  }

  // Seconds by index, added across threads (each thread counts from its own measured start; the
  // threads start within a few ms of each other).
  const bySecond = new Map<number, RawTally[]>();
  for (const run of runs) for (const second of run.seconds) bySecond.set(second.second, [...(bySecond.get(second.second) ?? []), second]);
  const stageOf = (at: number) => {
    let found = 0;
    for (const stage of stages) if (Date.parse(stage.startedAt) <= at) found = stage.index;
    return found;
  };
  const seconds = [...bySecond.entries()].sort(([a], [b]) => a - b).map(([second, raws]) => ({ second, merged: mergeTallies(raws) }));
  const series: SeriesRow[] = seconds.map(({ second, merged }) => {
    const latency = summarizeLatency(merged.latency);
    return {
      second,
      stage: stageOf((measuredFrom ?? startedAt) + second * 1000),
      completed: merged.completed,
      succeeded: merged.succeeded,
      failed: merged.completed - merged.succeeded,
      dropped: merged.dropped,
      p50: latency.p50,
      p90: latency.p90,
      p99: latency.p99,
      max: latency.max,
    };
  });

  const warmupMerged = warmupRaws.length > 0 ? mergeTallies(warmupRaws) : null;

  const threads = runs.length;
  const generator = {
    threads,
    eventLoopUtilization: Math.max(...runs.map((run) => run.generator.eventLoopUtilization)),
    eventLoopDelayP99Ms: Math.max(...runs.map((run) => run.generator.eventLoopDelayP99Ms)),
  };
  const durationMs = measuredFrom === null ? 0 : finishedAt - measuredFrom;
  const report: LoadReport = {
    ...describeModel(plan.stages),
    distribution: plan.distribution,
    paths: plan.paths,
    seed: plan.seed,
    target: plan.target,
    requested: plannedRequests(plan.stages, 'measured'),
    cancelled,
    startedAt: iso(startedAt),
    finishedAt: iso(finishedAt),
    ...figures(measured, durationMs),
    perSecond: series.map((row) => row.completed),
    distinctPaths: PathSet.countUnion(runs.map((run) => run.paths)),
    stages,
    warmup: warmupMerged ? { requested: plannedRequests(plan.stages, 'warmup'), ...figures(warmupMerged, warmupMs) } : null,
    generator,
    warnings: warnings(generator, measured.dropped),
  };
  return { report, series, histogramLog: histogramLog(startedAt, measuredFrom, seconds, warmupMerged?.latency) };
}

/** The record of a thread that sent nothing: what a run cancelled before it began reports. */
export function emptyRun(plan: LoadPlan, at: number): RawRun {
  const none = { completed: 0, succeeded: 0, non2xx: 0, dropped: 0, statusCodes: {}, errors: {} };
  const histogram = newLatencyHistogram();
  const raw = { ...none, histogram: encodeIntoCompressedBase64(histogram) };
  histogram.destroy();
  return { startedAt: at, measuredFrom: null, finishedAt: at, cancelled: true, stages: [], measured: raw, seconds: [], paths: new Uint8Array(Math.ceil(plan.paths / 8)), generator: { eventLoopUtilization: 0, eventLoopDelayP99Ms: 0 } };
}

function warnings(generator: LoadReport['generator'], dropped: number): string[] {
  const found: string[] = [];
  if (generator.eventLoopUtilization >= BUSY_UTILIZATION) {
    found.push(`The load generator's thread was busy ${Math.round(generator.eventLoopUtilization * 100)}% of the run: the generator, not only the server, may be the bottleneck, and its latencies include time queued in the generator itself.`);
  }
  if (generator.eventLoopDelayP99Ms >= LAGGING_DELAY_MS) {
    found.push(`The load generator's event loop lagged ${generator.eventLoopDelayP99Ms} ms at p99: responses waited that long to be read, so latencies are overstated by up to that much.`);
  }
  if (dropped > 0) found.push(`${dropped} requests could not be sent within loadtest.maxLagMs of their due time and were dropped: the target rate was not reached.`);
  return found;
}

function histogramLog(startedAt: number, measuredFrom: number | null, seconds: ReadonlyArray<{ second: number; merged: { latency: Histogram } }>, warmup: Histogram | undefined): string {
  let log = '';
  const writer = new HistogramLogWriter((text) => { log += text; });
  writer.outputLogFormatVersion();
  writer.outputComment('hitcounter load test: latencies in µs from each request\'s due time; one interval per second of the measured part');
  writer.outputStartTime(startedAt);
  writer.outputLegend();
  if (warmup && warmup.totalCount > 0) {
    warmup.tag = 'warmup';
    writer.outputIntervalHistogram(warmup, 0, ((measuredFrom ?? startedAt) - startedAt) / 1000, 1000);
  }
  const offset = ((measuredFrom ?? startedAt) - startedAt) / 1000;
  for (const { second, merged } of seconds) {
    writer.outputIntervalHistogram(merged.latency, offset + second, offset + second + 1, 1000);
  }
  return log;
}

/** The series' columns, in order: `GET /test/jobs/{id}.csv`'s header. */
export const SERIES_COLUMNS = ['second', 'stage', 'completed', 'succeeded', 'failed', 'dropped', 'p50', 'p90', 'p99', 'max'] as const satisfies ReadonlyArray<keyof SeriesRow>;
