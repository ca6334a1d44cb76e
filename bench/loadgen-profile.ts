// Where the load generator's CPU goes, client side only (issue 17's "if a target is out of reach
// with got, the profile that proves it"):
//   node --import tsx bench/loadgen-profile.ts [--requests 60000 --concurrency 50]
// The target is a bare node:http server in a child process (its CPU is not in the profile), so
// what is profiled is exactly one generator thread: runner.ts with its got client (client.ts),
// p-limit and the recording. Its CPU per request is process.cpuUsage() over the profiled run; the
// profile (node:inspector) is summed by owner as bench/profile.ts sums the server's. Writes
// bench/results/loadgen-profile-<date>.json.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/clock.js';
import { runLoad, type LoadPlan } from '../src/loadgen/runner.js';
import { resolveStage } from '../src/loadgen/stages.js';
import { startOkServer } from './bare-http.js';
import { summarize, type CpuProfile } from './cpu-profile.js';
import { machine } from './lib.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '60000' }, concurrency: { type: 'string', default: '50' } } });
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);

const server = await startOkServer();
const plan = (n: number): LoadPlan => ({
  stages: [resolveStage({ requests: n, concurrency }, concurrency)],
  distribution: 'zipf', paths: 1000, zipfExponent: 1, seed: 1, target: server.target, threads: 1,
  batchSize: 1000, requestTimeoutMs: 10_000, maxLagMs: 1000, progressIntervalMs: 500, loadgenSecret: 'profile',
});

try {
  // Warm: the JIT has compiled the hot path before the profiled run starts.
  await runLoad(plan(Math.min(10_000, requests)), { clock: systemClock });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const run = await runLoad(plan(requests), { clock: systemClock });
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = performance.now() - wallBefore;
  const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
  session.disconnect();
  const summary = {
    command: `node --import tsx bench/loadgen-profile.ts --requests ${requests} --concurrency ${concurrency}`,
    machine: machine(),
    date: new Date().toISOString(),
    requests: run.measured.completed,
    cpuUsPerRequest: Math.round(((cpu.user + cpu.system) / requests) * 10) / 10,
    requestsPerSecond: Math.round((requests / wallMs) * 1000),
    ...summarize(profile),
  };
  console.log(`${summary.cpuUsPerRequest} µs of CPU per request, ${summary.requestsPerSecond} req/s (profiled)`);
  console.table(summary.byOwner);
  console.table(summary.byFunction.slice(0, 12));
  const file = new URL(`results/loadgen-profile-${summary.date.slice(0, 10)}.json`, import.meta.url).pathname;
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`written to ${file}`);
} finally {
  server.stop();
}
