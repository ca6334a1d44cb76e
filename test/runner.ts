// The runner on its own, against a tiny HTTP server the test controls, to check what the report
// says when the target is slow or stalls. The servers never answer after a timer: they answer
// at once, hold a response until a condition, or move the run's injected clock, so that no
// figure depends on the machine's speed. The pacing itself is test/open-model.ts's subject.
import { createServer, type ServerResponse } from 'node:http';
import { createHistogram } from 'node:perf_hooks';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import { systemClock } from '../src/clock.js';
import { mergeRuns } from '../src/loadgen/merge.js';
import { lagP99Ms, runLoad, type LoadPlan, type RunControl } from '../src/loadgen/runner.js';
import { resolveStage } from '../src/loadgen/stages.js';
import { ManualClock } from './helpers/clock.js';

/** Request number `index` (0-based, in arrival order) is answered whenever `handle` ends `res`. */
type Handler = (index: number, res: ServerResponse) => void;

async function target(t: ExecutionContext, handle: Handler): Promise<{ url: string; served: () => number }> {
  let served = 0;
  const server = createServer((_req, res) => handle(served++, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  // Also ends the responses a test held and never answered.
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served: () => served };
}

const answerAtOnce: Handler = (_index, res) => res.end('{}');

/** One stage of `requests`, closed or (with `rate`) open, as POST /test/{n} makes it. */
const plan = ({ requests = 100, concurrency = 10, rate, ...overrides }: Partial<LoadPlan> & { requests?: number; concurrency?: number; rate?: number }): LoadPlan => ({
  stages: [resolveStage({ requests, concurrency, rate }, concurrency)],
  distribution: 'uniform', paths: 10, zipfExponent: 1, seed: 1, threads: 1,
  target: 'http://127.0.0.1:1', batchSize: 20, requestTimeoutMs: 5000, maxLagMs: 1000, progressIntervalMs: 100, loadgenSecret: 'test',
  ...overrides,
});

/** Runs the plan on one thread, and reports on it as a job does. */
async function run(loadPlan: LoadPlan, control: RunControl) {
  return mergeRuns(loadPlan, [await runLoad(loadPlan, control)]).report;
}

// HDR histograms keep 3 significant digits: a latency reads back within 0.1% of what was recorded.
const near = (actual: number, expected: number) => Math.abs(actual - expected) <= Math.max(0.001, expected / 1000);

test('closed model: every request is sent once and reported', async (t) => {
  const server = await target(t, answerAtOnce);
  const report = await run(plan({ requests: 250, target: server.url }), { clock: systemClock });
  t.like(report, { requested: 250, completed: 250, succeeded: 250, failed: 0, dropped: 0, cancelled: false });
  t.deepEqual(report.statusCodes, { '200': 250 });
  t.is(server.served(), 250);
});

test('closed model: never more than `concurrency` requests in flight', async (t) => {
  // The server holds every response until 7 requests are waiting (or all that are left), so
  // a runner that keeps 7 in flight reaches exactly 7 whatever the machine's speed. The release
  // waits for setImmediate, after the arrivals already read, so that an 8th would be seen.
  const requests = 200;
  const concurrency = 7;
  let held: ServerResponse[] = [];
  let answered = 0;
  let peak = 0;
  const server = await target(t, (_index, res) => {
    held.push(res);
    peak = Math.max(peak, held.length);
    if (held.length === Math.min(concurrency, requests - answered)) {
      setImmediate(() => {
        for (const response of held) response.end('{}');
        answered += held.length;
        held = [];
      });
    }
  });
  const report = await run(plan({ requests, concurrency, target: server.url }), { clock: systemClock });
  t.is(report.succeeded, requests);
  t.is(peak, concurrency);
});

test('open model: a stall shows in the latencies, measured from each request\'s due time', async (t) => {
  // 100 requests per second. The first request stalls the target for 1 s of the run's clock
  // (the server moves the clock before answering); every other request is answered at once
  // without moving it. Requests 1..100, due every 10 ms during the stall, go out when it ends,
  // so request i is 1000 - 10·i ms late. Measured from when they were sent, they would all look
  // instant and only the first would show the stall.
  const clock = new ManualClock();
  const server = await target(t, (index, res) => {
    if (index === 0) clock.advance(1000);
    res.end('{}');
  });
  const report = await run(plan({ requests: 101, rate: 100, concurrency: 10, maxLagMs: 10_000, target: server.url }), { clock });
  // 101 requests at 100/s are scheduled over 1.01 s (the last one's slot included).
  t.like(report, { succeeded: 101, dropped: 0, durationMs: 1010, requestsPerSecond: 100 });
  t.deepEqual(report.perSecond, [0, 101], 'every response arrived when the stall ended, 1 s in');
  const { min, p50, p90, mean, max } = report.latencyMs;
  t.true(near(max, 1000), `max ${max}`);
  t.true(near(p90, 900), `p90 ${p90}`);
  t.true(near(p50, 500), `p50 ${p50}`);
  t.true(near(mean, 500), `mean ${mean}`);
  t.true(near(min, 0.001), `min ${min}: the last request was due when the stall ended`);
});

test('open model: requests that cannot be sent within maxLagMs are dropped, not sent late', async (t) => {
  // One connection, and each request takes 100 ms of the run's clock (the server moves it), but
  // 100 per second are due. After each response, the requests more than 50 ms late are dropped
  // and the one exactly 50 ms late is sent: requests 0, 5, 15, 25 … 95 go out, 89 are dropped.
  const clock = new ManualClock();
  const server = await target(t, (_index, res) => {
    clock.advance(100);
    res.end('{}');
  });
  const report = await run(plan({ requests: 100, rate: 100, concurrency: 1, maxLagMs: 50, target: server.url }), { clock });
  t.like(report, { completed: 11, succeeded: 11, dropped: 89, durationMs: 1100 });
  t.is(server.served(), 11);
  // Latency from the due time: 100 ms for the first, 50 ms late + 100 ms for every other.
  t.true(near(report.latencyMs.min, 100) && near(report.latencyMs.max, 150), JSON.stringify(report.latencyMs));
});

test('stopping sends nothing more and lets in-flight requests settle into the report', async (t) => {
  // The 50th request stops the run and is held until two progress reports have come, so it is
  // in flight when the stop comes and the run lasts long enough to report progress.
  const concurrency = 5;
  const stop = new AbortController();
  const progress: number[] = [];
  let held: ServerResponse | undefined;
  let reportsSinceHeld = 0;
  const server = await target(t, (index, res) => {
    if (index === 49) {
      stop.abort();
      held = res;
    } else {
      res.end('{}');
    }
  });
  const report = await run(plan({ requests: 100_000, concurrency, progressIntervalMs: 50, target: server.url }), {
    clock: systemClock,
    stop: stop.signal,
    onProgress: (p) => {
      progress.push(p.completed);
      if (held && ++reportsSinceHeld >= 2) {
        held.end('{}');
        held = undefined;
      }
    },
  });
  t.true(report.cancelled);
  t.is(report.completed, server.served(), 'every request that reached the server is in the report, the held one too');
  // When the 50th arrived, at most concurrency - 1 others had been sent; nothing after the stop.
  t.true(server.served() >= 50 && server.served() <= 50 + concurrency - 1, `served ${server.served()}`);
  t.is(report.failed, 0, 'in-flight requests were not aborted');
  t.true(progress.length >= 2, `${progress.length} progress reports`);
  t.true(progress.every((n, i) => i === 0 || n >= progress[i - 1]!), `progress only grows: ${progress.join(', ')}`);
  t.true(progress.at(-1)! <= report.completed);
});

test('errors are counted by code', async (t) => {
  // Port 1 on loopback: nothing listens there, so every connection is refused.
  const report = await run(plan({ requests: 20, target: 'http://127.0.0.1:1' }), { clock: systemClock });
  t.deepEqual(report.errors, { ECONNREFUSED: 20 });
  t.like(report, { completed: 20, succeeded: 0, failed: 20, non2xx: 0 });
});

test('a request slower than the timeout is an ETIMEDOUT error', async (t) => {
  // The server never answers: only the client's 100 ms timeout can end these requests (it counts
  // from the start, connecting included, so it ends them whether or not they reached the server).
  const server = await target(t, () => {});
  const report = await run(plan({ requests: 3, concurrency: 3, requestTimeoutMs: 100, target: server.url }), { clock: systemClock });
  t.deepEqual(report.errors, { ETIMEDOUT: 3 });
});

test('the event loop\'s lag is what its sampling timer ran late by: an on-time loop, which reads the 10 ms interval itself, lags 0', (t) => {
  // Recorded as monitorEventLoopDelay records them: the ns between two ticks of a 10 ms timer.
  const onTime = createHistogram();
  for (let i = 0; i < 1000; i++) onTime.record(10_000_000 + (i % 3) * 100_000);
  // (A histogram keeps 3 significant digits: 10.2 ms reads back as up to 10.21.)
  const near = (actual: number, expected: number) => t.true(Math.abs(actual - expected) <= 0.05, `${actual} vs ${expected}`);
  near(lagP99Ms(onTime), 0.2);
  // One tick in ten 35 ms late: the p99 is that tick, and the lag is its 35 ms.
  const late = createHistogram();
  for (let i = 0; i < 1000; i++) late.record(i % 10 === 0 ? 45_000_000 : 10_000_000);
  near(lagP99Ms(late), 35);
  // Never negative, whatever the interval.
  t.is(lagP99Ms(onTime, 20), 0);
});
