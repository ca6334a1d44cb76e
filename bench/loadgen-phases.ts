// Phase 3 of npm run bench (and all of `--only loadgen`): the built-in load generator on the
// default server, measured three ways (issue 17):
//   3a. closed model next to autocannon and wrk (loadgen-latency.ts): req/s, p50 and p99 ratios,
//       the report's `generator` figures and `warnings`, the generator's CPU per request;
//   3b. the breaking point: POST /test/search vs autocannon -R steps by hand (loadgen-search.ts);
//   3c. a 1,000,000-request staged run: the server's RSS and /health (loadgen-million.ts), on a
//       server of its own started for it, so the RSS grows from a fresh server's idle, as on a
//       user's first run, not from one the phases before have already grown;
//   3d. the generator's own ceiling, alone against a server that costs nothing, next to bare
//       node:http (loadgen-ceiling.ts): what proves a missed target out of reach with got. At
//       3a's concurrency it is measured in each of 3a's rounds, so that both come from the same
//       minute of a machine whose speed drifts.
import type { Child } from './lib.js';
import { ceilingRounds, ceilingRow, startCeiling, type Ceiling, type CeilingPhase } from './loadgen-ceiling.js';
import { latencyPhase, type LatencyPhase } from './loadgen-latency.js';
import { millionPhase, type MillionPhase } from './loadgen-million.js';
import { CONCURRENCY, searchPhase, type SearchPhase } from './loadgen-search.js';
import { findWrk } from './wrk.js';

export interface LoadgenOptions {
  smoke: boolean;
  rounds: number;
  /** Requests of the staged run (1,000,000 by default). */
  million: number;
}

export interface LoadgenPhases {
  latency: LatencyPhase;
  search: SearchPhase;
  million: MillionPhase;
  /** The generator's ceiling (loadgen-ceiling.ts): at 50, the medians of the latency rounds' turns; at the search's concurrency, rounds of its own. */
  ceiling: CeilingPhase;
  /** Every generator run of the phase counted exactly its successes in Redis. */
  exact: boolean;
}

export async function loadgenPhases(server: Child, { smoke, rounds, million: millionRequests }: LoadgenOptions, startFresh: () => Promise<Child>): Promise<LoadgenPhases> {
  const wrk = await findWrk();
  console.log(wrk ? `wrk: ${wrk}` : 'wrk not installed: the latency ratios vs wrk are left out');

  const ceilingRequests = smoke ? 1000 : 20_000;
  const ceilingRunner = await startCeiling(ceilingRequests);
  try {
    return await phases(server, { smoke, rounds, million: millionRequests }, startFresh, wrk, ceilingRunner, ceilingRequests);
  } finally {
    await ceilingRunner.close();
  }
}

async function phases(server: Child, { smoke, rounds, million: millionRequests }: LoadgenOptions, startFresh: () => Promise<Child>, wrk: string | null, ceilingRunner: Ceiling, ceilingRequests: number): Promise<LoadgenPhases> {
  // ---- 3a. next to autocannon and wrk, and the generator's ceiling (3d) at 50 in each round ----
  const latency = await latencyPhase(server, { rounds, requests: smoke ? 1000 : 10_000, concurrency: 50, wrk, ceiling: ceilingRunner });
  console.table(latency.rounds.map((r) => ({
    round: r.round,
    'req/s autocannon': r.autocannon,
    'req/s wrk': r.wrk ?? '-',
    'req/s POST /test': r.loadgen,
    'p50 ms ac/wrk/ours': `${r.p50.autocannon}/${r.p50.wrk ?? '-'}/${r.p50.loadgen}`,
    'p99 ms ac/wrk/ours': `${r.p99.autocannon}/${r.p99.wrk ?? '-'}/${r.p99.loadgen}`,
    'generator ELU': r.generator.eventLoopUtilization,
    'generator lag p99 ms': r.generator.eventLoopDelayP99Ms,
    warnings: r.warnings.length,
    'server CPU µs/req ac/wrk/ours': `${r.cpuUsPerRequest.autocannon}/${r.cpuUsPerRequest.wrk ?? '-'}/${r.cpuUsPerRequest.loadgen}`,
  })));
  console.log(`medians: req/s ratio ${latency.medianRatio}; latency ratios ${JSON.stringify(latency.latencyRatios)} (autocannon's whole-ms figures compared at +0.5 ms)`);
  console.log(`the generator's CPU per request (got and its loop, in the server process): ${latency.generatorCpuUsPerRequest} µs, the server process's CPU µs/request under POST /test minus under autocannon (medians).`);
  console.log('got on its own, old client vs new vs bare node:http, CPU µs/request: node --import tsx bench/client.ts (prints its own table; not part of this run).');

  // ---- 3b. the breaking point, searched and by hand ----
  // Steps of 2 s after a warm-up of 1 s (the search's default: each step starts a fresh worker
  // thread, whose JIT the warm-up heats), about a minute each way.
  const spec = smoke
    ? { minRate: 100, maxRate: 200, stepDurationMs: 200, warmupMs: 0, precision: 0.5, maxSteps: 2, concurrency: CONCURRENCY }
    : { minRate: 250, maxRate: 16_000, stepDurationMs: 2000, warmupMs: 1000, precision: 0.05, maxSteps: 12, concurrency: CONCURRENCY };
  const search = await searchPhase(server, spec);
  const steps = (side: 'search' | 'byHand') => search[side].steps.map((s) => ({ way: side === 'search' ? 'POST /test/search' : 'autocannon -R', rate: s.rate, verdict: s.met ? 'met' : s.missed.join(', '), 'req/s': s.requestsPerSecond, p50: s.p50, p99: s.p99, 'errors %': s.errors, dropped: s.dropped }));
  console.table([...steps('search'), ...steps('byHand')]);
  console.log(`breaking point: POST /test/search ${search.search.breakingPoint ?? 'none'} req/s (${Math.round(search.search.durationMs / 1000)} s), by hand ${search.byHand.breakingPoint ?? 'none'} req/s (${Math.round(search.byHand.durationMs / 1000)} s), ratio ${search.ratio ?? '-'}`);
  for (const warning of search.search.warnings) console.log(`  search warning ${warning}`);

  // ---- 3c. a long staged run ----
  const fresh = await startFresh();
  let million: MillionPhase;
  try {
    million = await millionPhase(fresh, { requests: millionRequests, rate: latency.loadgenRps });
  } finally {
    await fresh.stop();
  }
  console.table([{
    requests: million.requests, completed: million.completed, dropped: million.dropped, 's': Math.round(million.durationMs / 1000), 'req/s': million.requestsPerSecond,
    'p50 ms': million.latencyMs.p50, 'p99 ms': million.latencyMs.p99, 'RSS growth MB': million.rssGrowthMB, 'RSS peak MB': million.rssPeakMB,
    '/health polls': million.health.polls, '/health failures': million.health.failures, '/health max ms (at s)': `${million.health.maxLatencyMs} (${million.health.maxLatencyAtS})`,
    'generator ELU': million.generator.eventLoopUtilization,
  }]);
  for (const warning of million.warnings) console.log(`  warning: ${warning}`);

  // ---- 3d. the generator's own ceiling ----
  // At 3a's concurrency, measured in 3a's rounds; at 3b's steps' concurrency, here (the servers idle).
  const ceiling: CeilingPhase = {
    requests: ceilingRequests,
    rounds,
    rows: [ceilingRow(latency.rounds.map((r) => r.ceiling!)), await ceilingRounds(ceilingRunner, spec.concurrency, rounds)],
  };
  console.table(ceiling.rows.flatMap((r) => (['generator', 'bare'] as const).map((client) => ({
    concurrency: r.concurrency,
    client: client === 'generator' ? `POST /test's generator (${r.threads} thread)` : 'bare node:http',
    'req/s': r[client].rps,
    'p50 ms': r[client].p50,
    'p99 ms': r[client].p99,
    'thread busy': r[client].eventLoopUtilization,
  }))));

  return { latency, search, million, ceiling, exact: latency.exact && search.search.counted && million.counted };
}
