// A smoke test of `npm run bench`: a --smoke run (short phases, one round, small data), to keep the script
// from rotting. Its figures mean nothing here (the test suite loads the machine); only that each
// one is measured and written.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import test from 'ava';
import { judge, SERVERS, type TargetRow } from '../bench/targets.js';
import type { FullRead } from '../bench/compression.js';
import type { ApiRow } from '../bench/lib.js';
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
    loadgen: { rounds: Array<{ autocannon: number; loadgen: number; ratio: number }> };
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
  t.is(result.targets.length, 11);
  t.true(result.targets.every((row) => Number.isFinite(row.figure) && ['met', 'missed'].includes(row.verdict)), JSON.stringify(result.targets));
  t.like(result.targets.at(-1), { figure: 1, verdict: 'met' });
  t.true(result.loadgen.rounds[0]!.loadgen > 0 && result.loadgen.rounds[0]!.autocannon > 0);
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
  const rows = judge(api, [{ paths: 1000, statsRps: 5000, apiRps: 10_000 }, { paths: 1_000_000, statsRps: 4999, apiRps: 10_000 }], true, reads);
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
    ['exactness: counted == succeeded in every load-generator run of the bench', 1, '= 1', 'met'],
  ]);
  t.is(judge(api, [], false, reads).at(-1)!.verdict, 'missed', 'a run that miscounted misses exactness');
  const slowGzip = { ...reads[1]!, sizeVsPlain: 0.151, firstByteVsPlain: 1.51 };
  t.deepEqual(judge(api, [], true, [reads[0]!, slowGzip]).slice(-3, -1).map((row) => row.verdict), ['missed', 'missed']);
  t.throws(() => judge(api.slice(1), [], true, reads), { message: 'bench targets: no measurement of "bare Koa hello-world"' });
  t.throws(() => judge(api, [], true, reads.slice(0, 1)), { message: 'bench targets: no gzip read of /stats' });
});
