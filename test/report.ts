import test, { type ExecutionContext } from 'ava';
import { LoadRecorder, newLatencyHistogram, requestsPerSecond, summarizeLatency } from '../src/loadgen/report.js';

// HDR histograms keep 3 significant digits: a reading may be off by up to 0.1%, never more.
function near(t: ExecutionContext, actual: Record<string, number>, expected: Record<string, number>): void {
  for (const [name, value] of Object.entries(expected)) {
    t.true(Math.abs(actual[name]! - value) <= value * 0.001, `${name}: ${actual[name]} is not within 0.1% of ${value}`);
  }
}

test('latency summary of 1..100 ms reads the known percentiles', (t) => {
  const histogram = newLatencyHistogram();
  for (let ms = 1; ms <= 100; ms++) histogram.recordValue(ms * 1000);
  near(t, { ...summarizeLatency(histogram) }, { min: 1, mean: 50.5, p50: 50, p90: 90, p99: 99, max: 100 });
});

test('an empty histogram summarizes to zeros, not NaN', (t) => {
  t.deepEqual(summarizeLatency(newLatencyHistogram()), { min: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 });
});

test('requests per second is completed over seconds', (t) => {
  t.is(requestsPerSecond(1000, 500), 2000);
  t.is(requestsPerSecond(3, 1000), 3);
  t.is(requestsPerSecond(1, 3000), 0.33);
  t.is(requestsPerSecond(0, 0), 0);
});

test('the recorder counts successes, failures, status codes, errors and distinct paths', (t) => {
  const recorder = new LoadRecorder();
  for (const index of [1, 2, 2, 3, 3, 3]) recorder.path(index);
  recorder.response(200, 1);
  recorder.response(200, 3);
  recorder.response(204, 2);
  recorder.response(503, 10);
  recorder.response(400, 0.5);
  recorder.error('ECONNRESET');
  recorder.error('ECONNRESET');
  recorder.error('ETIMEDOUT');
  const report = recorder.report({ requested: 10, durationMs: 2000, concurrency: 4, seed: 9 });
  const { latencyMs, ...counts } = report;
  near(t, { ...latencyMs }, { min: 0.5, mean: 3.3, p50: 2, p90: 10, p99: 10, max: 10 });
  t.deepEqual(counts, {
    requested: 10,
    completed: 8,
    succeeded: 3,
    failed: 5,
    durationMs: 2000,
    requestsPerSecond: 4,
    statusCodes: { '200': 2, '204': 1, '400': 1, '503': 1 },
    errors: { ECONNRESET: 2, ETIMEDOUT: 1 },
    distinctPaths: 3,
    concurrency: 4,
    seed: 9,
  });
});
