// The runner on its own, against a tiny HTTP server whose speed the test controls, to check
// what the report says when the target is slow or stalls.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { systemClock } from '../src/clock.js';
import { runLoad, type LoadPlan } from '../src/loadgen/runner.js';

async function target(t: { teardown(fn: () => void): void }, delayFor: (n: number) => number): Promise<{ url: string; served: () => number }> {
  let served = 0;
  const server: Server = createServer((_req, res) => {
    const delay = delayFor(served++);
    setTimeout(() => res.end('{}'), delay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served: () => served };
}

const plan = (overrides: Partial<LoadPlan>): LoadPlan => ({
  requests: 100, concurrency: 10, rate: null, distribution: 'uniform', paths: 10, zipfExponent: 1, seed: 1,
  target: 'http://127.0.0.1:1', batchSize: 20, requestTimeoutMs: 5000, maxLagMs: 1000, progressIntervalMs: 100, loadgenSecret: 'test',
  ...overrides,
});

test('closed model: every request is sent once and reported', async (t) => {
  const server = await target(t, () => 0);
  const report = await runLoad(plan({ requests: 250, target: server.url }), { clock: systemClock });
  t.like(report, { requested: 250, completed: 250, succeeded: 250, failed: 0, dropped: 0, cancelled: false });
  t.is(server.served(), 250);
});

test('closed model: never more than `concurrency` requests in flight', async (t) => {
  let inFlight = 0;
  let peak = 0;
  const server = createServer((_req, res) => {
    peak = Math.max(peak, ++inFlight);
    setTimeout(() => { inFlight--; res.end(); }, 5);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  await runLoad(plan({ requests: 200, concurrency: 7, target: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }), { clock: systemClock });
  t.is(peak, 7);
});

test('open model: a stall shows in the latencies, measured from each request\'s due time', async (t) => {
  // Requests 100..109 take 400 ms: with concurrency 10 the pool is blocked, so the requests due
  // during the stall wait. Measured from their send time they would look fast; from their due
  // time, they are not.
  const server = await target(t, (n) => (n >= 100 && n < 110 ? 400 : 0));
  const report = await runLoad(plan({ requests: 400, rate: 200, concurrency: 10, target: server.url }), { clock: systemClock });
  t.is(report.succeeded, 400);
  t.is(report.dropped, 0);
  // Every request due in the ~400 ms stall (about 80 of 400, 20%) waited for it.
  t.true(report.latencyMs.p90 > 100, `p90 ${report.latencyMs.p90} ms hides the stall`);
  t.true(report.latencyMs.max >= 400);
});

test('open model: requests that cannot be sent within maxLagMs are dropped, not sent late', async (t) => {
  const server = await target(t, () => 100);
  // One connection, 100 ms a response: at most ~10 per second can go out, but 100 per second are due.
  const report = await runLoad(plan({ requests: 100, rate: 100, concurrency: 1, maxLagMs: 50, target: server.url }), { clock: systemClock });
  t.true(report.dropped > 50, `dropped ${report.dropped}`);
  t.is(report.completed + report.dropped, 100);
  t.is(server.served(), report.completed);
});

test('stopping sends nothing more and lets in-flight requests settle into the report', async (t) => {
  const server = await target(t, () => 20);
  const stop = new AbortController();
  const progress: number[] = [];
  const run = runLoad(plan({ requests: 100_000, concurrency: 5, target: server.url }), {
    clock: systemClock,
    stop: stop.signal,
    onProgress: (p) => progress.push(p.completed),
  });
  setTimeout(() => stop.abort(), 300);
  const report = await run;
  t.true(report.cancelled);
  t.true(report.completed < 100_000);
  t.is(report.completed, server.served(), 'every request that reached the server is in the report');
  t.is(report.failed, 0, 'in-flight requests were not aborted');
  t.true(progress.length >= 1 && progress.every((n, i) => i === 0 || n >= progress[i - 1]!), 'progress only grows');
});

test('errors are counted by code', async (t) => {
  const server = await target(t, () => 0);
  const closed = server.url.replace(/:\d+$/, ':1');
  const report = await runLoad(plan({ requests: 20, target: closed }), { clock: systemClock });
  t.deepEqual(report.errors, { ECONNREFUSED: 20 });
  t.like(report, { completed: 20, succeeded: 0, failed: 20, non2xx: 0 });
});

test('a request slower than the timeout is an ETIMEDOUT error', async (t) => {
  const server = await target(t, () => 500);
  const report = await runLoad(plan({ requests: 3, concurrency: 3, requestTimeoutMs: 100, target: server.url }), { clock: systemClock });
  t.deepEqual(report.errors, { ETIMEDOUT: 3 });
});
