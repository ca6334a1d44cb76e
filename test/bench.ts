// A smoke test of `npm run bench`: a --smoke run (short phases, one round, small data), to keep the script
// from rotting. Its figures mean nothing here (the test suite loads the machine); only that each
// one is measured and written.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { judge, loadgenTargets, SERVERS, type LoadgenFigures, type TargetRow } from '../bench/targets.js';
import type { FullRead } from '../bench/compression.js';
import type { ApiRow } from '../bench/lib.js';
import type { LatencyPhase } from '../bench/loadgen-latency.js';
import type { MillionPhase } from '../bench/loadgen-million.js';
import type { SearchPhase } from '../bench/loadgen-search.js';
import { findWrk } from '../bench/wrk.js';
import { tempDir } from './helpers/tmp.js';

const root = new URL('..', import.meta.url).pathname;

test('npm run bench measures every server, /stats and the load generator, and writes them as JSON', async (t) => {
  t.timeout(300_000);
  const out = join(await tempDir(t, 'hitcounter-bench-test-'), 'bench.json');
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--duration', '0.5', '--rounds', '1', '--paths', '1000', '--stats-paths', '20000', '--out', out], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
  const code = await new Promise((resolve) => child.on('exit', resolve));
  t.is(code, 0, output);
  const result = JSON.parse(await readFile(out, 'utf8')) as {
    api: Array<{ server: string; rps: number; cpuUsPerRequest: number; redisCpuUsPerRequest: number; rpsVsKoa: number; cpuVsKoa: number }>;
    stats: Record<string, number>;
    compression: { paths: number; reads: FullRead[] };
    loadgen: LatencyPhase;
    search: SearchPhase;
    million: MillionPhase;
    targets: TargetRow[];
  };
  t.deepEqual(result.api.map((row) => row.server), [
    'bare Koa hello-world',
    'naive Koa + router + ZINCRBY',
    'hitcounter, default settings, 1 worker',
    'hitcounter, default settings, 2 workers',
    'hitcounter, write-behind (default analytics)',
    'hitcounter, event log off',
    'hitcounter, counter only',
  ]);
  for (const row of result.api) {
    t.true(row.rps > 0 && row.cpuUsPerRequest > 0, row.server);
    t.true(Number.isFinite(row.rpsVsKoa) && Number.isFinite(row.cpuVsKoa), row.server);
  }
  t.is(result.api[0]!.rpsVsKoa, 1);
  // Redis's side of a hit is measured too: the default settings' scripts keep it busy.
  t.true(result.api[2]!.redisCpuUsPerRequest > 0, JSON.stringify(result.api[2]));
  t.true(result.stats.topRps! > 0);
  t.true(result.stats.fullFirstByteMs! <= result.stats.fullWallMs!);
  t.true(result.stats.fullWallMs! > 0);
  t.is(result.loadgen.rounds.length, 1);
  // Every target is judged (its figure is the smoke run's, so either verdict), and the bench's own
  // load counted exactly.
  // A full /stats read plain, gzip and br: each answered, gzip and br smaller than plain.
  t.deepEqual(result.compression.reads.map((r) => r.encoding), ['identity', 'gzip', 'br']);
  for (const read of result.compression.reads) t.true(read.bytes > 0 && read.firstByteMs <= read.wallMs, JSON.stringify(read));
  t.true(result.compression.reads.slice(1).every((r) => r.sizeVsPlain < 1), JSON.stringify(result.compression));
  // The load generator's targets: 6, and 2 more vs wrk when it is installed (it is said either way).
  const wrk = result.loadgen.wrk !== null;
  t.is(result.targets.length, 11 + 6 + (wrk ? 2 : 0));
  t.true(output.includes(wrk ? `wrk: ${result.loadgen.wrk}` : 'wrk not installed'), output);
  t.true(result.targets.every((row) => Number.isFinite(row.figure) && ['met', 'missed'].includes(row.verdict)), JSON.stringify(result.targets));
  t.like(result.targets.at(-1), { figure: 1, verdict: 'met' });
  const [round] = result.loadgen.rounds;
  t.true(round!.loadgen > 0 && round!.autocannon > 0 && (round!.wrk ?? 0) >= 0);
  t.is(round!.wrk === null, !wrk);
  for (const tool of ['autocannon', 'loadgen'] as const) t.true(round!.p50[tool]! >= 0 && round!.p99[tool]! >= round!.p50[tool]!, JSON.stringify(round));
  // The report's own view of the generator is in the bench's output and its JSON.
  t.true(round!.generator.eventLoopUtilization >= 0 && round!.generator.eventLoopUtilization <= 1, JSON.stringify(round!.generator));
  t.true(Array.isArray(round!.warnings));
  t.true(output.includes('generator ELU'), output);
  t.true(Number.isFinite(result.loadgen.generatorCpuUsPerRequest));
  // Both searches start at minRate and follow the same rule (nextRate): each step a rate it chose.
  t.is(result.search.search.steps[0]!.rate, result.search.spec.minRate);
  t.is(result.search.byHand.steps[0]!.rate, result.search.spec.minRate);
  t.true(result.search.byHand.steps.length <= result.search.spec.maxSteps);
  // The staged run sent every one of its requests (or dropped them), while /health was asked.
  t.is(result.million.completed + result.million.dropped, 3000);
  t.true(result.million.health.polls > 0 && result.million.rssPeakMB > 0, JSON.stringify(result.million));
});

test('wrk is looked for on the PATH, and its absence is no error', async (t) => {
  t.is(await findWrk('/nonexistent'), null);
});

/** A row of the interleaved /api table, as bench/lib.ts reports it. */
const measured = (server: string, rps: number, cpuUsPerRequest: number): ApiRow => ({ server, rps, cpuUsPerRequest, redisCpuUsPerRequest: 0, p50: 1, p99: 2, rpsVsKoa: 0, cpuVsKoa: 0 });

test('the targets are judged on ratios, with met and missed on the right side of each bound', (t) => {
  const api = [
    measured(SERVERS.koa, 10_000, 100),
    measured(SERVERS.naive, 7000, 140),
    measured(SERVERS.defaults, 7000, 140), // exactly on both naive bounds: met
    measured(SERVERS.twoWorkers, 7000, 154.1), // 1.101 × one worker's CPU: missed
    measured(SERVERS.writeBehind, 8999, 110), // 0.8999 × Koa: missed
    measured(SERVERS.counterOnly, 8500, 115), // 0.85 and 1.15: met
  ];
  const reads: FullRead[] = [
    { encoding: 'identity', firstByteMs: 2, wallMs: 90, bytes: 1000, sizeVsPlain: 1, firstByteVsPlain: 1 },
    { encoding: 'gzip', firstByteMs: 3, wallMs: 100, bytes: 150, sizeVsPlain: 0.15, firstByteVsPlain: 1.5 }, // both on their bounds: met
  ];
  const rows = judge(api, [{ paths: 1000, statsRps: 5000, apiRps: 10_000 }, { paths: 1_000_000, statsRps: 4999, apiRps: 10_000 }], true, reads, loadgen);
  t.deepEqual(rows.map((row) => [row.target, row.figure, row.bound, row.verdict]), [
    ['default settings: CPU µs per hit vs the naive counter', 1, '≤ 1', 'met'],
    ['default settings: req/s vs the naive counter', 1, '≥ 1', 'met'],
    ['counter only: CPU µs per hit vs bare Koa', 1.15, '≤ 1.15', 'met'],
    ['counter only: req/s vs bare Koa', 0.85, '≥ 0.85', 'met'],
    ['write-behind: req/s vs bare Koa', 0.9, '≥ 0.9', 'missed'],
    ['2 workers: CPU µs per hit vs 1 worker', 1.1, '≤ 1.1', 'missed'],
    ['/stats?limit=100 at 1,000 paths: req/s vs /api on the same server', 0.5, '≥ 0.5', 'met'],
    ['/stats?limit=100 at 1,000,000 paths: req/s vs /api on the same server', 0.5, '≥ 0.5', 'missed'],
    ['full /stats, gzip: bytes vs plain', 0.15, '≤ 0.15', 'met'],
    ['full /stats, gzip: time to first byte vs plain', 1.5, '≤ 1.5', 'met'],
    ...loadgenRows,
    ['exactness: counted == succeeded in every load-generator run of the bench', 1, '= 1', 'met'],
  ]);
  t.is(judge(api, [], false, reads, loadgen).at(-1)!.verdict, 'missed', 'a run that miscounted misses exactness');
  const slowGzip = { ...reads[1]!, sizeVsPlain: 0.151, firstByteVsPlain: 1.51 };
  const gzipRows = judge(api, [], true, [reads[0]!, slowGzip], loadgen).filter((row) => row.target.startsWith('full /stats, gzip'));
  t.deepEqual(gzipRows.map((row) => row.verdict), ['missed', 'missed']);
  t.throws(() => judge(api.slice(1), [], true, reads, loadgen), { message: 'bench targets: no measurement of "bare Koa hello-world"' });
  t.throws(() => judge(api, [], true, reads.slice(0, 1), loadgen), { message: 'bench targets: no gzip read of /stats' });
});

/** The load generator's figures on every bound (met), as the phases of bench/loadgen-phases.ts report them. */
const loadgen: LoadgenFigures = {
  latency: { requests: 10_000, concurrency: 50, medianRatio: 0.5, latencyRatios: { p50VsAutocannon: 1.5, p99VsAutocannon: 1 / 1.5, p50VsWrk: 1, p99VsWrk: 1.5 } },
  search: { objective: { p99: 20, errors: 0.1 }, ratio: 0.9 },
  million: { requests: 1_000_000, rssGrowthMB: 150, health: { polls: 600, failures: 0, maxLatencyMs: 40, maxLatencyAtS: 1 } },
};

const loadgenRows = [
  ['POST /test/10000?concurrency=50: p50 vs autocannon -a 10000 -c 50', 1.5, 'within 1.5× (0.67 to 1.5)', 'met'],
  ['POST /test/10000?concurrency=50: p99 vs autocannon -a 10000 -c 50', 0.67, 'within 1.5× (0.67 to 1.5)', 'met'],
  ['POST /test/10000?concurrency=50: p50 vs wrk -t1 -c50', 1, 'within 1.5× (0.67 to 1.5)', 'met'],
  ['POST /test/10000?concurrency=50: p99 vs wrk -t1 -c50', 1.5, 'within 1.5× (0.67 to 1.5)', 'met'],
  ['POST /test/10000?concurrency=50: req/s vs autocannon -a 10000 -c 50', 0.5, '≥ 0.5', 'met'],
  ['POST /test/search: breaking point vs by hand (autocannon -R steps), p99 ≤ 20 ms, errors ≤ 0.1%', 0.9, 'within ±10% (0.9 to 1.1)', 'met'],
  ['staged run of 1,000,000 requests: peak RSS growth of the server process, MB', 150, '≤ 150', 'met'],
  ['staged run of 1,000,000 requests: /health failures (asked every 100 ms)', 0, '= 0', 'met'],
];

test('the load generator\'s targets: latencies within 1.5× either way, the breaking point within ±10%, the long run\'s limits', (t) => {
  const verdicts = (figures: LoadgenFigures) => loadgenTargets(figures).map((row) => row.verdict);
  t.deepEqual(verdicts(loadgen), Array(8).fill('met'));
  // Just outside each bound, on either side where there are two.
  const off: LoadgenFigures = {
    latency: { ...loadgen.latency, medianRatio: 0.499, latencyRatios: { p50VsAutocannon: 1.501, p99VsAutocannon: 0.666, p50VsWrk: 0.66, p99VsWrk: 1.51 } },
    search: { ...loadgen.search, ratio: 1.101 },
    million: { ...loadgen.million, rssGrowthMB: 151, health: { polls: 600, failures: 1, maxLatencyMs: 1000, maxLatencyAtS: 1 } },
  };
  t.deepEqual(verdicts(off), Array(8).fill('missed'));
  t.is(loadgenTargets({ ...loadgen, search: { ...loadgen.search, ratio: 0.899 } })[5]!.verdict, 'missed');
  // No breaking point on one side: nothing to compare, not met.
  t.like(loadgenTargets({ ...loadgen, search: { ...loadgen.search, ratio: null } })[5], { figure: 0, verdict: 'missed' });
  // Without wrk, its two rows are left out, the others unchanged.
  const withoutWrk = loadgenTargets({ ...loadgen, latency: { ...loadgen.latency, latencyRatios: { ...loadgen.latency.latencyRatios, p50VsWrk: null, p99VsWrk: null } } });
  t.deepEqual(withoutWrk.map((row) => row.target), loadgenRows.filter((row) => !String(row[0]).includes('wrk')).map((row) => row[0]));
});
