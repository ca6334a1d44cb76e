import test, { type ExecutionContext } from 'ava';
import { decodeFromCompressedBase64, HistogramLogReader } from 'hdr-histogram-js';
import { mergeRuns } from '../src/loadgen/merge.js';
import { newLatencyHistogram, PathSet, requestsPerSecond, Seconds, summarizeLatency, Tally } from '../src/loadgen/report.js';
import type { LoadPlan, RawRun } from '../src/loadgen/runner.js';
import { resolveStage } from '../src/loadgen/stages.js';

// HDR histograms keep 3 significant digits: a reading may be off by up to 0.1%, never more.
function near(t: ExecutionContext, actual: Record<string, number>, expected: Record<string, number>): void {
  for (const [name, value] of Object.entries(expected)) {
    t.true(Math.abs(actual[name]! - value) <= value * 0.001, `${name}: ${actual[name]} is not within 0.1% of ${value}`);
  }
}

test('latency summary of 1..1000 ms reads the known percentiles, mean and stddev', (t) => {
  const histogram = newLatencyHistogram();
  for (let ms = 1; ms <= 1000; ms++) histogram.recordValue(ms * 1000);
  // Population stddev of 1..1000 is sqrt((1000² - 1) / 12).
  near(t, { ...summarizeLatency(histogram) }, { min: 1, mean: 500.5, stddev: Math.sqrt((1000 ** 2 - 1) / 12), p50: 500, p90: 900, p99: 990, p99_9: 999, max: 1000 });
});

test('an empty histogram summarizes to zeros, not NaN', (t) => {
  t.deepEqual(summarizeLatency(newLatencyHistogram()), { min: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0, p99_9: 0, max: 0 });
});

test('requests per second is completed over seconds', (t) => {
  t.is(requestsPerSecond(1000, 500), 2000);
  t.is(requestsPerSecond(3, 1000), 3);
  t.is(requestsPerSecond(1, 3000), 0.33);
  t.is(requestsPerSecond(0, 0), 0);
});

test('a tally counts successes, failures, non-2xx, errors and drops, and encodes its histogram', (t) => {
  const tally = new Tally();
  tally.response(200, 1);
  tally.response(200, 3);
  tally.response(204, 2);
  tally.response(503, 10);
  tally.response(400, 0.5);
  tally.error('ECONNRESET');
  tally.error('ECONNRESET');
  tally.error('ETIMEDOUT');
  tally.drop();
  tally.drop();
  const { histogram, ...counts } = tally.raw();
  t.deepEqual(counts, {
    completed: 8, succeeded: 3, non2xx: 2, dropped: 2,
    statusCodes: { '200': 2, '204': 1, '400': 1, '503': 1 },
    errors: { ECONNRESET: 2, ETIMEDOUT: 1 },
  });
  near(t, { ...summarizeLatency(decodeFromCompressedBase64(histogram)) }, { min: 0.5, mean: 3.3, p50: 2, p90: 10, p99: 10, max: 10 });
});

test('seconds: one tally per second, the empty ones kept as zeros, the current one included', (t) => {
  const seconds = new Seconds();
  for (const at of [10, 999, 1000, 2500, 2600, 2999]) seconds.at(at).response(200, 1);
  seconds.at(4000).drop();
  t.deepEqual(seconds.finish().map(({ second, completed, dropped }) => [second, completed, dropped]), [[0, 2, 0], [1, 1, 0], [2, 3, 0], [3, 0, 0], [4, 0, 1]]);
});

test('a path set counts the distinct indices of several threads, each once', (t) => {
  const a = new PathSet(20);
  const b = new PathSet(20);
  for (const index of [0, 1, 2, 2, 19]) a.add(index);
  for (const index of [2, 3, 19, 8]) b.add(index);
  t.is(PathSet.countUnion([a.bits]), 4);
  t.is(PathSet.countUnion([a.bits, b.bits]), 6);
  t.is(PathSet.countUnion([]), 0);
});

/** A thread's record: one stage of `latencies` (ms), answered 200, one per 10 ms of the measured second. */
function threadRun(latencies: number[], at = Date.parse('2026-01-01T00:00:00Z')): RawRun {
  const stage = new Tally();
  const measured = new Tally();
  const seconds = new Seconds();
  const paths = new PathSet(10);
  latencies.forEach((ms, i) => {
    for (const tally of [stage, measured, seconds.at(i * 10)]) tally.response(200, ms);
    paths.add(i % 10);
  });
  return {
    startedAt: at, measuredFrom: at, finishedAt: at + 1000, cancelled: false,
    stages: [{ ...stage.raw(), startedAt: at, finishedAt: at + 1000 }],
    measured: measured.raw(), seconds: seconds.finish(), paths: paths.bits,
    generator: { eventLoopUtilization: 0.5, eventLoopDelayP99Ms: 1 },
  };
}

const onePlan = (requests: number): LoadPlan => ({
  stages: [resolveStage({ requests, concurrency: 2 }, 2)],
  distribution: 'uniform', paths: 10, zipfExponent: 1, seed: 9, target: 'http://127.0.0.1:1', threads: 2,
  batchSize: 10, requestTimeoutMs: 1000, maxLagMs: 100, progressIntervalMs: 100, loadgenSecret: 's',
});

test('threads merge exactly: two threads report what one thread recording everything would', (t) => {
  const first = Array.from({ length: 60 }, (_, i) => 1 + i * 0.37);
  const second = Array.from({ length: 40 }, (_, i) => 50 + i * 3.1);
  const merged = mergeRuns(onePlan(100), [threadRun(first), threadRun(second)]);
  const alone = mergeRuns(onePlan(100), [threadRun([...first, ...second])]);
  t.deepEqual(merged.report.latencyMs, alone.report.latencyMs);
  t.deepEqual(merged.report.stages[0]!.latencyMs, alone.report.stages[0]!.latencyMs);
  t.like(merged.report, { completed: 100, succeeded: 100, requestsPerSecond: 100, distinctPaths: 10, requested: 100 });
  t.deepEqual(merged.series.map((row) => row.completed), alone.series.map((row) => row.completed));
  t.deepEqual(merged.series.map((row) => row.p99), alone.series.map((row) => row.p99));
  t.is(merged.report.generator.threads, 2);
});

test('the HdrHistogram log decodes back to the report\'s percentiles', (t) => {
  const latencies = Array.from({ length: 250 }, (_, i) => 0.2 + ((i * 7919) % 997) / 10);
  const { report, histogramLog } = mergeRuns(onePlan(250), [threadRun(latencies)]);
  t.regex(histogramLog, /^#\[Histogram log format version 1\.3\]/);
  const reader = new HistogramLogReader(histogramLog);
  const total = newLatencyHistogram();
  let intervals = 0;
  for (let next = reader.nextIntervalHistogram(); next; next = reader.nextIntervalHistogram()) {
    total.add(next);
    intervals++;
  }
  t.is(intervals, 3, 'one interval per measured second');
  t.is(total.totalCount, 250);
  t.deepEqual(summarizeLatency(total), report.latencyMs);
});

test('a run\'s warnings say when the generator itself was the bottleneck, or dropped requests', (t) => {
  const busy = threadRun([1, 2, 3]);
  busy.generator = { eventLoopUtilization: 0.97, eventLoopDelayP99Ms: 35 };
  const { warnings } = mergeRuns(onePlan(3), [busy]).report;
  t.is(warnings.length, 2);
  t.regex(warnings[0]!, /busy 97% of the run/);
  t.regex(warnings[1]!, /lagged 35 ms at p99/);
  t.deepEqual(mergeRuns(onePlan(3), [threadRun([1, 2, 3])]).report.warnings, []);
});
