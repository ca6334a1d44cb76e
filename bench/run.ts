// npm run bench [-- --duration 5 --rounds 3 --connections 50 --paths 100000 --stats-paths 1000000 --out file.json]
// npm run bench -- --cluster: /api/* on a local Redis Cluster with 2 workers, 1 shard vs 3 (bench/cluster.ts)
// npm run bench -- --only api [--also before=/path/to/other/checkout]: phase 1 and its targets alone, to measure a
// change to the hit path (--also adds another build's default and counter-only servers to the same rounds)
// npm run bench -- --only loadgen [--rounds 3 --million 1000000]: phase 3 and its targets alone, on the default
// server, written to bench/results/loadgen-<date>.json (8 minutes on 2 cores, nearly 3 of them the staged run)
// npm run bench -- --smoke --duration 0.5: every phase, as short as it goes (the test suite's check that the script runs)
// The whole benchmark, in one process tree on loopback, about a minute with the defaults, and phase 3's 7:
// 1. /api/* with random paths from a large vocabulary, on each server configuration, on a bare
//    Koa hello-world and on a naive Koa + ZINCRBY counter, interleaved round after round: median req/s, p50, p99, CPU µs per request
//    of the server and of Redis, and the ratios to bare Koa.
// 2. GET /stats?limit=100 next to /api on the same server, at 1,000 and at 1,000,000 paths
//    (--stats-paths), and a full GET /stats of the million (time to first byte, wall time, the
//    server's peak RSS growth).
// 2b. a full GET /stats of 100,000 paths plain, gzip and brotli: size, first byte and wall time (bench/compression.ts).
// 3. The load generator on the default server (bench/loadgen-phases.ts): POST /test/10000?concurrency=50 next to
//    autocannon -a 10000 -c 50 and wrk -c 50 (req/s, p50, p99, the report's warnings); its breaking point vs one
//    found by hand with autocannon -R steps; a 1,000,000-request staged run (the server's RSS, /health); the
//    generator's own ceiling, alone against a server that costs nothing, next to bare node:http.
// 4. The targets of bench/targets.ts, each with its figure and "met" or "missed" (or, for a missed load-generator
//    target that the ceiling proves unreachable, "out of reach with got" and the proof).
// Prints tables and writes bench/results/<date>.json.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import got from 'got';
import { Redis } from 'ioredis';
import { shardKeys } from '../src/redis/keys.js';
import { build, interleaved, machine, measure, rssBytes, SERVER, startNode, startRedis, UNLIMITED, type Child, type Measurement } from './lib.js';
import { fullReads } from './compression.js';
import { loadgenPhases } from './loadgen-phases.js';
import { apiTargets, judge, onlyLoadgenTargets, showTargets, type StatsRates } from './targets.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
    paths: { type: 'string', default: '100000' },
    'stats-paths': { type: 'string', default: '1000000' },
    out: { type: 'string' },
    // Only the scale-out comparison: shards 1 vs 3 on a local Redis Cluster (bench/cluster.ts).
    cluster: { type: 'boolean', default: false },
    // Every phase, each as short as it goes: only that the script runs (test/bench.ts). Its
    // figures mean nothing.
    smoke: { type: 'boolean', default: false },
    // `api`: only phase 1 and its targets, for measuring a change to the hit path quickly.
    // `loadgen`: only phase 3 (the load generator) and its targets, on the default server.
    only: { type: 'string' },
    // Requests of phase 3's staged run: 1,000,000 (3,000 with --smoke).
    million: { type: 'string' },
    // `<label>=<dir>`: also measure another build of hitcounter (a checkout with dist/ built), default
    // settings and counter only, in the same interleaved rounds: before/after figures for a change.
    also: { type: 'string', multiple: true, default: [] },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const vocabulary = Number(values.paths);
const statsPaths = Number(values['stats-paths']);
const smoke = values.smoke;
const warmup = smoke ? 0.2 : 1;
const loadgen = { smoke, rounds, million: Number(values.million ?? (smoke ? 3000 : 1_000_000)) };
if (values.only !== undefined && !['api', 'loadgen'].includes(values.only)) throw new Error(`Expected \`--only\` to be api or loadgen, not ${values.only}`);
// Issue 16's compression figures are of 100,000 paths (fewer when --stats-paths is smaller, as in the smoke run).
const compressionPaths = Math.min(100_000, statsPaths);

const randomHit = () => `/api/bench/p${Math.floor(Math.random() * vocabulary)}`;

async function main(): Promise<void> {
  await build();
  if (values.cluster) {
    const { benchCluster } = await import('./cluster.js');
    return benchCluster({ duration, rounds, connections, vocabulary, out: values.out });
  }
  const { redis, cleanup } = await startRedis();
  const started: Child[] = [];
  const start = async (...args: Parameters<typeof startNode>) => { const child = await startNode(...args); started.push(child); return child; };
  const defaults = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'bench:default:', RATE_LIMITS: UNLIMITED, WORKERS: '1' };
  const freshForMillion = () => start(SERVER, { ...defaults, REDIS_KEY_PREFIX: 'bench:million:' });
  try {
    if (values.only === 'loadgen') {
      const figures = await loadgenPhases(await start(SERVER, defaults), loadgen, freshForMillion);
      const verdicts = onlyLoadgenTargets(figures, figures.exact);
      showTargets(verdicts);
      const date = new Date().toISOString();
      const summary = { command: `npm run bench -- --only loadgen${smoke ? ' --smoke' : ''} --rounds ${rounds} --million ${loadgen.million}`, machine: machine(), date, loadgen: figures.latency, search: figures.search, million: figures.million, ceiling: figures.ceiling, targets: verdicts };
      const file = values.out ?? new URL(`results/loadgen-${date.slice(0, 10)}.json`, import.meta.url).pathname;
      await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
      console.log(`written to ${file}`);
      return;
    }
    // ---- 1. /api/* against bare Koa, interleaved ----
    const targets: Array<{ name: string; child: Child }> = [
      { name: 'bare Koa hello-world', child: await start('bench/koa-hello.mjs', {}, '/') },
      { name: 'naive Koa + router + ZINCRBY', child: await start('bench/koa-naive.mjs', { REDIS_URL: redis.url }) },
      { name: 'hitcounter, default settings, 1 worker', child: await start(SERVER, defaults) },
      { name: 'hitcounter, default settings, 2 workers', child: await start(SERVER, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'bench:default2:', RATE_LIMITS: UNLIMITED, WORKERS: '2' }) },
      { name: 'hitcounter, write-behind (default analytics)', child: await start(SERVER, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'bench:wb:', RATE_LIMITS: UNLIMITED, WORKERS: '1', WRITE_BEHIND: 'true' }) },
      { name: 'hitcounter, event log off', child: await start(SERVER, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'bench:noevents:', EVENTS_ENABLED: 'false', RATE_LIMITS: UNLIMITED, WORKERS: '1' }) },
      { name: 'hitcounter, counter only', child: await start(SERVER, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'bench:counter:', EVENTS_ENABLED: 'false', ANALYTICS_BUCKETS: 'false', ANALYTICS_VISITORS: 'false', RATE_LIMITS: UNLIMITED, WORKERS: '1' }) },
    ];
    for (const [i, pair] of values.also.entries()) {
      const [label, dir] = pair.split('=', 2) as [string, string];
      const server = `${dir}/${SERVER}`;
      targets.push(
        { name: `${label}: default settings, 1 worker`, child: await start(server, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench:also${i}:`, RATE_LIMITS: UNLIMITED, WORKERS: '1' }) },
        { name: `${label}: counter only`, child: await start(server, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench:also${i}counter:`, EVENTS_ENABLED: 'false', ANALYTICS_BUCKETS: 'false', ANALYTICS_VISITORS: 'false', RATE_LIMITS: UNLIMITED, WORKERS: '1' }) },
      );
    }
    const api = await interleaved(targets, { path: randomHit, connections, duration, rounds, warmup, redisPid: redis.child.pid });
    console.table(api);
    if (values.only === 'api') return console.table(apiTargets(api));
    for (const { child } of targets.slice(3)) await child.stop();

    // ---- 2. /stats?limit=100 next to /api on the same server, at 1,000 and at 1,000,000 paths ----
    const client = new Redis(redis.url);
    const seed = async (prefix: string, paths: number) => {
      // The ranking of a server with default settings (redis.key `hits`, one shard) under that prefix.
      const ranking = shardKeys({ prefix, hits: 'hits' }, 1)[0]!.hits;
      for (let first = 0; first < paths; first += 10_000) {
        const args: Array<string | number> = [];
        for (let i = first; i < Math.min(first + 10_000, paths); i++) args.push(i % 9973, `/api/stats/p${i}`);
        await client.zadd(ranking, ...args);
      }
    };
    const statsDuration = smoke ? duration : Math.max(3, duration);
    const rates: StatsRates[] = [];
    let top: Measurement | undefined;
    let statsServer: Child | undefined;
    for (const paths of [1000, statsPaths]) {
      const prefix = `bench:stats${paths}:`;
      await seed(prefix, paths);
      statsServer = await start(SERVER, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, RATE_LIMITS: UNLIMITED, WORKERS: '1' });
      // Hits on paths already in the ranking, so that it keeps its size while /api is measured.
      const known = () => `/api/stats/p${Math.floor(Math.random() * Math.min(paths, 1000))}`;
      await measure(statsServer, { path: known, connections, duration: warmup });
      const apiRate = await measure(statsServer, { path: known, connections, duration: statsDuration });
      await measure(statsServer, { path: () => '/stats?limit=100', connections, duration: warmup });
      // The same concurrency as /api's: the target compares the two rates the server can sustain.
      top = await measure(statsServer, { path: () => '/stats?limit=100', connections, duration: statsDuration });
      rates.push({ paths, statsRps: top.rps, apiRps: apiRate.rps });
      if (paths !== statsPaths) await statsServer.stop();
    }
    console.table(rates.map((r) => ({ paths: r.paths, 'stats?limit=100 req/s': Math.round(r.statsRps), 'api req/s': Math.round(r.apiRps) })));
    if (!top || !statsServer) throw new Error('no /stats measurement');
    const pid = statsServer.child.pid!;
    const rssBefore = await rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { void rssBytes(pid).then((v) => { rssPeak = Math.max(rssPeak, v); }); }, 20);
    const t0 = performance.now();
    let firstByteMs = 0;
    let bytes = 0;
    // Plain (got would otherwise ask for br and decode it): the compressed reads have their own phase.
    for await (const chunk of got.stream(`${statsServer.url}/stats`, { decompress: false })) {
      if (bytes === 0) firstByteMs = performance.now() - t0;
      bytes += (chunk as Buffer).length;
    }
    const wallMs = performance.now() - t0;
    clearInterval(sampler);
    const stats = {
      topRps: Math.round(top.rps), topP99: top.p99, rates,
      fullFirstByteMs: Math.round(firstByteMs), fullWallMs: Math.round(wallMs), fullMB: Math.round(bytes / 2 ** 20),
      fullRssGrowthMB: Math.round((rssPeak - rssBefore) / 2 ** 20),
    };
    console.table([stats]);
    await statsServer.stop();

    // ---- 2b. a full /stats of 100,000 paths, plain, gzip and brotli (issue 16) ----
    const compressionPrefix = `bench:compression${compressionPaths}:`;
    await seed(compressionPrefix, compressionPaths);
    const compressionServer = await start(SERVER, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: compressionPrefix, RATE_LIMITS: UNLIMITED, WORKERS: '1' });
    const compression = await fullReads(`${compressionServer.url}/stats`, smoke ? 1 : 7);
    console.table(compression);
    await compressionServer.stop();

    client.disconnect();

    // ---- 3. the built-in load generator on the default server ----
    const figures = await loadgenPhases(targets[2]!.child, loadgen, freshForMillion);

    // ---- 4. the targets (issues 14, 16, 17), each with its figure and met or missed ----
    const verdicts = judge(api, rates, figures.exact, compression, figures);
    showTargets(verdicts);

    const summary = {
      command: `npm run bench --${smoke ? ' --smoke' : ''} --duration ${duration} --rounds ${rounds} --connections ${connections} --paths ${vocabulary} --stats-paths ${statsPaths} --million ${loadgen.million}`,
      machine: machine(),
      date: new Date().toISOString(),
      api,
      stats,
      compression: { paths: compressionPaths, reads: compression },
      loadgen: figures.latency,
      search: figures.search,
      million: figures.million,
      ceiling: figures.ceiling,
      targets: verdicts,
    };
    const file = values.out ?? new URL(`results/${summary.date.slice(0, 10)}.json`, import.meta.url).pathname;
    await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`written to ${file}`);
  } finally {
    for (const child of started) await child.stop();
    await cleanup();
  }
}

await main();
