// The breaking-point search (src/loadgen/search.ts): its decisions on models of a server, and a
// real search converging on a target that degrades above a known rate.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { Job, SearchJobReport } from '../src/loadgen/jobs.js';
import { errorPercent, missedObjective, nextRate, type SearchDecision } from '../src/loadgen/search.js';
import { withApp } from './helpers/app.js';
import { eventually } from './helpers/eventually.js';

/** Plays the search against a server that meets the objective at and below `limit` req/s. */
function play(spec: { minRate: number; maxRate: number; precision: number; maxSteps: number }, limit: number) {
  const steps: Array<{ rate: number; met: boolean; phase: string }> = [];
  let decision: SearchDecision = nextRate(spec, steps);
  while (decision.kind === 'step') {
    steps.push({ rate: decision.rate, met: decision.rate <= limit, phase: decision.phase });
    decision = nextRate(spec, steps);
  }
  return { steps, result: decision };
}

test('the search ramps by doubling from minRate, then bisects between the best pass and the first miss', (t) => {
  const { steps, result } = play({ minRate: 100, maxRate: 10_000, precision: 0.05, maxSteps: 20 }, 1234);
  t.deepEqual(steps.slice(0, 6).map((s) => [s.phase, s.rate, s.met]), [
    ['ramp', 100, true], ['ramp', 200, true], ['ramp', 400, true], ['ramp', 800, true], ['ramp', 1600, false],
    ['bisect', 1200, true],
  ]);
  t.like(result, { kind: 'done' });
  if (result.kind !== 'done') return;
  t.true(result.breakingPoint! <= 1234 && 1234 < result.firstFailingRate!);
  t.true((result.firstFailingRate! - result.breakingPoint!) / result.breakingPoint! <= 0.05);
});

test('the search ends at once when minRate misses, and at maxRate when every step meets', (t) => {
  t.deepEqual(play({ minRate: 100, maxRate: 1000, precision: 0.05, maxSteps: 20 }, 50), {
    steps: [{ rate: 100, met: false, phase: 'ramp' }],
    result: { kind: 'done', breakingPoint: null, firstFailingRate: 100 },
  });
  const all = play({ minRate: 100, maxRate: 1000, precision: 0.05, maxSteps: 20 }, 5000);
  t.deepEqual(all.steps.map((s) => s.rate), [100, 200, 400, 800, 1000], 'the last ramp step is maxRate itself');
  t.deepEqual(all.result, { kind: 'done', breakingPoint: 1000, firstFailingRate: null });
});

test('property: the search brackets the true limit within precision, or stops at maxSteps, never above maxRate', (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100_000 }), fc.integer({ min: 1, max: 200_000 }),
    fc.double({ min: 0.001, max: 1, noNaN: true }), fc.integer({ min: 1, max: 50 }),
    (minRate, span, limit, precision, maxSteps) => {
      const spec = { minRate, maxRate: minRate + span, precision, maxSteps };
      const { steps, result } = play(spec, limit);
      if (result.kind !== 'done' || steps.length > maxSteps) return false;
      if (steps.some((s) => s.rate < minRate || s.rate > spec.maxRate)) return false;
      if (new Set(steps.map((s) => s.rate)).size !== steps.length) return false; // never the same rate twice
      const { breakingPoint: pass, firstFailingRate: fail } = result;
      if (pass !== null && pass > limit) return false;
      if (fail !== null && fail <= limit) return false;
      if (steps.length < maxSteps && pass !== null && fail !== null) {
        // Bracketed to within precision, or to adjacent integers.
        return (fail - pass) / pass <= precision || fail - pass <= 1;
      }
      return true;
    },
  ));
  t.pass();
});

test('the objective names what a step missed; errors count failures and drops over all that was due', (t) => {
  const latencyMs = { min: 1, mean: 5, stddev: 1, p50: 4, p90: 9, p99: 31.2, p99_9: 40, max: 50 };
  t.deepEqual(missedObjective({ p99: 20, errors: 0.1 }, { latencyMs, completed: 990, failed: 5, dropped: 10 }), ['p99 31.2 ms > 20 ms', 'errors 1.5% > 0.1%']);
  t.deepEqual(missedObjective({ p50: 4, p99_9: 40, errors: 1.5 }, { latencyMs, completed: 990, failed: 5, dropped: 10 }), [], 'a bound is inclusive');
  t.is(errorPercent({ completed: 0, failed: 0, dropped: 0 }), 0);
});

/** A target that answers at once while it gets at most `limit` requests a second (over the last second), and after 3 s when more. */
async function degradingTarget(t: ExecutionContext, limit: number): Promise<string> {
  const arrivals: number[] = [];
  const server = createServer((_req, res) => {
    const now = performance.now();
    arrivals.push(now);
    while (arrivals[0]! < now - 1000) arrivals.shift();
    if (arrivals.length <= limit) res.end('{}');
    else setTimeout(() => res.end('{}'), 3000);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('a search converges on a target that degrades above 300 req/s: 200 holds, 400 does not', withApp, async (t, app) => {
  const url = await degradingTarget(t, 300);
  // Precision 1: stop as soon as a pass and a miss are within 2×, so the steps are 100, 200, 400,
  // each at least a third away from the limit. The objective is far from both answers (at once,
  // and 3 s), so that a loaded machine's slow event loop does not decide a step.
  const response = await app.http.post<SearchJobReport>('test/search', {
    json: { objective: { p99: 1500, errors: 1 }, minRate: 100, maxRate: 1600, stepDurationMs: 1500, warmupMs: 0, precision: 1, target: url },
  });
  t.is(response.statusCode, 200, JSON.stringify(response.body));
  const report = response.body;
  t.deepEqual(report.steps.map((s) => [s.phase, s.rate, s.met]), [['ramp', 100, true], ['ramp', 200, true], ['ramp', 400, false]], JSON.stringify(report.steps, null, 1));
  t.like(report, { breakingPoint: 200, firstFailingRate: 400, cancelled: false });
  t.true(report.steps[2]!.missed.length > 0);
  t.is(report.succeeded, report.steps.reduce((sum, s) => sum + s.succeeded, 0));
  t.is(report.counted.hits, 0, 'the target is not this hitcounter: nothing counted here');
});

test('a search is a job: 202, its steps in progress as they finish, and a cancel ends it with what it found', withApp, async (t, app) => {
  const url = await degradingTarget(t, 100_000);
  const started = await app.http.post<Job<SearchJobReport>>('test/search?async=1', {
    json: { objective: { p99: 5000 }, minRate: 50, maxRate: 100_000, stepDurationMs: 500, warmupMs: 0, target: url },
  });
  t.is(started.statusCode, 202, JSON.stringify(started.body));
  t.like(started.body, { kind: 'search', search: { minRate: 50, maxRate: 100_000, stepDurationMs: 500, precision: 0.05, maxSteps: 20 } });
  const id = started.body.id;
  await eventually(async () => ((await app.http.get<Job<SearchJobReport>>(`test/jobs/${id}`)).body.progress?.search?.steps.length ?? 0) >= 1, { what: 'a first finished step in the progress' });
  const cancelled = await app.http.delete<Job<SearchJobReport>>(`test/jobs/${id}`);
  t.is(cancelled.statusCode, 200);
  t.is(cancelled.body.status, 'cancelled');
  const report = cancelled.body.report!;
  t.true(report.cancelled);
  t.true(report.steps.length >= 1);
  t.is(report.steps[0]!.rate, 50);
  t.true(report.steps[0]!.met);
  t.true(report.breakingPoint! >= 50);
  // A job like any other: its series and histogram belong to runs only.
  t.is((await app.http.get(`test/jobs/${id}.csv`)).statusCode, 404);
});
