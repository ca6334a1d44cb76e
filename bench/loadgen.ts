// The built-in load generator next to autocannon, on the same server, in one run:
//   npm run bench:loadgen [-- --rounds 3 --requests 10000 --concurrency 50]
// Starts its own redis-server and a built hitcounter on free loopback ports, then alternates
// autocannon -a N -c C and POST /test/N?concurrency=C, round after round, and reports medians
// and the ratio of the two req/s figures. Results go to bench/results/loadgen-<date>.json.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import got from 'got';
import type { JobReport } from '../src/loadgen/jobs.js';
import { build, machine, median, startNode, startRedis, UNLIMITED } from './lib.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '50' },
  },
});
const rounds = Number(values.rounds);
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

async function main(): Promise<void> {
  await build();
  const { redis, cleanup } = await startRedis();
  const server = await startNode('dist/server.js', { REDIS_URL: redis.url, WORKERS: '1', RATE_LIMITS: UNLIMITED });
  try {
    // Warm up the server's JIT with both clients before measuring.
    await autocannon({ url: `${server.url}/api/warmup`, connections: concurrency, amount: 5000 });
    await got.post(`${server.url}/test/5000?concurrency=${concurrency}`);

    const rows: Array<{ round: number; autocannon: number; loadgen: number; ratio: number; autocannonP99: number; loadgenP99: number }> = [];
    for (let round = 1; round <= rounds; round++) {
      // -L 10 (sampleInt): without it, -a rounds the duration up to a whole second.
      const ac = await autocannon({ url: `${server.url}/api/bench/autocannon`, connections: concurrency, amount: requests, sampleInt: 10 });
      const acRps = ac.requests.total / ac.duration;
      const report = await got.post(`${server.url}/test/${requests}?concurrency=${concurrency}`).json<JobReport>();
      rows.push({
        round,
        autocannon: Math.round(acRps),
        loadgen: Math.round(report.requestsPerSecond),
        ratio: Math.round((report.requestsPerSecond / acRps) * 100) / 100,
        autocannonP99: ac.latency.p99,
        loadgenP99: report.latencyMs.p99,
      });
      console.error(`round ${round}: autocannon ${Math.round(acRps)} req/s, POST /test ${Math.round(report.requestsPerSecond)} req/s`);
    }
    const summary = {
      command: `npm run bench:loadgen -- --rounds ${rounds} --requests ${requests} --concurrency ${concurrency}`,
      machine: machine(),
      date: new Date().toISOString(),
      rounds: rows,
      median: { autocannon: median(rows.map((r) => r.autocannon)), loadgen: median(rows.map((r) => r.loadgen)), ratio: median(rows.map((r) => r.ratio)) },
    };
    console.table(rows);
    console.log(`median: autocannon ${summary.median.autocannon} req/s, POST /test ${summary.median.loadgen} req/s, ratio ${summary.median.ratio}`);
    await writeFile(new URL(`results/loadgen-${summary.date.slice(0, 10)}.json`, import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`written to bench/results/loadgen-${summary.date.slice(0, 10)}.json`);
  } finally {
    await server.stop();
    await cleanup();
  }
}

await main();
