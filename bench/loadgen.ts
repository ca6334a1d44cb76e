// The built-in load generator next to autocannon, on the same server, in one run:
//   npm run bench:loadgen [-- --rounds 3 --requests 10000 --concurrency 50]
// Starts its own redis-server and a built hitcounter on free loopback ports, then alternates
// autocannon -a N -c C and POST /test/N?concurrency=C, round after round, and reports medians
// and the ratio of the two req/s figures. Results go to bench/results/loadgen-<date>.json.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import getPort from 'get-port';
import got from 'got';
import type { JobReport } from '../src/loadgen/jobs.js';
import { ensureRedisServer, startRedisServer } from '../src/redis/embedded.js';

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
const root = new URL('..', import.meta.url);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const build = spawn(process.execPath, ['scripts/bootstrap.mjs', '--build'], { cwd: root, stdio: 'inherit' });
  await new Promise((resolve) => build.on('exit', resolve));

  const dir = await mkdtemp(join(tmpdir(), 'hitcounter-bench-'));
  const redis = await startRedisServer({ binary: await ensureRedisServer(console.error), port: await getPort(), dir, appendfsync: 'everysec', startTimeoutMs: 10_000 });
  const port = await getPort();
  const url = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, ['dist/server.js'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, LOG_LEVEL: 'warn', WORKERS: '1', RATE_LIMITS: JSON.stringify({ api: [], read: [], write: [] }) },
    stdio: 'inherit',
  });
  try {
    for (let i = 0; i < 100; i++) {
      if ((await got(`${url}/health`, { throwHttpErrors: false, retry: { limit: 0 } }).catch(() => undefined))?.statusCode === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // Warm up the server's JIT with both clients before measuring.
    await autocannon({ url: `${url}/api/warmup`, connections: concurrency, amount: 5000 });
    await got.post(`${url}/test/5000?concurrency=${concurrency}`);

    const rows: Array<{ round: number; autocannon: number; loadgen: number; ratio: number; autocannonP99: number; loadgenP99: number }> = [];
    for (let round = 1; round <= rounds; round++) {
      // -L 10 (sampleInt): without it, -a rounds the duration up to a whole second.
      const ac = await autocannon({ url: `${url}/api/bench/autocannon`, connections: concurrency, amount: requests, sampleInt: 10 });
      const acRps = ac.requests.total / ac.duration;
      const report = await got.post(`${url}/test/${requests}?concurrency=${concurrency}`).json<JobReport>();
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
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      date: new Date().toISOString(),
      rounds: rows,
      median: { autocannon: median(rows.map((r) => r.autocannon)), loadgen: median(rows.map((r) => r.loadgen)), ratio: median(rows.map((r) => r.ratio)) },
    };
    console.table(rows);
    console.log(`median: autocannon ${summary.median.autocannon} req/s, POST /test ${summary.median.loadgen} req/s, ratio ${summary.median.ratio}`);
    const file = new URL(`results/loadgen-${summary.date.slice(0, 10)}.json`, import.meta.url);
    await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`written to bench/results/loadgen-${summary.date.slice(0, 10)}.json`);
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.on('exit', resolve));
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
