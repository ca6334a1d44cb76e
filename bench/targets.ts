// The hit path's performance targets (issue 14), judged on one bench run's medians. Ratios only:
// absolute figures drift between machines, ratios to baselines measured in the same run do not.
import type { FullRead } from './compression.js';
import type { ApiRow } from './lib.js';
import type { LatencyPhase } from './loadgen-latency.js';
import type { MillionPhase } from './loadgen-million.js';
import type { SearchPhase } from './loadgen-search.js';

/** What the load generator's targets (issue 17) read of its phases (bench/loadgen-phases.ts). */
export interface LoadgenFigures {
  latency: Pick<LatencyPhase, 'requests' | 'concurrency' | 'latencyRatios' | 'medianRatio'>;
  search: Pick<SearchPhase, 'objective' | 'ratio'>;
  million: Pick<MillionPhase, 'requests' | 'rssGrowthMB' | 'health'>;
}

export interface StatsRates {
  /** Paths in the ranking the rates were measured on. */
  paths: number;
  /** GET /stats?limit=100 req/s, and /api req/s of the same server. */
  statsRps: number;
  apiRps: number;
}

export interface TargetRow {
  target: string;
  /** The measured ratio, rounded to 2 places. */
  figure: number;
  bound: string;
  verdict: 'met' | 'missed';
}

export const SERVERS = {
  koa: 'bare Koa hello-world',
  naive: 'naive Koa + router + ZINCRBY',
  defaults: 'hitcounter, default settings, 1 worker',
  twoWorkers: 'hitcounter, default settings, 2 workers',
  writeBehind: 'hitcounter, write-behind (default analytics)',
  counterOnly: 'hitcounter, counter only',
} as const;

const round = (x: number) => Math.round(x * 100) / 100;

function row(target: string, figure: number, comparison: '≤' | '≥', bound: number): TargetRow {
  const met = comparison === '≤' ? figure <= bound : figure >= bound;
  return { target, figure: round(figure), bound: `${comparison} ${bound}`, verdict: met ? 'met' : 'missed' };
}

/** A ratio that must lie from `low` to `high`: too low is as wrong as too high. */
function between(target: string, figure: number, low: number, high: number, label: string): TargetRow {
  const met = figure >= low && figure <= high;
  return { target, figure: round(figure), bound: `${label} (${round(low)} to ${high})`, verdict: met ? 'met' : 'missed' };
}

/** Not a ratio: every load-generator run of the bench counted exactly its successes. */
function exactness(exact: boolean): TargetRow {
  return { target: 'exactness: counted == succeeded in every load-generator run of the bench', figure: exact ? 1 : 0, bound: '= 1', verdict: exact ? 'met' : 'missed' };
}

/**
 * Every target with its figure and verdict. Throws when a server the targets need was not
 * measured: a target without its figure must not read as met.
 */
export function judge(api: readonly ApiRow[], stats: readonly StatsRates[], exact: boolean, compression: readonly FullRead[], loadgen: LoadgenFigures): TargetRow[] {
  const rows = apiTargets(api);
  for (const { paths, statsRps, apiRps } of stats) {
    rows.push(row(`/stats?limit=100 at ${paths.toLocaleString('en-US')} paths: req/s vs /api on the same server`, statsRps / apiRps, '≥', 0.5));
  }
  // Issue 16: gzip makes a full /stats at most 15% of its size, and it still streams: its first byte
  // leaves within the plain answer's bound (the ratio is of medians of a few ms each, hence 1.5).
  const gzip = compression.find((r) => r.encoding === 'gzip');
  if (!gzip) throw new Error('bench targets: no gzip read of /stats');
  rows.push(row('full /stats, gzip: bytes vs plain', gzip.sizeVsPlain, '≤', 0.15));
  rows.push(row('full /stats, gzip: time to first byte vs plain', gzip.firstByteVsPlain, '≤', 1.5));
  rows.push(...loadgenTargets(loadgen));
  rows.push(exactness(exact));
  return rows;
}

/** The load generator's targets and exactness (npm run bench -- --only loadgen). */
export function onlyLoadgenTargets(loadgen: LoadgenFigures, exact: boolean): TargetRow[] {
  return [...loadgenTargets(loadgen), exactness(exact)];
}

/**
 * Issue 17: the generator's latencies are those of autocannon and wrk on the same server (within
 * 1.5× either way: a generator that reads low is as wrong as one that reads high), its req/s at
 * least half autocannon's, its breaking point the one found by hand, and a long staged run keeps
 * the server's memory and /health. Rows vs wrk only when wrk is installed.
 */
export function loadgenTargets({ latency, search, million }: LoadgenFigures): TargetRow[] {
  const ours = `POST /test/${latency.requests}?concurrency=${latency.concurrency}`;
  const ac = `autocannon -a ${latency.requests} -c ${latency.concurrency}`;
  const wrk = `wrk -t1 -c${latency.concurrency}`;
  const { p50VsAutocannon, p99VsAutocannon, p50VsWrk, p99VsWrk } = latency.latencyRatios;
  const rows = [
    between(`${ours}: p50 vs ${ac}`, p50VsAutocannon, 1 / 1.5, 1.5, 'within 1.5×'),
    between(`${ours}: p99 vs ${ac}`, p99VsAutocannon, 1 / 1.5, 1.5, 'within 1.5×'),
  ];
  if (p50VsWrk !== null && p99VsWrk !== null) {
    rows.push(between(`${ours}: p50 vs ${wrk}`, p50VsWrk, 1 / 1.5, 1.5, 'within 1.5×'), between(`${ours}: p99 vs ${wrk}`, p99VsWrk, 1 / 1.5, 1.5, 'within 1.5×'));
  }
  rows.push(row(`${ours}: req/s vs ${ac}`, latency.medianRatio, '≥', 0.5));
  const objective = Object.entries(search.objective).map(([name, bound]) => (name === 'errors' ? `errors ≤ ${bound}%` : `${name} ≤ ${bound} ms`)).join(', ');
  // No breaking point on either side: nothing to compare, so not met.
  rows.push(between(`POST /test/search: breaking point vs by hand (autocannon -R steps), ${objective}`, search.ratio ?? 0, 0.9, 1.1, 'within ±10%'));
  const run = `staged run of ${million.requests.toLocaleString('en-US')} requests`;
  rows.push(row(`${run}: peak RSS growth of the server process, MB`, million.rssGrowthMB, '≤', 150));
  rows.push({ target: `${run}: /health failures (asked every 100 ms)`, figure: million.health.failures, bound: '= 0', verdict: million.health.failures === 0 ? 'met' : 'missed' });
  return rows;
}

/** The targets of the /api phase alone (npm run bench -- --only api). */
export function apiTargets(api: readonly ApiRow[]): TargetRow[] {
  const of = (server: string) => {
    const found = api.find((r) => r.server === server);
    if (!found) throw new Error(`bench targets: no measurement of "${server}"`);
    return found;
  };
  const koa = of(SERVERS.koa);
  const naive = of(SERVERS.naive);
  const defaults = of(SERVERS.defaults);
  const counterOnly = of(SERVERS.counterOnly);
  const rows = [
    row('default settings: CPU µs per hit vs the naive counter', defaults.cpuUsPerRequest / naive.cpuUsPerRequest, '≤', 1.0),
    row('default settings: req/s vs the naive counter', defaults.rps / naive.rps, '≥', 1.0),
    row('counter only: CPU µs per hit vs bare Koa', counterOnly.cpuUsPerRequest / koa.cpuUsPerRequest, '≤', 1.15),
    row('counter only: req/s vs bare Koa', counterOnly.rps / koa.rps, '≥', 0.85),
    row('write-behind: req/s vs bare Koa', of(SERVERS.writeBehind).rps / koa.rps, '≥', 0.9),
    row('2 workers: CPU µs per hit vs 1 worker', of(SERVERS.twoWorkers).cpuUsPerRequest / defaults.cpuUsPerRequest, '≤', 1.1),
  ];
  return rows;
}
