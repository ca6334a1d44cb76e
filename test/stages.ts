// Load tests in stages (src/loadgen/stages.ts, runner.ts, merge.ts): each stage's figures against
// a target whose latency the test sets per stage on the run's own clock, ramps that send exactly
// their schedule, warm-ups left out of the figures but counted in Redis, and threads that merge.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { systemClock } from '../src/clock.js';
import type { JobReport } from '../src/loadgen/jobs.js';
import { mergeRuns } from '../src/loadgen/merge.js';
import { runLoad, type LoadPlan } from '../src/loadgen/runner.js';
import { rampDueMs, resolveStage, threadShare, usableThreads, type StageInput } from '../src/loadgen/stages.js';
import { withApp } from './helpers/app.js';
import { ManualClock } from './helpers/clock.js';
import { assertReportAddsUp } from './helpers/outcomes.js';

async function target(t: ExecutionContext, handle: (res: ServerResponse) => void): Promise<string> {
  const server = createServer((_req, res) => handle(res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const planOf = (stages: StageInput[], target: string, threads = 1): LoadPlan => ({
  stages: stages.map((stage) => resolveStage(stage, 1)),
  distribution: 'uniform', paths: 50, zipfExponent: 1, seed: 7, target, threads,
  batchSize: 10, requestTimeoutMs: 10_000, maxLagMs: 1000, progressIntervalMs: 50, loadgenSecret: 'test',
});

test('resolving a stage: an open stage gets its count from its duration, or its duration from its count', (t) => {
  t.deepEqual(resolveStage({ durationMs: 10_000, rate: [500, 3000] }, 50), { warmup: false, rate: { from: 500, to: 3000 }, concurrency: 50, requests: 17_500, durationMs: 10_000 });
  t.deepEqual(resolveStage({ requests: 300, rate: 100, warmup: true }, 50), { warmup: true, rate: { from: 100, to: 100 }, concurrency: 50, requests: 300, durationMs: 3000 });
  t.deepEqual(resolveStage({ durationMs: 2000, concurrency: 8 }, 50), { warmup: false, rate: null, concurrency: 8, requests: null, durationMs: 2000 });
  t.deepEqual(resolveStage({ requests: 5 }, 50), { warmup: false, rate: null, concurrency: 50, requests: 5, durationMs: null });
});

test('a ramp\'s due times: as many requests due by each moment as the rate\'s integral says', (t) => {
  // 100/s → 300/s over 2 s: 400 requests; by 1 s in, 100 + (200 · 1²)/(2 · 2) = 150 are due.
  const rate = { from: 100, to: 300 };
  t.is(rampDueMs(rate, 2000, 0), 0);
  t.true(Math.abs(rampDueMs(rate, 2000, 150) - 1000) < 1e-9);
  t.true(Math.abs(rampDueMs(rate, 2000, 400) - 2000) < 1e-9);
  // A ramp down is the mirror: 300/s → 100/s, by 1 s in 300 − 50 = 250 are due.
  t.true(Math.abs(rampDueMs({ from: 300, to: 100 }, 2000, 250) - 1000) < 1e-9);
  t.is(rampDueMs({ from: 50, to: 50 }, 1000, 25), 500);
  fc.assert(fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 100, max: 60_000 }), (from, to, durationMs) => {
    const stage = resolveStage({ rate: [from, to], durationMs }, 1);
    let last = -1;
    for (let i = 0; i < Math.min(stage.requests!, 200); i++) {
      const due = rampDueMs(stage.rate!, durationMs, i);
      if (!(due > last)) return false;
      last = due;
    }
    // The last request is due within the stage.
    return rampDueMs(stage.rate!, durationMs, stage.requests! - 1) <= durationMs + 1e-6;
  }));
});

test('threads share a stage exactly: the open schedule by index, the closed counts and connections as evenly as integers allow', (t) => {
  const open = resolveStage({ requests: 10, rate: 100, concurrency: 5 }, 1);
  const shares = [0, 1, 2].map((thread) => threadShare(open, thread, 3));
  t.deepEqual(shares.map((s) => [s.offset, s.stride, s.concurrency]), [[0, 3, 2], [1, 3, 2], [2, 3, 1]]);
  const closed = resolveStage({ requests: 10, concurrency: 5 }, 1);
  const closedShares = [0, 1, 2].map((thread) => threadShare(closed, thread, 3));
  t.deepEqual(closedShares.map((s) => [s.requests, s.concurrency]), [[4, 2], [3, 2], [3, 1]]);
  t.is(usableThreads([closed], 8), 5, 'never more threads than a closed stage has connections');
  t.is(usableThreads([open], 8), 8);
});

test('each stage reports its own figures: the latency the target gave in that stage, and its counts', async (t) => {
  // The target moves the run's clock by 5 ms per answer in the first stage and 20 ms in the
  // second; one connection, so every latency is exactly that.
  const clock = new ManualClock();
  let served = 0;
  const url = await target(t, (res) => {
    clock.advance(++served <= 40 ? 5 : 20);
    res.end('{}');
  });
  const plan = planOf([{ requests: 40, concurrency: 1 }, { requests: 60, concurrency: 1 }], url);
  const { report, series } = mergeRuns(plan, [await runLoad(plan, { clock })]);
  assertReportAddsUp(t, report as JobReport);
  const [first, second] = report.stages;
  t.like(first, { index: 0, model: 'closed', completed: 40, succeeded: 40, requested: 40, durationMs: 200, requestsPerSecond: 200 });
  t.like(second, { index: 1, model: 'closed', completed: 60, succeeded: 60, requested: 60, durationMs: 1200, requestsPerSecond: 50 });
  // HDR histograms keep 3 significant digits: a latency reads back within 0.1%.
  const near = (actual: number, expected: number) => Math.abs(actual - expected) <= expected / 1000;
  for (const name of ['min', 'p50', 'p99', 'max'] as const) {
    t.true(near(first!.latencyMs[name], 5), `first stage ${name}: ${first!.latencyMs[name]}`);
    t.true(near(second!.latencyMs[name], 20), `second stage ${name}: ${second!.latencyMs[name]}`);
  }
  // The whole run: both stages, 100 requests over 1.4 s.
  t.like(report, { model: 'closed', requested: 100, completed: 100, durationMs: 1400 });
  t.true(near(report.latencyMs.min, 5) && near(report.latencyMs.p50, 20) && near(report.latencyMs.max, 20), JSON.stringify(report.latencyMs));
  // The series: in second 0 the 40 answers of 0.2 s of 5 ms ones and 39 of 20 ms (the 40th comes
  // at 1.0 s exactly), the other 21 in second 1, when the second stage runs.
  t.deepEqual(series.map((row) => [row.second, row.stage, row.completed]), [[0, 0, 40 + 39], [1, 1, 21]]);
});

test('a ramp in stages sends exactly its schedule, and each stage reports the rate it ran at', async (t) => {
  const url = await target(t, (res) => res.end('{}'));
  // 200 requests at 100/s → 300/s over 1 s, then 100 at a flat 200/s; connections to spare.
  const plan = planOf([{ durationMs: 1000, rate: [100, 300], concurrency: 20 }, { requests: 100, rate: 200, concurrency: 20 }], url);
  const { report } = mergeRuns(plan, [await runLoad(plan, { clock: systemClock })]);
  assertReportAddsUp(t, report as JobReport);
  const [ramp, flat] = report.stages;
  t.like(ramp, { model: 'open', rate: { from: 100, to: 300 }, requested: 200, plannedDurationMs: 1000 });
  t.like(flat, { model: 'open', rate: { from: 200, to: 200 }, requested: 100, plannedDurationMs: 500 });
  // Every request completed or dropped (a loaded machine may drop some; none is lost).
  t.is(ramp!.completed + ramp!.dropped, 200);
  t.is(flat!.completed + flat!.dropped, 100);
  t.is(report.model, 'open');
  t.is(report.rate, null, 'no one constant rate');
  t.true(Date.parse(flat!.startedAt) >= Date.parse(ramp!.startedAt) + 1000, 'the flat stage starts when the ramp\'s schedule ends');
});

test('two threads send exactly what one would: the same counts, every request once', async (t) => {
  let served = 0;
  const url = await target(t, (res) => { served++; res.end('{}'); });
  const plan = planOf([{ requests: 101, rate: 400, concurrency: 10 }, { requests: 99, concurrency: 5 }], url, 2);
  const runs = await Promise.all([0, 1].map((thread) => runLoad(plan, { clock: systemClock, thread, threads: 2 })));
  const { report } = mergeRuns(plan, runs);
  assertReportAddsUp(t, report as JobReport);
  t.is(report.generator.threads, 2);
  t.is(report.stages[0]!.completed + report.stages[0]!.dropped, 101);
  t.is(report.stages[1]!.completed, 99);
  t.is(served, report.completed);
});

test('a warm-up counts in Redis and in `counted`, never in the figures', withApp, async (t, app) => {
  const response = await app.http.post<JobReport>('test', {
    json: { stages: [{ requests: 150, concurrency: 5, warmup: true }, { requests: 200, concurrency: 5 }], distribution: 'uniform', paths: 100 },
  });
  t.is(response.statusCode, 200, JSON.stringify(response.body));
  const report = response.body;
  assertReportAddsUp(t, report);
  t.like(report, { requested: 200, completed: 200, succeeded: 200 });
  t.like(report.warmup, { requested: 150, completed: 150, succeeded: 150 });
  t.is(report.stages.length, 2);
  t.true(report.stages[0]!.warmup);
  t.is(report.perSecond.reduce((a, b) => a + b, 0), 200, 'the series leaves the warm-up out');
  // Both count in Redis: the exactness check accounts for the warm-up.
  t.like(report.counted, { hits: 350, succeeded: 350, equalsSucceeded: true });
  t.is(await app.totalHits(), 350);
});

test('POST /test/{n}?warmupMs= warms up at the same concurrency first, then sends n measured requests', withApp, async (t, app) => {
  const response = await app.http.post<JobReport>('test/100?concurrency=4&warmupMs=300&paths=50');
  t.is(response.statusCode, 200);
  const report = response.body;
  assertReportAddsUp(t, report);
  t.like(report, { requested: 100, completed: 100, succeeded: 100, model: 'closed', concurrency: 4 });
  t.is(report.stages.length, 2);
  t.like(report.stages[0], { warmup: true, plannedDurationMs: 300, requested: null, concurrency: 4 });
  t.true(report.warmup!.succeeded > 0, 'a 300 ms warm-up sends something');
  t.is(report.counted.hits, 100 + report.warmup!.succeeded);
  t.true(report.counted.equalsSucceeded);
});
