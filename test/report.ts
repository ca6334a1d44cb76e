import test, { type ExecutionContext } from 'ava';
import { LoadRecorder, newLatencyHistogram, requestsPerSecond, summarizeLatency } from '../src/loadgen/report.js';

// HDR histograms keep 3 significant digits: a reading may be off by up to 0.1%, never more.
function near(t: ExecutionContext, actual: Record<string, number>, expected: Record<string, number>): void {
  for (const [name, value] of Object.entries(expected)) {
    t.true(Math.abs(actual[name]! - value) <= value * 0.001, `${name}: ${actual[name]} is not within 0.1% of ${value}`);
  }
}

const description = { model: 'closed' as const, rate: null, concurrency: 4, distribution: 'zipf', paths: 10, seed: 9, target: 'http://127.0.0.1:1' };

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

test('the recorder counts successes, failures, non-2xx, errors, drops, seconds and distinct paths', (t) => {
  const recorder = new LoadRecorder();
  for (const index of [1, 2, 2, 3, 3, 3]) recorder.path(index);
  recorder.response(200, 1, 10);
  recorder.response(200, 3, 20);
  recorder.response(204, 2, 999);
  recorder.response(503, 10, 1000);
  recorder.response(400, 0.5, 2500);
  recorder.error('ECONNRESET', 2600);
  recorder.error('ECONNRESET', 2700);
  recorder.error('ETIMEDOUT', 2800);
  recorder.drop();
  recorder.drop();
  const startedAt = Date.parse('2026-01-01T00:00:00Z');
  const report = recorder.report({ ...description, requested: 10, startedAt, finishedAt: startedAt + 2000, cancelled: false });
  const { latencyMs, ...counts } = report;
  near(t, { ...latencyMs }, { min: 0.5, mean: 3.3, p50: 2, p90: 10, p99: 10, max: 10 });
  t.deepEqual(counts, {
    ...description,
    requested: 10,
    completed: 8,
    succeeded: 3,
    failed: 5,
    non2xx: 2,
    dropped: 2,
    cancelled: false,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:00:02.000Z',
    durationMs: 2000,
    requestsPerSecond: 4,
    perSecond: [3, 1, 4],
    statusCodes: { '200': 2, '204': 1, '400': 1, '503': 1 },
    errors: { ECONNRESET: 2, ETIMEDOUT: 1 },
    distinctPaths: 3,
  });
});

test('progress reports completed, rps and p99 so far', (t) => {
  const recorder = new LoadRecorder();
  for (let i = 1; i <= 100; i++) recorder.response(i <= 90 ? 200 : 500, i, i * 10);
  recorder.drop();
  const progress = recorder.progress(1000);
  const { p99, ...rest } = progress;
  t.deepEqual(rest, { completed: 100, succeeded: 90, failed: 10, dropped: 1, elapsedMs: 1000, requestsPerSecond: 100 });
  near(t, { p99 }, { p99: 99 });
});
