// The load generator's worker threads are kept between runs (loadtest.keepWarmMs), so that a run
// finds got's code already compiled. A kept thread must carry nothing from one run to the next,
// and must never outlive its time, the server, or its run's stop.
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import type { LoadPlan } from '../src/loadgen/runner.js';
import { resolveStage, type StageInput } from '../src/loadgen/stages.js';
import { GeneratorThreads } from '../src/loadgen/thread.js';
import { eventually } from './helpers/eventually.js';

interface Target { url: string; served: () => number }

async function target(t: ExecutionContext, handle: (res: ServerResponse) => void = (res) => res.end('{}')): Promise<Target> {
  let served = 0;
  const server = createServer((_req, res) => { served++; handle(res); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, served: () => served };
}

const planOf = (stages: StageInput[], url: string, threads = 1): LoadPlan => ({
  stages: stages.map((stage) => resolveStage(stage, 1)),
  distribution: 'uniform', paths: 50, zipfExponent: 1, seed: 7, target: url, threads,
  batchSize: 10, requestTimeoutMs: 10_000, maxLagMs: 1000, progressIntervalMs: 50, loadgenSecret: 'test',
});

function threadsFor(t: ExecutionContext, keepWarmMs: number): GeneratorThreads {
  const generator = new GeneratorThreads(keepWarmMs);
  t.teardown(() => generator.close());
  return generator;
}

test('a run\'s threads are kept for the next run, which reports only its own requests', async (t) => {
  const { url, served } = await target(t);
  const generator = threadsFor(t, 60_000);
  const first = await generator.execute(planOf([{ requests: 120, concurrency: 4 }], url, 2), () => {}).result;
  t.is(generator.spawned, 2);
  t.is(generator.size, 2, 'both stay, idle');
  const second = await generator.execute(planOf([{ requests: 80, concurrency: 4 }], url, 2), () => {}).result;
  t.is(generator.spawned, 2, 'the second run started no thread');
  t.is(served(), 200);
  t.is(first.report.completed, 120);
  t.is(first.report.succeeded, 120);
  t.is(second.report.completed, 80, 'nothing of the first run carried over');
  t.is(second.report.succeeded, 80);
  t.is(second.report.generator.threads, 2);
});

test('keepWarmMs 0: every run starts its threads afresh and none stays', async (t) => {
  const { url } = await target(t);
  const generator = threadsFor(t, 0);
  for (const expected of [1, 2]) {
    const { report } = await generator.execute(planOf([{ requests: 30, concurrency: 2 }], url), () => {}).result;
    t.is(report.succeeded, 30);
    t.is(generator.spawned, expected);
    t.is(generator.size, 0);
  }
});

test('an idle thread ends once keepWarmMs has passed without a run', async (t) => {
  const { url } = await target(t);
  const generator = threadsFor(t, 100);
  await generator.execute(planOf([{ requests: 10, concurrency: 1 }], url), () => {}).result;
  await eventually(() => generator.size === 0, { what: 'the idle thread to end', timeoutMs: 30_000 });
  t.is(generator.size, 0);
  await generator.execute(planOf([{ requests: 10, concurrency: 1 }], url), () => {}).result;
  t.is(generator.spawned, 2, 'the next run needed a new one');
});

test('close() ends the idle threads, is safe twice, and a run asked for after it fails with a message', async (t) => {
  const { url } = await target(t);
  const generator = new GeneratorThreads(60_000);
  await generator.execute(planOf([{ requests: 10, concurrency: 1 }], url), () => {}).result;
  t.is(generator.size, 1);
  await generator.close();
  await generator.close();
  t.is(generator.size, 0);
  await t.throwsAsync(generator.execute(planOf([{ requests: 10, concurrency: 1 }], url), () => {}).result, { message: 'the load generator is closed: the server is stopping' });
});

test('a finished run\'s stop() does not reach the next run on the same thread', async (t) => {
  // Each answer waits 2 ms, so the second run is still sending when the first run's stop comes.
  const { url, served } = await target(t, (res) => { setTimeout(() => res.end('{}'), 2); });
  const generator = threadsFor(t, 60_000);
  const first = generator.execute(planOf([{ requests: 10, concurrency: 1 }], url), () => {});
  await first.result;
  let progressed = false;
  const second = generator.execute(planOf([{ requests: 300, concurrency: 2 }], url), () => { progressed = true; });
  await eventually(() => progressed, { what: 'the second run to be under way' });
  first.stop();
  const { report } = await second.result;
  t.is(generator.spawned, 1, 'the same thread ran both');
  t.is(report.completed, 300, 'the second run sent all its requests');
  t.is(report.succeeded, 300);
  t.is(served(), 310);
});

test('stop() ends the run on its kept thread, which then serves the next run whole', async (t) => {
  const { url } = await target(t, (res) => { setTimeout(() => res.end('{}'), 2); });
  const generator = threadsFor(t, 60_000);
  let progressed = false;
  const stopped = generator.execute(planOf([{ requests: 100_000, concurrency: 2 }], url), () => { progressed = true; });
  await eventually(() => progressed, { what: 'the run to be under way' });
  stopped.stop();
  const first = await stopped.result;
  t.true(first.report.completed < 100_000, 'the stopped run ended early');
  const { report } = await generator.execute(planOf([{ requests: 50, concurrency: 2 }], url), () => {}).result;
  t.is(report.succeeded, 50);
  t.is(generator.spawned, 1);
});
