// The load generator's own ceiling (issue 17: "if a target is out of reach with got, show the
// profile that proves it"): what POST /test reaches when nothing but itself can limit it.
//
// The generator runs exactly as the server runs it (GeneratorThreads: its worker thread, got via
// src/loadgen/client.ts, p-limit, its tallies and histogram, the default settings' threads), but
// in this bench process, which does nothing else meanwhile, against bare-http.ts's server in a
// child process, which answers at once. So it has at least a core to itself and a server
// that costs next to nothing: its req/s here is an upper bound, and its latencies a lower bound,
// of what it can show on the real server, where it shares the cores with the server and Redis.
// Closed model, after a warm-up stage, at the concurrency of each target it bounds (50: the
// latency and req/s targets, one turn in each latency round, right after the clients on the real
// server, so that the bound and what it bounds are measured in the same minute; CONCURRENCY: the
// search's steps, in rounds of their own).
//
// The same loop on bare node:http (the same agent and headers, no got) in the same process is
// the floor any Node client stands on: when the generator's ceiling is out of reach of a target
// and bare node:http's is not, it is got that puts it out of reach.
import { performance } from 'node:perf_hooks';
import { GeneratorThreads, loadThreads } from '../src/loadgen/thread.js';
import type { LoadPlan } from '../src/loadgen/runner.js';
import { loadSettings } from '../src/settings.js';
import { bareClient, closedLoop, startOkServer } from './bare-http.js';
import { median } from './lib.js';

export interface CeilingFigures {
  /** req/s and latencies in ms. */
  rps: number;
  p50: number;
  p99: number;
  /** The generator's thread was busy this share of the run (1: saturated, so the limit is its own). */
  eventLoopUtilization: number;
}

export interface CeilingRow {
  concurrency: number;
  /** Medians over the rounds. */
  generator: CeilingFigures;
  bare: CeilingFigures;
  threads: number;
}

/** At 50, the medians of the latency rounds' turns (loadgen-latency.ts); at the search's concurrency, rounds of its own. */
export interface CeilingPhase {
  requests: number;
  rounds: number;
  rows: CeilingRow[];
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** `requests` sends on bare node:http in a closed loop, each timed from send to its body's end. */
async function bareRun(target: string, concurrency: number, requests: number): Promise<CeilingFigures> {
  const client = bareClient(target, concurrency, { 'user-agent': 'hitcounter-loadgen' });
  const elu = performance.eventLoopUtilization();
  const started = performance.now();
  let latencies: Float64Array;
  try {
    latencies = await closedLoop(client, requests, concurrency);
  } finally {
    client.close();
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort();
  const at = (q: number) => latencies[Math.min(requests - 1, Math.floor(q * requests))]!;
  return { rps: Math.round(requests / seconds), p50: r2(at(0.5)), p99: r2(at(0.99)), eventLoopUtilization: r2(performance.eventLoopUtilization(elu).utilization) };
}

async function generatorRun(generatorThreads: GeneratorThreads, plan: LoadPlan): Promise<{ figures: CeilingFigures; threads: number }> {
  const { report } = await generatorThreads.execute(plan, () => {}).result;
  if (report.failed > 0 || report.completed !== plan.stages.at(-1)!.requests) {
    throw new Error(`the generator's ceiling run: ${report.completed} completed, ${report.failed} failed ${JSON.stringify(report.errors)}`);
  }
  const { requestsPerSecond, latencyMs, generator } = report;
  return { figures: { rps: Math.round(requestsPerSecond), p50: latencyMs.p50, p99: latencyMs.p99, eventLoopUtilization: generator.eventLoopUtilization }, threads: generator.threads };
}

/** One turn at a concurrency: the generator's run and bare node:http's, one after the other. */
export interface CeilingTurn {
  concurrency: number;
  generator: CeilingFigures;
  bare: CeilingFigures;
  threads: number;
}

/** A trivial server and the generator's threads, kept for every turn of the bench. */
export interface Ceiling {
  /** `round` turns the order, so that neither always goes first. */
  turn(concurrency: number, round: number): Promise<CeilingTurn>;
  close(): Promise<void>;
}

export async function startCeiling(requests: number): Promise<Ceiling> {
  const server = await startOkServer();
  const { loadtest } = loadSettings({});
  // Kept between runs, as the server keeps them (loadtest.keepWarmMs).
  const generatorThreads = new GeneratorThreads(loadtest.keepWarmMs);
  const plan = (concurrency: number): LoadPlan => ({
    stages: [
      { warmup: true, rate: null, concurrency, requests: Math.ceil(requests / 5), durationMs: null },
      { warmup: false, rate: null, concurrency, requests, durationMs: null },
    ],
    distribution: loadtest.distribution,
    paths: loadtest.paths,
    zipfExponent: loadtest.zipfExponent,
    seed: 17,
    target: server.target,
    threads: loadThreads(loadtest.threads),
    batchSize: loadtest.batchSize,
    requestTimeoutMs: loadtest.requestTimeoutMs,
    maxLagMs: loadtest.maxLagMs,
    progressIntervalMs: loadtest.progressIntervalMs,
    loadgenSecret: 'bench',
  });
  const warmed = new Set<number>();
  return {
    async turn(concurrency, round) {
      if (!warmed.has(concurrency)) {
        await bareRun(server.target, concurrency, Math.ceil(requests / 5));
        warmed.add(concurrency);
      }
      let generator: { figures: CeilingFigures; threads: number } | undefined;
      let bare: CeilingFigures | undefined;
      const runs = [
        async () => { generator = await generatorRun(generatorThreads, plan(concurrency)); },
        async () => { bare = await bareRun(server.target, concurrency, requests); },
      ];
      for (const run of round % 2 === 0 ? runs : runs.reverse()) await run();
      return { concurrency, generator: generator!.figures, bare: bare!, threads: generator!.threads };
    },
    async close() {
      server.stop();
      await generatorThreads.close();
    },
  };
}

/** The turns' medians at one concurrency. */
export function ceilingRow(turns: readonly CeilingTurn[]): CeilingRow {
  const med = (xs: CeilingFigures[]): CeilingFigures => ({
    rps: median(xs.map((x) => x.rps)),
    p50: median(xs.map((x) => x.p50)),
    p99: median(xs.map((x) => x.p99)),
    eventLoopUtilization: median(xs.map((x) => x.eventLoopUtilization)),
  });
  const row = { concurrency: turns[0]!.concurrency, generator: med(turns.map((t) => t.generator)), bare: med(turns.map((t) => t.bare)), threads: turns[0]!.threads };
  console.error(`ceiling at concurrency ${row.concurrency}: generator ${JSON.stringify(row.generator)}, bare node:http ${JSON.stringify(row.bare)}`);
  return row;
}

/** `rounds` turns at `concurrency`, back to back. */
export async function ceilingRounds(ceiling: Ceiling, concurrency: number, rounds: number): Promise<CeilingRow> {
  const turns: CeilingTurn[] = [];
  for (let round = 0; round < rounds; round++) turns.push(await ceiling.turn(concurrency, round));
  return ceilingRow(turns);
}
