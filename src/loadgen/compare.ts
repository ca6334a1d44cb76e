// Two finished runs compared: the difference in rate, latency and errors, whether each difference
// stands out of run-to-run noise, and a plain verdict of which run is faster. The noise comes from
// the runs' own per-second series (METHOD says how). Pure: the route and the CLI only show it.
import type { LoadReport, SeriesRow, StageReport } from './merge.js';

export const METRICS = ['requestsPerSecond', 'p50', 'p90', 'p99', 'p99_9', 'errorRate'] as const;
export type Metric = (typeof METRICS)[number];
type Winner = 'a' | 'b' | 'neither';

export interface RunToCompare {
  id: string;
  report: LoadReport;
  series: readonly SeriesRow[];
}

export interface MetricComparison {
  metric: Metric;
  unit: 'req/s' | 'ms' | '%';
  a: number;
  b: number;
  /** b − a. */
  difference: number;
  /** (b − a) / a × 100; null when a is 0. */
  changePercent: number | null;
  /** Welch's standard error of the difference of the per-second means; null when it cannot be estimated. */
  standardError: number | null;
  /** |difference| > 2 × standardError (with no spread at all: the per-second means differ); false when the noise could not be estimated. */
  beyondNoise: boolean;
  /** The run this metric favours: the higher rate, the lower latency or error rate. */
  better: Winner;
}

export interface Comparison {
  a: RunSummary;
  b: RunSummary;
  metrics: MetricComparison[];
  verdict: { summary: string; faster: Winner; decidedBy: Metric; beyondNoise: boolean };
  noise: { estimated: boolean; reason: string | null };
  method: string;
  /** When the runs are not alike (plan, target, a cancelled run, a strained generator), so the comparison may mislead. */
  warnings: string[];
}

export interface RunSummary {
  id: string;
  model: LoadReport['model'];
  rate: number | null;
  concurrency: number;
  completed: number;
  durationMs: number;
  /** Seconds of the series the noise was estimated from: all but the first and the last. */
  fullSeconds: number;
}

/** Below this many full seconds in either run, a spread means nothing. */
export const MIN_SECONDS = 3;
/** ≈95% two-sided under a normal approximation. */
const Z = 2;

export const METHOD =
  'The figures compared are each run\'s whole-run figures (its report). Run-to-run noise is estimated from the runs\' per-second series: ' +
  'the first and the last second of each run are dropped (partial seconds, ramp edges), and every other second gives one value of ' +
  'throughput (requests completed in it), error rate ((failed + dropped) / (completed + dropped)), p50, p90 and p99 (seconds in which ' +
  'nothing completed give no latency). For each metric the standard error of the difference between the two runs\' per-second means is ' +
  'Welch\'s, √(s²a/na + s²b/nb), with s² the sample variance; a difference is beyond noise when it exceeds twice that standard error ' +
  '(about 95% confidence under a normal approximation); when nothing varied from second to second in either run, when the per-second ' +
  'means differ at all. p99.9 has no per-second column: its per-second spread is taken as p99\'s ' +
  'relative spread (coefficient of variation) in each run, times that run\'s p99.9, which likely understates the noise of so far a tail. ' +
  `With fewer than ${MIN_SECONDS} full seconds in either run the noise is not estimated and no difference is called significant. ` +
  'Caveats: adjacent seconds are correlated (a queue carries over), which makes this estimate somewhat optimistic; a measured part ' +
  'that ramps or has several stages varies by plan from second to second, which makes it pessimistic.';

const UNITS: Record<Metric, MetricComparison['unit']> = { requestsPerSecond: 'req/s', p50: 'ms', p90: 'ms', p99: 'ms', p99_9: 'ms', errorRate: '%' };
const NAMES: Record<Metric, string> = { requestsPerSecond: 'throughput', p50: 'p50', p90: 'p90', p99: 'p99', p99_9: 'p99.9', errorRate: 'error rate' };

const round = (value: number, digits = 3) => Math.round(value * 10 ** digits) / 10 ** digits;

/** Percent of the requests due that failed or were never sent. */
export function errorRate(figures: { completed: number; failed: number; dropped: number }): number {
  const due = figures.completed + figures.dropped;
  return due === 0 ? 0 : ((figures.failed + figures.dropped) / due) * 100;
}

function valueOf(report: LoadReport, metric: Metric): number {
  if (metric === 'requestsPerSecond') return report.requestsPerSecond;
  if (metric === 'errorRate') return errorRate(report);
  return report.latencyMs[metric];
}

/** Mean and sample variance, or null below MIN_SECONDS values. */
function spread(values: readonly number[]): { n: number; mean: number; variance: number } | null {
  const n = values.length;
  if (n < MIN_SECONDS) return null;
  const mean = values.reduce((sum, v) => sum + v, 0) / n;
  const variance = values.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1);
  return { n, mean, variance };
}

/** The seconds that tell the noise: all but the first and the last. */
const fullSeconds = (series: readonly SeriesRow[]) => [...series].sort((x, y) => x.second - y.second).slice(1, -1);

/** Per-second values of each metric that has a column (p99.9 has none). */
function perSecond(rows: readonly SeriesRow[]): Record<Exclude<Metric, 'p99_9'>, number[]> {
  const answered = rows.filter((row) => row.completed > 0);
  return {
    requestsPerSecond: rows.map((row) => row.completed),
    errorRate: rows.filter((row) => row.completed + row.dropped > 0).map(errorRate),
    p50: answered.map((row) => row.p50),
    p90: answered.map((row) => row.p90),
    p99: answered.map((row) => row.p99),
  };
}

type SeriesSpread = Record<Exclude<Metric, 'p99_9'>, ReturnType<typeof spread>>;

/** Welch's standard error of the difference of two means. */
function welch(a: { n: number; variance: number }, b: { n: number; variance: number }): number {
  return Math.sqrt(a.variance / a.n + b.variance / b.n);
}

/** The standard error of the difference, and whether the per-second means differ at all (what a zero standard error leaves to say). */
function noiseOf(metric: Metric, a: SeriesSpread, b: SeriesSpread, values: { a: number; b: number }): { se: number; meansDiffer: boolean } | null {
  const [x, y] = metric === 'p99_9' ? [a.p99, b.p99] : [a[metric], b[metric]];
  if (!x || !y) return null;
  const meansDiffer = x.mean !== y.mean;
  if (metric !== 'p99_9') return { se: welch(x, y), meansDiffer };
  // p99's coefficient of variation, per run, scaled to that run's p99.9.
  if (x.mean === 0 || y.mean === 0) return null;
  return { se: welch({ n: x.n, variance: (x.variance / x.mean ** 2) * values.a ** 2 }, { n: y.n, variance: (y.variance / y.mean ** 2) * values.b ** 2 }), meansDiffer };
}

function spreads(rows: readonly SeriesRow[]): SeriesSpread {
  const values = perSecond(rows);
  return { requestsPerSecond: spread(values.requestsPerSecond), errorRate: spread(values.errorRate), p50: spread(values.p50), p90: spread(values.p90), p99: spread(values.p99) };
}

function compareMetric(metric: Metric, a: RunToCompare, b: RunToCompare, noise: { a: SeriesSpread; b: SeriesSpread } | null): MetricComparison {
  const values = { a: valueOf(a.report, metric), b: valueOf(b.report, metric) };
  const difference = values.b - values.a;
  const found = noise ? noiseOf(metric, noise.a, noise.b, values) : null;
  // With no spread at all, a difference made only in the edge seconds (left out) is no evidence.
  const beyondNoise = found !== null && (found.se > 0 ? Math.abs(difference) > Z * found.se : difference !== 0 && found.meansDiffer);
  const higherIsBetter = metric === 'requestsPerSecond';
  const better: Winner = difference === 0 ? 'neither' : (difference > 0) === higherIsBetter ? 'b' : 'a';
  return {
    metric,
    unit: UNITS[metric],
    a: round(values.a),
    b: round(values.b),
    difference: round(difference),
    changePercent: values.a === 0 ? null : round((difference / values.a) * 100, 1),
    standardError: found === null ? null : round(found.se),
    beyondNoise,
    better,
  };
}

/** The measured stages' plan, or (without concurrency, an open stage's cap) the rate schedule an open run was held to. */
const schedule = (stages: readonly StageReport[], withConcurrency = true) =>
  JSON.stringify(stages.filter((stage) => !stage.warmup).map(({ model, rate, concurrency, requested, plannedDurationMs }) => ({ model, rate, requested, plannedDurationMs, ...(withConcurrency ? { concurrency } : {}) })));

const warmupPlan = (stages: readonly StageReport[]) => JSON.stringify(stages.filter((stage) => stage.warmup).map(({ rate, concurrency, plannedDurationMs }) => ({ rate, concurrency, plannedDurationMs })));

function planWarnings(a: RunToCompare, b: RunToCompare): string[] {
  const found: string[] = [];
  const differs = (what: string, x: unknown, y: unknown) => {
    if (x !== y) found.push(`The runs differ in ${what} (a: ${String(x)}, b: ${String(y)}): the comparison is of apples and oranges.`);
  };
  differs('target', a.report.target, b.report.target);
  differs('model', a.report.model, b.report.model);
  differs('path distribution', a.report.distribution, b.report.distribution);
  differs('number of paths', a.report.paths, b.report.paths);
  if (a.report.model === b.report.model && schedule(a.report.stages) !== schedule(b.report.stages)) {
    found.push('The runs differ in their stages (rate, concurrency, count or duration): the comparison is of apples and oranges.');
  }
  if (warmupPlan(a.report.stages) !== warmupPlan(b.report.stages)) found.push('The runs differ in their warm-up: one server may have been warmer than the other.');
  for (const [name, run] of [['a', a], ['b', b]] as const) {
    if (run.report.cancelled) found.push(`Run ${name} was cancelled: its figures cover only part of its plan.`);
    for (const warning of run.report.warnings) found.push(`Run ${name}: ${warning}`);
  }
  if (a.id === b.id) found.push('a and b are the same run: every difference is zero.');
  return found;
}

/** Latency decides between open runs at the same rate schedule: their rate was fixed, not measured. */
function decider(a: LoadReport, b: LoadReport, metrics: readonly MetricComparison[]): MetricComparison {
  const byName = (metric: Metric) => metrics.find((m) => m.metric === metric)!;
  if (!(a.model === 'open' && b.model === 'open' && schedule(a.stages, false) === schedule(b.stages, false))) return byName('requestsPerSecond');
  const candidates = [byName('p99'), byName('p50')];
  return candidates.find((m) => m.beyondNoise) ?? candidates.find((m) => m.difference !== 0) ?? candidates[0]!;
}

const show = (m: MetricComparison, value: number) => (m.unit === 'req/s' ? `${value} req/s` : m.unit === 'ms' ? `${value} ms` : `${value}%`);

function verdictOf(a: RunToCompare, b: RunToCompare, metrics: readonly MetricComparison[]): Comparison['verdict'] {
  const decided = decider(a.report, b.report, metrics);
  const name = NAMES[decided.metric];
  const how = decided.metric === 'requestsPerSecond' ? 'by throughput' : `by ${name} latency, at the same fixed rate`;
  let summary: string;
  if (decided.better === 'neither') {
    summary = `Neither run is faster ${how}: both have ${show(decided, decided.a)}.`;
  } else {
    const [winner, loser] = decided.better === 'a' ? [decided.a, decided.b] : [decided.b, decided.a];
    const change = decided.changePercent === null ? '' : ` (${decided.changePercent > 0 ? '+' : ''}${decided.changePercent}% from a to b)`;
    summary = `Run ${decided.better} is faster ${how}: ${show(decided, winner)} against ${show(decided, loser)}${change}; `;
    summary += decided.standardError === null ? 'whether that exceeds run-to-run noise cannot be said, as a run is too short to estimate it.'
      : decided.beyondNoise ? `the difference is beyond run-to-run noise (more than twice its standard error of ${show(decided, decided.standardError!)}).`
      : `but the difference is within run-to-run noise (standard error ${show(decided, decided.standardError!)}), so it may be chance.`;
  }
  // A run that is faster because it fails fast is not better.
  const errors = metrics.find((m) => m.metric === 'errorRate')!;
  if (decided.better !== 'neither' && errors.beyondNoise && errors.better !== decided.better) {
    summary += ` But run ${decided.better} has the higher error rate (${errors[decided.better]}% against ${errors[errors.better as 'a' | 'b']}%).`;
  }
  return { summary, faster: decided.better, decidedBy: decided.metric, beyondNoise: decided.better !== 'neither' && decided.beyondNoise };
}

export function compareRuns(a: RunToCompare, b: RunToCompare): Comparison {
  const rows = { a: fullSeconds(a.series), b: fullSeconds(b.series) };
  const estimated = rows.a.length >= MIN_SECONDS && rows.b.length >= MIN_SECONDS;
  const noise = estimated ? { a: spreads(rows.a), b: spreads(rows.b) } : null;
  const metrics = METRICS.map((metric) => compareMetric(metric, a, b, noise));
  const summary = (run: RunToCompare, full: number): RunSummary => ({
    id: run.id, model: run.report.model, rate: run.report.rate, concurrency: run.report.concurrency, completed: run.report.completed, durationMs: run.report.durationMs, fullSeconds: full,
  });
  return {
    a: summary(a, rows.a.length),
    b: summary(b, rows.b.length),
    metrics,
    verdict: verdictOf(a, b, metrics),
    noise: {
      estimated,
      reason: estimated ? null : `Run-to-run noise cannot be estimated: it takes at least ${MIN_SECONDS} full seconds in each run (a: ${rows.a.length}, b: ${rows.b.length}; the first and last second of a run do not count), so no difference is called significant.`,
    },
    method: METHOD,
    warnings: planWarnings(a, b),
  };
}
