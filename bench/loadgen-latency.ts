// The load generator next to autocannon and wrk on the same server, closed model, same concurrency
// (issue 17, targets 1 and 2): POST /test/N?concurrency=C, autocannon -a N -c C and wrk -c C for
// about as long, interleaved (the order turns each round), after a warm-up round of each.
// Per round: each one's req/s, p50 and p99, the generator's ratios to the other two, the report's
// `generator` figures and `warnings`, and the server process's CPU per request under each: the
// generator runs in the server process (worker threads), so its CPU per request is what the
// process spends under POST /test beyond what it spends serving autocannon.
import autocannon from 'autocannon';
import type { Ceiling, CeilingTurn } from './loadgen-ceiling.js';
import got from 'got';
import type { JobReport } from '../src/loadgen/jobs.js';
import { cpuMicros, median, type Child } from './lib.js';
import { runWrk } from './wrk.js';

type Tool = 'autocannon' | 'wrk' | 'loadgen';

interface Measured { rps: number; p50: number; p99: number; cpuUsPerRequest: number }

export interface LatencyRound {
  round: number;
  /** req/s of each, and the generator's over autocannon's (issue 17's target 2). */
  autocannon: number;
  wrk: number | null;
  loadgen: number;
  ratio: number;
  /** ms, as each reports them; autocannon's are whole ms, truncated. */
  p50: Record<Tool, number | null>;
  p99: Record<Tool, number | null>;
  /** The generator's p50 and p99 over autocannon's (the middle of its whole-ms bucket) and over wrk's. */
  latencyRatios: LatencyRatios;
  generator: JobReport['generator'];
  warnings: string[];
  /** The server process's CPU µs per request under each (under POST /test it includes the generator's). */
  cpuUsPerRequest: Record<Tool, number | null>;
  counted: boolean;
  /** The generator's ceiling, measured in the same round (loadgen-ceiling.ts), when asked for. */
  ceiling: CeilingTurn | null;
}

export interface LatencyRatios { p50VsAutocannon: number; p99VsAutocannon: number; p50VsWrk: number | null; p99VsWrk: number | null }

/** One client's medians over the rounds: req/s, and p50 and p99 in ms as it reports them. */
export interface ClientMedians { rps: number; p50: number; p99: number }

export interface LatencyPhase {
  requests: number;
  concurrency: number;
  /** wrk's path, or null when it is not installed. */
  wrk: string | null;
  wrkSeconds: number | null;
  rounds: LatencyRound[];
  /** Medians over the rounds. */
  medianRatio: number;
  latencyRatios: LatencyRatios;
  /** autocannon's and wrk's own medians: what the generator's ceiling is held against (targets.ts). */
  reference: { autocannon: ClientMedians; wrk: ClientMedians | null };
  loadgenRps: number;
  /** The generator's CPU µs per request: the server process's under POST /test minus under autocannon (medians). */
  generatorCpuUsPerRequest: number;
  exact: boolean;
}

const r2 = (x: number) => Math.round(x * 100) / 100;
// autocannon's histogram keeps whole ms (5 is 5.0 to 5.99 ms): compared at the middle of that bucket.
export const acMs = (ms: number) => ms + 0.5;

/**
 * `ceiling`, when given, measures the generator's ceiling at the same concurrency in each round,
 * right after the three clients: a shared machine's speed drifts by minutes, and a ceiling from
 * another minute bounds nothing (targets.ts).
 */
export async function latencyPhase(server: Child, options: { rounds: number; requests: number; concurrency: number; wrk: string | null; ceiling?: Ceiling }): Promise<LatencyPhase> {
  const { rounds, requests, concurrency, wrk, ceiling } = options;
  const pid = server.child.pid!;
  // wrk runs for whole seconds: about as long as autocannon's N requests took in the warm-up.
  let wrkSeconds = 1;
  const withCpu = async (run: () => Promise<{ rps: number; p50: number; p99: number; requests: number }>): Promise<Measured & { requests: number }> => {
    const before = await cpuMicros(pid);
    const result = await run();
    return { ...result, cpuUsPerRequest: ((await cpuMicros(pid)) - before) / result.requests };
  };
  let report: JobReport | undefined;
  const tools: Record<Tool, () => Promise<Measured>> = {
    autocannon: () => withCpu(async () => {
      // -L 10 (sampleInt): without it, -a rounds the duration up to a whole second.
      const ac = await autocannon({ url: `${server.url}/api/bench/autocannon`, connections: concurrency, amount: requests, sampleInt: 10 });
      if (ac.errors > 0 || ac.non2xx > 0) throw new Error(`autocannon: ${ac.errors} errors, ${ac.non2xx} non-2xx`);
      wrkSeconds = Math.max(1, Math.round(ac.duration));
      return { rps: ac.requests.total / ac.duration, p50: ac.latency.p50, p99: ac.latency.p99, requests: ac.requests.total };
    }),
    wrk: () => withCpu(async () => {
      const result = await runWrk(wrk!, `${server.url}/api/bench/wrk`, { connections: concurrency, seconds: wrkSeconds });
      if (result.errors > 0) throw new Error(`wrk: ${result.errors} errors`);
      return result;
    }),
    loadgen: () => withCpu(async () => {
      report = await got.post(`${server.url}/test/${requests}?concurrency=${concurrency}`).json<JobReport>();
      return { rps: report.requestsPerSecond, p50: report.latencyMs.p50, p99: report.latencyMs.p99, requests: report.completed };
    }),
  };
  const order: Tool[] = wrk ? ['autocannon', 'wrk', 'loadgen'] : ['autocannon', 'loadgen'];
  // A warm-up round: the server's JIT, and wrk's duration (autocannon goes first for it).
  for (const tool of order) await tools[tool]();

  const results: LatencyRound[] = [];
  for (let round = 1; round <= rounds; round++) {
    const m: Partial<Record<Tool, Measured>> = {};
    for (let i = 0; i < order.length; i++) {
      const tool = order[(i + round - 1) % order.length]!;
      m[tool] = await tools[tool]();
    }
    const turn = ceiling ? await ceiling.turn(concurrency, round) : null;
    const ac = m.autocannon!;
    const gen = m.loadgen!;
    const w = m.wrk;
    const finished = report!;
    const row: LatencyRound = {
      round,
      autocannon: Math.round(ac.rps),
      wrk: w ? Math.round(w.rps) : null,
      loadgen: Math.round(gen.rps),
      ratio: r2(gen.rps / ac.rps),
      p50: { autocannon: ac.p50, wrk: w?.p50 ?? null, loadgen: gen.p50 },
      p99: { autocannon: ac.p99, wrk: w?.p99 ?? null, loadgen: gen.p99 },
      latencyRatios: {
        p50VsAutocannon: r2(gen.p50 / acMs(ac.p50)),
        p99VsAutocannon: r2(gen.p99 / acMs(ac.p99)),
        p50VsWrk: w ? r2(gen.p50 / w.p50) : null,
        p99VsWrk: w ? r2(gen.p99 / w.p99) : null,
      },
      generator: finished.generator,
      warnings: finished.warnings,
      cpuUsPerRequest: { autocannon: r2(ac.cpuUsPerRequest), wrk: w ? r2(w.cpuUsPerRequest) : null, loadgen: r2(gen.cpuUsPerRequest) },
      counted: finished.counted.equalsSucceeded,
      ceiling: turn,
    };
    results.push(row);
    console.error(`loadgen round ${round}: req/s autocannon ${row.autocannon}, wrk ${row.wrk ?? '-'}, POST /test ${row.loadgen}; p50/p99 ms autocannon ${ac.p50}/${ac.p99}, wrk ${w ? `${w.p50}/${w.p99}` : '-'}, POST /test ${gen.p50}/${gen.p99}; generator ELU ${row.generator.eventLoopUtilization}, lag p99 ${row.generator.eventLoopDelayP99Ms} ms, ${row.generator.threads} thread(s)${turn ? `; its ceiling alone ${turn.generator.rps} req/s, p50/p99 ${turn.generator.p50}/${turn.generator.p99} ms (bare node:http ${turn.bare.rps}, ${turn.bare.p50}/${turn.bare.p99})` : ''}`);
    for (const warning of row.warnings) console.error(`  warning: ${warning}`);
  }
  const med = (pick: (r: LatencyRound) => number | null) => {
    const xs = results.map(pick).filter((x): x is number => x !== null);
    return xs.length === 0 ? null : median(xs);
  };
  return {
    requests,
    concurrency,
    wrk,
    wrkSeconds: wrk ? wrkSeconds : null,
    rounds: results,
    medianRatio: med((r) => r.ratio)!,
    latencyRatios: {
      p50VsAutocannon: med((r) => r.latencyRatios.p50VsAutocannon)!,
      p99VsAutocannon: med((r) => r.latencyRatios.p99VsAutocannon)!,
      p50VsWrk: med((r) => r.latencyRatios.p50VsWrk),
      p99VsWrk: med((r) => r.latencyRatios.p99VsWrk),
    },
    reference: {
      autocannon: { rps: med((r) => r.autocannon)!, p50: med((r) => r.p50.autocannon)!, p99: med((r) => r.p99.autocannon)! },
      wrk: wrk ? { rps: med((r) => r.wrk)!, p50: med((r) => r.p50.wrk)!, p99: med((r) => r.p99.wrk)! } : null,
    },
    loadgenRps: med((r) => r.loadgen)!,
    generatorCpuUsPerRequest: r2(med((r) => r.cpuUsPerRequest.loadgen! - r.cpuUsPerRequest.autocannon!)!),
    exact: results.every((r) => r.counted),
  };
}
