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
// latency and req/s targets; CONCURRENCY: the search's steps).
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

export async function ceilingPhase({ concurrencies, requests, rounds }: { concurrencies: number[]; requests: number; rounds: number }): Promise<CeilingPhase> {
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
  try {
    const rows: CeilingRow[] = [];
    for (const concurrency of concurrencies) {
      await bareRun(server.target, concurrency, Math.ceil(requests / 5));
      const generator: CeilingFigures[] = [];
      const bare: CeilingFigures[] = [];
      let threads = 0;
      // Taking turns, the order turned each round.
      for (let round = 0; round < rounds; round++) {
        const runs = [
          async () => { const run = await generatorRun(generatorThreads, plan(concurrency)); generator.push(run.figures); threads = run.threads; },
          async () => { bare.push(await bareRun(server.target, concurrency, requests)); },
        ];
        for (const run of round % 2 === 0 ? runs : runs.reverse()) await run();
      }
      const med = (xs: CeilingFigures[]): CeilingFigures => ({
        rps: median(xs.map((x) => x.rps)),
        p50: median(xs.map((x) => x.p50)),
        p99: median(xs.map((x) => x.p99)),
        eventLoopUtilization: median(xs.map((x) => x.eventLoopUtilization)),
      });
      rows.push({ concurrency, generator: med(generator), bare: med(bare), threads });
      console.error(`ceiling at concurrency ${concurrency}: generator ${JSON.stringify(rows.at(-1)!.generator)}, bare node:http ${JSON.stringify(rows.at(-1)!.bare)}`);
    }
    return { requests, rounds, rows };
  } finally {
    server.stop();
    await generatorThreads.close();
  }
}
