// The breaking point two ways on the same server, under the same objective (issue 17, target 3):
//   search   POST /test/search: the generator's open-model steps (src/loadgen/search.ts);
//   by hand  autocannon -R (overallRate) steps at the rates nextRate picks, each judged by
//            missedObjective on autocannon's own figures: what one would do with the CLI.
// Both follow nextRate, so they visit the same rates until a step's verdict differs.
//
// How autocannon -R differs, and what the by-hand steps make of it:
// - Its pacing is per connection and per second: each connection sends its share of the rate
//   back to back at the start of every second, then waits for the next. Its requests go out in
//   bursts of `connections` at once whatever the rate, so its latencies are those of that many in
//   flight, closed loop. With 50 connections that alone came near or over a 20 ms p99 at a few
//   hundred req/s on this machine; with 10 it stays at a few ms until the server saturates. So
//   both ways use CONCURRENCY connections (the generator: at most that many in flight).
// - It does not correct coordinated omission: a request is timed from when it was sent, not from
//   when the rate wanted it sent, so a stall of the server delays a handful of requests in its
//   figures where an open model delays every request due meanwhile. (By default it also backfills
//   each latency with values 1 ms apart below it, HdrHistogram's recordValueWithExpectedInterval
//   with ceil(1 / the connection's rate) = 1 ms, where the rate's own interval would be 1000 / rate
//   ms; that default is what the CLI reports, so it is kept.)
// - A server that cannot keep up shows no growing latency: autocannon just sends less than asked.
//   So a by-hand step counts what the rate asked for and was never sent as dropped, as the
//   generator drops requests it cannot send within loadtest.maxLagMs of their due time, and
//   errorPercent's semantics apply unchanged: (failed + dropped) / (completed + dropped), where
//   failed is non-2xx + errors (autocannon's `errors` already include its timeouts) and
//   completed counts responses and errors.
import autocannon from 'autocannon';
import type { SearchJobReport } from '../src/loadgen/jobs.js';
import { errorPercent, missedObjective, nextRate, type Objective, type SearchSpec } from '../src/loadgen/search.js';
import { runJob, type Child } from './lib.js';

/** Connections of every step, both ways. */
export const CONCURRENCY = 10;
/**
 * p99 ≤ 20 ms and at most 0.1% errors (issue 17's example). Measured on this 2-core machine, both
 * ways meet it at 250 to 1,000 req/s, and the server, driven by wrk or autocannon, answers 8,000 to
 * 12,000 req/s closed loop with p99 under 20 ms: the objective is within reach of the server well
 * below what the machine can do. A tighter p99 (10 ms or less) falls inside autocannon's own burst
 * latency, which then misses at rates picked by chance; a looser one only moves the breaking
 * point towards whichever client saturates first.
 */
export const OBJECTIVE: Objective = { p99: 20, errors: 0.1 };

export interface Step { rate: number; met: boolean; missed: string[]; requestsPerSecond: number; p50: number; p99: number; errors: number; dropped: number }

export interface SearchSide { breakingPoint: number | null; firstFailingRate: number | null; steps: Step[]; durationMs: number }

export interface SearchPhase {
  objective: Objective;
  spec: Omit<SearchSpec, 'objective'>;
  search: SearchSide & { counted: boolean; warnings: string[] };
  byHand: SearchSide;
  /** search's breaking point over by hand's; null when either found none. */
  ratio: number | null;
}

export async function searchPhase(server: Child, spec: Omit<SearchSpec, 'objective'>): Promise<SearchPhase> {
  const full: SearchSpec = { ...spec, objective: OBJECTIVE };
  const started = performance.now();
  const report = await runJob<SearchJobReport>(server, '/test/search', full);
  const search = {
    breakingPoint: report.breakingPoint,
    firstFailingRate: report.firstFailingRate,
    steps: report.steps.map((s) => ({ rate: s.rate, met: s.met, missed: s.missed, requestsPerSecond: s.requestsPerSecond, p50: s.latencyMs.p50, p99: s.latencyMs.p99, errors: s.errors, dropped: s.dropped })),
    durationMs: Math.round(performance.now() - started),
    counted: report.counted.equalsSucceeded,
    // Each step's warnings, once each: the generator's own limits, when it reached them.
    warnings: [...new Set(report.steps.flatMap((s) => s.warnings.map((w) => `at ${s.rate} req/s: ${w}`)))],
  };
  for (const s of search.steps) console.error(`search step ${s.rate} req/s: ${s.met ? 'met' : `missed (${s.missed.join(', ')})`}`);
  const byHand = await searchByHand(server, full);
  const ratio = search.breakingPoint !== null && byHand.breakingPoint !== null ? Math.round((search.breakingPoint / byHand.breakingPoint) * 100) / 100 : null;
  return { objective: OBJECTIVE, spec, search, byHand, ratio };
}

/** autocannon -R steps at nextRate's rates: the search done by hand. */
export async function searchByHand(server: Child, spec: SearchSpec): Promise<SearchSide> {
  const url = `${server.url}/api/bench/by-hand`;
  const started = performance.now();
  // autocannon's -d is whole seconds in effect: it stops on its one-second tick.
  const seconds = Math.max(1, Math.round(spec.stepDurationMs / 1000));
  const steps: Step[] = [];
  for (let decision = nextRate(spec, steps); decision.kind === 'step'; decision = nextRate(spec, steps)) {
    const { rate } = decision;
    const connections = Math.min(spec.concurrency, rate);
    if (spec.warmupMs > 0) {
      await autocannon({ url, connections, overallRate: rate, amount: Math.max(connections, Math.round((rate * spec.warmupMs) / 1000)), sampleInt: 10 });
    }
    const ac = await autocannon({ url, connections, overallRate: rate, duration: seconds });
    const completed = ac.requests.total + ac.errors;
    // One share of the rate per second that ran (autocannon's duration is whole seconds, see above).
    const dropped = Math.max(0, rate * Math.round(ac.duration) - completed);
    const figures = {
      latencyMs: { min: ac.latency.min, mean: ac.latency.mean, stddev: ac.latency.stddev, p50: ac.latency.p50, p90: ac.latency.p90, p99: ac.latency.p99, p99_9: ac.latency.p99_9, max: ac.latency.max },
      completed,
      failed: ac.non2xx + ac.errors,
      dropped,
    };
    const missed = missedObjective(spec.objective, figures);
    steps.push({ rate, met: missed.length === 0, missed, requestsPerSecond: Math.round(ac.requests.total / ac.duration), p50: ac.latency.p50, p99: ac.latency.p99, errors: errorPercent(figures), dropped });
    console.error(`by-hand step ${rate} req/s: ${missed.length === 0 ? 'met' : `missed (${missed.join(', ')})`}`);
  }
  const done = nextRate(spec, steps);
  if (done.kind !== 'done') throw new Error('unreachable');
  return { breakingPoint: done.breakingPoint, firstFailingRate: done.firstFailingRate, steps, durationMs: Math.round(performance.now() - started) };
}
