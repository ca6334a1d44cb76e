// A smoke test of `npm run bench`: a --smoke run (short phases, one round, small data), to keep the script
// from rotting. Its figures mean nothing here (the test suite loads the machine); only that each
// one is measured and written.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { judge, loadgenTargets, SERVERS, type LoadgenFigures, type TargetRow } from '../bench/targets.js';
import type { FullRead } from '../bench/compression.js';
import { startNode, type ApiRow } from '../bench/lib.js';
import type { CeilingPhase, CeilingRow } from '../bench/loadgen-ceiling.js';
import type { LatencyPhase } from '../bench/loadgen-latency.js';
import type { MillionPhase } from '../bench/loadgen-million.js';
import type { SearchPhase } from '../bench/loadgen-search.js';
import { findWrk } from '../bench/wrk.js';
import { gcFigures } from '../bench/gc-trace.js';
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
    ceiling: CeilingPhase;
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
  t.true(result.targets.every((row) => Number.isFinite(row.figure) && ['met', 'missed', 'out of reach with got'].includes(row.verdict)), JSON.stringify(result.targets));
  // Only a missed target can be out of reach, and then it says why; the others say nothing more.
  t.true(result.targets.every((row) => (row.verdict === 'out of reach with got') === (row.proof !== undefined)), JSON.stringify(result.targets));
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
  // The generator's ceiling, and bare node:http's, at the latency phase's concurrency and the search's.
  t.deepEqual(result.ceiling.rows.map((r) => r.concurrency), [50, result.search.spec.concurrency]);
  // At 50, one turn in every latency round, next to what it bounds.
  t.true(result.loadgen.rounds.every((r) => r.ceiling?.concurrency === 50 && r.ceiling.generator.rps > 0), JSON.stringify(result.loadgen.rounds.map((r) => r.ceiling)));
  for (const r of result.ceiling.rows) {
    for (const figures of [r.generator, r.bare]) {
      t.true(figures.rps > 0 && figures.p50 > 0 && figures.p99 >= figures.p50, JSON.stringify(r));
      t.true(figures.eventLoopUtilization > 0 && figures.eventLoopUtilization <= 1, JSON.stringify(r));
    }
  }
});

test('npm run bench:gc reads a real --trace-gc-nvp: the main isolate\'s scavenges and full GCs, not a worker\'s', async (t) => {
  // The main isolate keeps 300,000 objects across scavenges (promoted) and asks for 3 full GCs; a
  // worker thread, with a trace of its own, makes garbage only.
  const program = `
    const { Worker } = require('node:worker_threads');
    const keep = [];
    for (let i = 0; i < 300000; i++) keep.push({ i, s: 'x' + i });
    gc(); gc(); gc();
    new Worker('let junk; for (let i = 0; i < 50000; i++) junk = { i };', { eval: true }).on('exit', () => console.error(keep.length));`;
  const child = spawn(process.execPath, ['--trace-gc-nvp', '--expose-gc', '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
  let trace = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => { trace += text; });
  await new Promise((resolve) => child.on('close', resolve));
  const scavenges = [...trace.matchAll(/^\[\d+:(0x[0-9a-f]+)\][^\n]*gc=s /gm)];
  t.is(new Set(scavenges.map((match) => match[1])).size, 2, 'the worker thread scavenged too');
  const figures = gcFigures(trace);
  // The three asked for, and any V8 adds of its own.
  t.true(figures.fullGcs >= 3, `${figures.fullGcs} full GCs`);
  t.true(figures.fullGcPauseMs > 0);
  t.true(figures.scavenges > 0 && figures.scavenges < scavenges.length, `${figures.scavenges} of ${scavenges.length} scavenges: the worker's are not counted`);
  // At least a part of the kept objects (each some tens of bytes) went through a scavenge to the old generation.
  t.true(figures.promotedBytes > 1_000_000, `${figures.promotedBytes} bytes promoted`);
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

/** A ceiling run's figures (bench/loadgen-ceiling.ts) at a concurrency, saturated or not. */
const ceilingRow = (concurrency: number, generator: { rps: number; p50: number; p99: number }, eventLoopUtilization: number): CeilingRow => ({
  concurrency,
  threads: 1,
  generator: { ...generator, eventLoopUtilization },
  bare: { rps: 20_000, p50: 1, p99: 2, eventLoopUtilization: 0.98 },
});

/** One latency round as LoadgenFigures reads it: the generator's req/s, p50 and p99 on the real server. */
const generatorRound = (rps: number, p50: number, p99: number) => ({
  loadgen: rps,
  p50: { autocannon: 1, wrk: 2, loadgen: p50 },
  p99: { autocannon: 5, wrk: 6, loadgen: p99 },
});

/** The load generator's figures on every bound (met), as the phases of bench/loadgen-phases.ts report them. */
const loadgen: LoadgenFigures = {
  latency: {
    requests: 10_000,
    concurrency: 50,
    medianRatio: 0.5,
    latencyRatios: { p50VsAutocannon: 1.5, p99VsAutocannon: 1 / 1.5, p50VsWrk: 1, p99VsWrk: 1.5 },
    reference: { autocannon: { rps: 10_000, p50: 1.5, p99: 5.5 }, wrk: { rps: 12_000, p50: 2, p99: 6 } },
    // The generator's own rounds on the real server, slower than any ceiling below.
    rounds: [generatorRound(3000, 5, 12), generatorRound(3500, 4.5, 10)],
  },
  search: { objective: { p99: 20, errors: 0.1 }, ratio: 0.9, spec: { concurrency: 10 }, search: { steps: [{ requestsPerSecond: 2000 }, { requestsPerSecond: 4000 }] }, byHand: { breakingPoint: 10_000 } },
  million: { requests: 1_000_000, rssGrowthMB: 150, health: { polls: 600, failures: 0, maxLatencyMs: 40, maxLatencyAtS: 1 } },
  // Ceilings that prove nothing: as fast as the references, as low in latency.
  ceiling: { rows: [ceilingRow(50, { rps: 10_000, p50: 2, p99: 6 }, 1), ceilingRow(10, { rps: 10_000, p50: 1, p99: 2 }, 1)] },
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
    ceiling: loadgen.ceiling,
  };
  t.deepEqual(verdicts(off), Array(8).fill('missed'));
  t.is(loadgenTargets({ ...loadgen, search: { ...loadgen.search, ratio: 0.899 } })[5]!.verdict, 'missed');
  // No breaking point on one side: nothing to compare, not met.
  t.like(loadgenTargets({ ...loadgen, search: { ...loadgen.search, ratio: null } })[5], { figure: 0, verdict: 'missed' });
  // Without wrk, its two rows are left out, the others unchanged.
  const withoutWrk = loadgenTargets({ ...loadgen, latency: { ...loadgen.latency, latencyRatios: { ...loadgen.latency.latencyRatios, p50VsWrk: null, p99VsWrk: null } } });
  t.deepEqual(withoutWrk.map((row) => row.target), loadgenRows.filter((row) => !String(row[0]).includes('wrk')).map((row) => row[0]));
});

test('a missed target is out of reach with got only when the generator\'s own saturated ceiling is on the wrong side of its bound', (t) => {
  // Missed on the high side (latency) and the low side (rate, breaking point).
  const missed: LoadgenFigures = {
    ...loadgen,
    latency: { ...loadgen.latency, medianRatio: 0.3, latencyRatios: { p50VsAutocannon: 3, p99VsAutocannon: 3, p50VsWrk: 3, p99VsWrk: 3 } },
    search: { ...loadgen.search, ratio: 0.5 },
  };
  // Alone against a server that costs nothing, the generator's p50 is 2.01× autocannon's 2 ms (1.5 + its
  // half-ms bucket) and wrk's 2 ms, its p99 just over 1.5× their 6 ms, its rates just under the bounds.
  const slow = (elu: number): LoadgenFigures => ({
    ...missed,
    ceiling: { rows: [ceilingRow(50, { rps: 4999, p50: 4.02, p99: 9.01 }, elu), ceilingRow(10, { rps: 8999, p50: 1, p99: 2 }, elu)] },
  });
  const rows = loadgenTargets(slow(0.9));
  t.deepEqual(rows.map((row) => row.verdict), [...Array(6).fill('out of reach with got'), 'met', 'met']);
  t.is(rows[0]!.proof, "alone in a process, 1 thread(s) 90% busy, against a server that answers at once, at concurrency 50, the generator's p50 is 4.02 ms: already 2.01× autocannon's 2 ms here, and a real server only slows a closed loop (bare node:http, the same way: 1 ms)");
  t.is(rows[4]!.proof, "alone in a process, 1 thread(s) 90% busy, against a server that answers at once, at concurrency 50, the generator peaks at 4999 req/s: under half of autocannon's 10000 req/s on the real server (bare node:http, the same way: 20000 req/s)");
  t.regex(rows[5]!.proof!, /at concurrency 10, the generator peaks at 8999 req\/s, closed loop: .* 90% of the 10000 req\/s found by hand is 9000/);
  // Not saturated: the trivial server, not the generator, may have limited it, so nothing is proven.
  t.deepEqual(loadgenTargets(slow(0.89)).map((row) => row.verdict), [...Array(6).fill('missed'), 'met', 'met']);
  // A ceiling on the right side of each bound proves nothing either: 1.5× exactly, half exactly, 90% exactly.
  const close: LoadgenFigures = { ...missed, ceiling: { rows: [ceilingRow(50, { rps: 5000, p50: 3, p99: 9 }, 1), ceilingRow(10, { rps: 9000, p50: 1, p99: 2 }, 1)] } };
  t.deepEqual(loadgenTargets(close).map((row) => row.verdict), [...Array(6).fill('missed'), 'met', 'met']);
  // A latency that reads too low is never excused by a ceiling, nor is a rate that was met.
  const low: LoadgenFigures = { ...slow(1), latency: { ...missed.latency, medianRatio: 0.5, latencyRatios: { p50VsAutocannon: 0.5, p99VsAutocannon: 0.5, p50VsWrk: 0.5, p99VsWrk: 0.5 } } };
  const lowRows = loadgenTargets(low);
  t.deepEqual(lowRows.slice(0, 5).map((row) => row.verdict), ['missed', 'missed', 'missed', 'missed', 'met']);
  t.true(lowRows.slice(0, 5).every((row) => row.proof === undefined));
  // A round on the real server that did better than the ceiling: the machine was slower while the
  // ceiling was measured, so the ceiling proves nothing about that figure (and only that one).
  const beaten = (round: ReturnType<typeof generatorRound>, step = 4000): LoadgenFigures => ({
    ...slow(1),
    latency: { ...slow(1).latency, rounds: [generatorRound(3000, 5, 12), round] },
    search: { ...slow(1).search, search: { steps: [{ requestsPerSecond: step }] } },
  });
  t.deepEqual(loadgenTargets(beaten(generatorRound(5000, 4.01, 9))).slice(0, 6).map((row) => row.verdict), [...Array(5).fill('missed'), 'out of reach with got']);
  t.deepEqual(loadgenTargets(beaten(generatorRound(4999, 4.02, 9.01), 9000)).slice(0, 6).map((row) => row.verdict), [...Array(5).fill('out of reach with got'), 'missed']);
  t.deepEqual(loadgenTargets(beaten(generatorRound(4000, 4.01, 20))).slice(0, 6).map((row) => row.verdict), ['missed', 'out of reach with got', 'missed', 'out of reach with got', 'out of reach with got', 'out of reach with got']);
  // No ceiling at the search's concurrency: its row stays missed.
  t.is(loadgenTargets({ ...slow(1), ceiling: { rows: [slow(1).ceiling.rows[0]!] } })[5]!.verdict, 'missed');
});

test('the bench does not wait out its start deadline for a server that exits: it says so at once', async (t) => {
  const script = join(await tempDir(t, 'hitcounter-bench-start-'), 'exits.mjs');
  await writeFile(script, 'process.exit(3);\n');
  // The deadline's message would say "did not answer … within 60 s" instead.
  const error = await t.throwsAsync(startNode(script, {}));
  t.regex(error!.message, /exits\.mjs exited \(3\) before answering \/health$/);
});
