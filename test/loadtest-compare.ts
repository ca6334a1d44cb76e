// Comparing two runs (issue 17): compareRuns on constructed runs whose noise is known by
// construction, then the route and the CLI on real runs.
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { compareRuns, errorRate, METRICS, type Comparison, type Metric, type RunToCompare } from '../src/loadgen/compare.js';
import type { Job, JobReport } from '../src/loadgen/jobs.js';
import type { LoadReport, SeriesRow, StageReport } from '../src/loadgen/merge.js';
import { SERIES_COLUMNS } from '../src/loadgen/merge.js';
import { startApp, withApp, type TestApp } from './helpers/app.js';
import { hitcounter } from './helpers/cli.js';
import { tempDir } from './helpers/tmp.js';

// ---- Constructed runs

const latency = (p50: number, p99: number) => ({ min: p50 / 2, mean: p50, stddev: p50 / 4, p50, p90: (p50 + p99) / 2, p99, p99_9: p99 * 1.5, max: p99 * 2 });

const stage = (more: Partial<StageReport> = {}): StageReport => ({
  index: 0, warmup: false, model: 'closed', rate: null, concurrency: 10, requested: 10_000, plannedDurationMs: null,
  startedAt: '2026-12-01T00:00:00.000Z', finishedAt: '2026-12-01T00:00:10.000Z',
  completed: 0, succeeded: 0, failed: 0, non2xx: 0, dropped: 0, durationMs: 10_000, requestsPerSecond: 0, latencyMs: latency(1, 2), statusCodes: {}, errors: {},
  ...more,
});

function report(more: Partial<LoadReport> = {}): LoadReport {
  return {
    model: 'closed', rate: null, concurrency: 10, distribution: 'zipf', paths: 1000, seed: 1, target: 'http://127.0.0.1:5000', requested: 10_000, cancelled: false,
    startedAt: '2026-12-01T00:00:00.000Z', finishedAt: '2026-12-01T00:00:10.000Z',
    completed: 10_000, succeeded: 10_000, failed: 0, non2xx: 0, dropped: 0, durationMs: 10_000, requestsPerSecond: 1000, latencyMs: latency(1, 2), statusCodes: { '200': 10_000 }, errors: {},
    perSecond: [], distinctPaths: 1000, stages: [stage()], warmup: null, generator: { threads: 1, eventLoopUtilization: 0.2, eventLoopDelayP99Ms: 1 }, warnings: [],
    ...more,
  };
}

/** Series rows from per-second values; the first and last (edge) rows get wild values, which must not count. */
function series(values: Array<Partial<SeriesRow>>): SeriesRow[] {
  const edge = { completed: 1, succeeded: 1, failed: 0, dropped: 0, p50: 999, p90: 999, p99: 999, max: 999 };
  const rows = [edge, ...values, edge].map((row, second) => ({ second, stage: 0, completed: 0, succeeded: 0, failed: 0, dropped: 0, p50: 1, p90: 1.5, p99: 2, max: 4, ...row }));
  // Shuffled: the seconds are put in order by their index, not by their place.
  return [...rows.slice(1), rows[0]!].map((row) => ({ ...row, succeeded: row.completed - row.failed }));
}

const run = (id: string, more: Partial<LoadReport>, values: Array<Partial<SeriesRow>>): RunToCompare => ({ id, report: report(more), series: series(values) });
const metric = (comparison: Comparison, name: Metric) => comparison.metrics.find((m) => m.metric === name)!;
const close = (actual: number | null, expected: number) => actual !== null && Math.abs(actual - expected) < 0.001;

test('b at twice the throughput, with little spread: b is faster, beyond noise, by throughput', (t) => {
  const a = run('a', { requestsPerSecond: 1000 }, [990, 1010, 1000, 995, 1005].map((completed) => ({ completed })));
  const b = run('b', { requestsPerSecond: 2000 }, [1990, 2010, 2000, 1995, 2005].map((completed) => ({ completed })));
  const comparison = compareRuns(a, b);
  t.deepEqual(comparison.metrics.map((m) => m.metric), [...METRICS]);
  const rps = metric(comparison, 'requestsPerSecond');
  t.like(rps, { unit: 'req/s', a: 1000, b: 2000, difference: 1000, changePercent: 100, beyondNoise: true, better: 'b' });
  // Welch by hand: both samples have variance 62.5 over n = 5, so √(62.5/5 + 62.5/5) = 5.
  t.true(close(rps.standardError, 5), String(rps.standardError));
  t.like(comparison.verdict, { faster: 'b', decidedBy: 'requestsPerSecond', beyondNoise: true });
  t.regex(comparison.verdict.summary, /^Run b is faster by throughput: 2000 req\/s against 1000 req\/s \(\+100% from a to b\); the difference is beyond run-to-run noise/);
  t.like(comparison.noise, { estimated: true, reason: null });
  t.like(comparison.a, { id: 'a', fullSeconds: 5 });
  t.regex(comparison.method, /Welch/);
  t.regex(comparison.method, /p99\.9 has no per-second column/);
  t.deepEqual(comparison.warnings, []);
});

test('a difference within the per-second spread is not beyond noise, and the verdict says it may be chance', (t) => {
  const a = run('a', { requestsPerSecond: 1000 }, [900, 1100, 950, 1050, 1000].map((completed) => ({ completed })));
  const b = run('b', { requestsPerSecond: 1010 }, [910, 1110, 960, 1060, 1010].map((completed) => ({ completed })));
  const comparison = compareRuns(a, b);
  const rps = metric(comparison, 'requestsPerSecond');
  // Variance 6250 each, n = 5: SE = √(2 · 6250 / 5) = 50; 10 req/s is well inside 2 × 50.
  t.true(close(rps.standardError, 50));
  t.like(rps, { difference: 10, beyondNoise: false, better: 'b' });
  t.like(comparison.verdict, { faster: 'b', decidedBy: 'requestsPerSecond', beyondNoise: false });
  t.regex(comparison.verdict.summary, /within run-to-run noise .*may be chance/);
});

test('with fewer than 3 full seconds in a run, nothing is called significant', (t) => {
  const a = run('a', { requestsPerSecond: 1000 }, [1000, 1000, 1000, 1000].map((completed) => ({ completed })));
  const b = run('b', { requestsPerSecond: 5000, latencyMs: latency(0.1, 0.2) }, [5000, 5000].map((completed) => ({ completed })));
  const comparison = compareRuns(a, b);
  t.like(comparison.noise, { estimated: false });
  t.regex(comparison.noise.reason!, /at least 3 full seconds in each run \(a: 4, b: 2/);
  for (const m of comparison.metrics) t.like(m, { standardError: null, beyondNoise: false }, m.metric);
  t.like(comparison.verdict, { faster: 'b', decidedBy: 'requestsPerSecond', beyondNoise: false });
  t.regex(comparison.verdict.summary, /cannot be said/);
});

test('open runs at the same rate are decided by latency: p99, else p50', (t) => {
  const open = { model: 'open' as const, rate: 500, requestsPerSecond: 500, stages: [stage({ model: 'open', rate: { from: 500, to: 500 }, requested: 5000, plannedDurationMs: 10_000 })] };
  const seconds = (p50: number, p99: number) => [0, 1, 2, 3, 4, 5].map((i) => ({ completed: 500, p50: p50 + (i % 2) * 0.1, p99: p99 + (i % 3) * 0.2 }));
  // b's p99 is half of a's, far beyond a spread of tenths of a ms; throughput is the same (the rate).
  let comparison = compareRuns(run('a', { ...open, latencyMs: latency(2, 20) }, seconds(2, 20)), run('b', { ...open, latencyMs: latency(2, 10) }, seconds(2, 10)));
  t.like(comparison.verdict, { faster: 'b', decidedBy: 'p99', beyondNoise: true });
  t.regex(comparison.verdict.summary, /^Run b is faster by p99 latency, at the same fixed rate: 10 ms against 20 ms/);
  t.like(metric(comparison, 'requestsPerSecond'), { difference: 0, beyondNoise: false, better: 'neither' });
  t.deepEqual(comparison.warnings, []);

  // The same p99 (within noise), a p50 clearly lower in a: p50 decides.
  comparison = compareRuns(run('a', { ...open, latencyMs: latency(1, 20) }, seconds(1, 20)), run('b', { ...open, latencyMs: { ...latency(3, 20), p99: 20.1 } }, seconds(3, 20)));
  t.like(metric(comparison, 'p99'), { beyondNoise: false });
  t.like(comparison.verdict, { faster: 'a', decidedBy: 'p50', beyondNoise: true });

  // Another connection cap is another plan (said), but the same rate: latency still decides.
  const capped = { ...open, stages: [stage({ model: 'open', rate: { from: 500, to: 500 }, requested: 5000, plannedDurationMs: 10_000, concurrency: 50 })] };
  comparison = compareRuns(run('a', { ...open, latencyMs: latency(2, 20) }, seconds(2, 20)), run('b', { ...capped, latencyMs: latency(2, 10) }, seconds(2, 10)));
  t.like(comparison.verdict, { faster: 'b', decidedBy: 'p99' });
  t.true(comparison.warnings.some((w) => /differ in their stages/.test(w)), comparison.warnings.join('\n'));

  // At different rates, throughput decides, and the plans are said to differ.
  const faster = { ...open, rate: 1000, requestsPerSecond: 1000, stages: [stage({ model: 'open', rate: { from: 1000, to: 1000 }, requested: 10_000, plannedDurationMs: 10_000 })] };
  comparison = compareRuns(run('a', open, seconds(2, 20)), run('b', faster, seconds(2, 20).map((row) => ({ ...row, completed: 1000 }))));
  t.like(comparison.verdict, { faster: 'b', decidedBy: 'requestsPerSecond' });
  t.true(comparison.warnings.some((w) => /differ in their stages/.test(w)), comparison.warnings.join('\n'));
});

test('p99.9 takes its noise from p99\'s relative spread in each run', (t) => {
  const p99s = [9, 11, 10, 12, 8]; // mean 10, variance 2.5: a coefficient of variation of √2.5 / 10
  const a = run('a', { latencyMs: { ...latency(1, 10), p99_9: 30 } }, p99s.map((p99) => ({ completed: 1000, p99 })));
  const b = run('b', { latencyMs: { ...latency(1, 20), p99_9: 60 } }, p99s.map((p99) => ({ completed: 1000, p99: p99 * 2 })));
  const se = metric(compareRuns(a, b), 'p99_9').standardError;
  // Each run's p99.9 spread: CV² · p99.9² = 0.025 · 30² and 0.025 · 60².
  t.true(close(se, Math.sqrt((0.025 * 30 ** 2) / 5 + (0.025 * 60 ** 2) / 5)), String(se));
});

test('error rate: percent of the requests due that failed or were dropped; a faster run with more errors is flagged', (t) => {
  t.is(errorRate({ completed: 90, failed: 5, dropped: 10 }), 15);
  t.is(errorRate({ completed: 0, failed: 0, dropped: 0 }), 0);
  const clean = [1000, 1000, 1000, 1000].map((completed, i) => ({ completed: completed + i, failed: 0 }));
  const failing = [2000, 2000, 2000, 2000].map((completed, i) => ({ completed: completed + i, failed: 400 + i }));
  const comparison = compareRuns(run('a', {}, clean), run('b', { requestsPerSecond: 2000, completed: 20_000, failed: 4000 }, failing));
  t.like(metric(comparison, 'errorRate'), { unit: '%', a: 0, b: 20, beyondNoise: true, better: 'a' });
  t.like(comparison.verdict, { faster: 'b', beyondNoise: true });
  t.regex(comparison.verdict.summary, /But run b has the higher error rate \(20% against 0%\)/);
});

test('a difference made only in the edge seconds, with no spread at all, is not beyond noise', (t) => {
  const flat = [500, 500, 500, 500].map((completed) => ({ completed }));
  const comparison = compareRuns(run('a', { requestsPerSecond: 500 }, flat), run('b', { requestsPerSecond: 499.5 }, flat));
  t.like(metric(comparison, 'requestsPerSecond'), { standardError: 0, beyondNoise: false });
});

test('runs of different plans, targets or health are warned about; a run with itself differs in nothing', (t) => {
  const values = [1000, 1000, 1000].map((completed) => ({ completed }));
  const a = run('a', {}, values);
  const b = run('b', { model: 'open', rate: 1000, target: 'http://127.0.0.1:5001', distribution: 'uniform', cancelled: true, warnings: ['The load generator\'s thread was busy 95% of the run'] }, values);
  const warnings = compareRuns(a, b).warnings.join('\n');
  t.regex(warnings, /differ in target \(a: http:\/\/127\.0\.0\.1:5000, b: http:\/\/127\.0\.0\.1:5001\)/);
  t.regex(warnings, /differ in model \(a: closed, b: open\)/);
  t.regex(warnings, /differ in path distribution/);
  t.regex(warnings, /Run b was cancelled/);
  t.regex(warnings, /Run b: The load generator's thread was busy/);

  const self = compareRuns(a, a);
  t.true(self.metrics.every((m) => m.difference === 0 && !m.beyondNoise && m.better === 'neither'));
  t.like(self.verdict, { faster: 'neither', beyondNoise: false });
  t.deepEqual(self.warnings, ['a and b are the same run: every difference is zero.']);
});

// ---- Through the app

/** Runs a load test to its end; its job id. */
async function loadRun(t: { is(actual: unknown, expected: unknown, message?: string): void }, app: TestApp, path: string): Promise<string> {
  const response = await app.http.post<JobReport>(path);
  t.is(response.statusCode, 200, JSON.stringify(response.body));
  return String(response.headers['content-location']).split('/').pop()!;
}

test('GET /test/jobs/{a}/compare/{b} compares two real runs', async (t) => {
  // No drops on a busy machine: this test is about the comparison, not the pacing.
  const app = await startApp(t, { tweak: (s) => { s.loadtest.maxLagMs = 600_000; } });
  // 500 requests at 100/s last at least 5 s: at least 3 full seconds to estimate the noise from.
  const a = await loadRun(t, app, 'test/500?rate=100&concurrency=5&seed=1');
  const b = await loadRun(t, app, 'test/500?rate=100&concurrency=5&seed=2');
  const response = await app.http.get<Comparison>(`test/jobs/${a}/compare/${b}`);
  t.is(response.statusCode, 200, JSON.stringify(response.body));
  const comparison = response.body;
  t.like(comparison, { a: { id: a, model: 'open', rate: 100, completed: 500 }, b: { id: b, model: 'open', rate: 100, completed: 500 }, noise: { estimated: true } });
  t.true(comparison.a.fullSeconds >= 3 && comparison.b.fullSeconds >= 3);
  t.deepEqual(comparison.metrics.map((m) => m.metric), [...METRICS]);
  for (const m of comparison.metrics) t.true(m.standardError !== null, m.metric);
  // Open at the same rate: latency decides.
  t.true(comparison.verdict.decidedBy === 'p99' || comparison.verdict.decidedBy === 'p50', comparison.verdict.decidedBy);
  t.deepEqual(comparison.warnings.filter((w) => /differ/.test(w)), []);

  const self = await app.http.get<Comparison>(`test/jobs/${a}/compare/${a}`);
  t.is(self.statusCode, 200);
  t.like(self.body.verdict, { faster: 'neither', beyondNoise: false });

  const missing = await app.http.get<{ error: string }>(`test/jobs/${a}/compare/${randomUUID()}`);
  t.is(missing.statusCode, 404);
  t.regex(missing.body.error, /^No load test job /);

  const running = await app.http.post<Job>('test/1000000?rate=1&async=1');
  t.is(running.statusCode, 202);
  const busy = await app.http.get<{ error: string }>(`test/jobs/${running.body.id}/compare/${a}`);
  t.is(busy.statusCode, 409);
  t.regex(busy.body.error, /is still (queued|running)/);
  t.is((await app.http.delete(`test/jobs/${running.body.id}`)).statusCode, 200);
});

// ---- The CLI


const jobOf = (stderr: string) => /^job ([0-9a-f-]{36})$/m.exec(stderr)?.[1];

test('hitcounter load --csv --histogram saves the series and the HdrHistogram log; --warmup warms up', withApp, async (t, app) => {
  const dir = await tempDir(t);
  const [csv, hlog] = [join(dir, 'run.csv'), join(dir, 'run.hlog')];
  const { code, stdout, stderr } = await hitcounter(['load', '300', '--concurrency', '5', '--warmup', '200', '--csv', csv, '--histogram', hlog, '--url', app.url, '--json']);
  t.is(code, 0, stderr);
  const report = JSON.parse(stdout) as JobReport;
  t.like(report, { requested: 300, completed: 300, succeeded: 300 });
  t.not(report.warmup, null);
  t.truthy(jobOf(stderr), stderr);
  t.is((await readFile(csv, 'utf8')).split('\n')[0], SERIES_COLUMNS.join(','));
  t.true((await readFile(hlog, 'utf8')).startsWith('#[Histogram log format version'));
});

test('hitcounter load --stages runs POST /test, and refuses <n> or --rate beside it', withApp, async (t, app) => {
  const stages = JSON.stringify([{ requests: 100, concurrency: 4 }, { requests: 100, rate: 400 }]);
  const { code, stdout, stderr } = await hitcounter(['load', '--stages', stages, '--seed', '3', '--url', app.url, '--json']);
  t.is(code, 0, stderr);
  const report = JSON.parse(stdout) as JobReport;
  // The open stage may drop requests on a busy machine; every one is accounted for either way.
  t.like(report, { model: 'mixed', requested: 200, seed: 3 });
  t.is(report.completed + report.dropped, 200);
  t.is(report.stages.length, 2);

  const both = await hitcounter(['load', '10', '--stages', stages, '--url', app.url]);
  t.is(both.code, 1);
  t.regex(both.stderr, /--stages says it all: leave out <n>/);
  const rate = await hitcounter(['load', '--stages', stages, '--rate', '5', '--url', app.url]);
  t.regex(rate.stderr, /leave out --rate/);
  const none = await hitcounter(['load', '--url', app.url]);
  t.is(none.code, 1);
  t.regex(none.stderr, /missing <n>/);
  const bad = await hitcounter(['load', '--stages', '{"requests":5}', '--url', app.url]);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /expected a JSON array of stages/);
});

test('hitcounter compare prints the table and the verdict, or the comparison as JSON', withApp, async (t, app) => {
  const a = await loadRun(t, app, 'test/200?concurrency=4&seed=1');
  const b = await loadRun(t, app, 'test/200?concurrency=8&seed=2');
  // The 8 characters the report's table shows are enough.
  const table = await hitcounter(['compare', a.slice(0, 8), b, '--url', app.url]);
  t.is(table.code, 0, table.stderr);
  for (const row of ['req/s', 'p50 (ms)', 'p99.9 (ms)', 'errors (%)']) t.regex(table.stdout, new RegExp(`│ ${row.replace(/[().]/g, '\\$&')} +│`));
  t.regex(table.stdout, new RegExp(`a ${a.slice(0, 8)}`));
  t.regex(table.stdout, /^(Run [ab] is faster|Neither run is faster) by throughput/m);

  const json = await hitcounter(['compare', a, b, '--url', app.url, '--json']);
  t.is(json.code, 0, json.stderr);
  const comparison = JSON.parse(json.stdout) as Comparison;
  t.like(comparison, { a: { id: a }, b: { id: b }, verdict: { decidedBy: 'requestsPerSecond' } });

  const missing = await hitcounter(['compare', a, randomUUID(), '--url', app.url]);
  t.is(missing.code, 1);
  t.regex(missing.stderr, /hitcounter: No load test job /);
  const unknown = await hitcounter(['compare', 'ffffffff0', b, '--url', app.url]);
  t.is(unknown.code, 1);
  t.regex(unknown.stderr, /no load test job starts with ffffffff0/);
});
