// npm run bench:profile [-- --duration 10 --connections 50 --paths 100000 --env EVENTS_ENABLED=false --server bench/koa-naive.mjs]
// Where a hit's CPU time goes: runs the built server under `node --cpu-prof` (1 worker, default
// settings unless --env says otherwise), loads /api/* with autocannon, stops it with SIGTERM so V8
// writes the profile, and sums self time by where the code lives (our src/, each package, Node's
// internals, GC) and by function. Redis's side of the same run comes from INFO commandstats (reset
// before the load): per command, calls and µs of Redis CPU per request, commands run inside the
// scripts included. Prints all three and writes bench/results/profile-<date>.json.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { summarize, type CpuProfile } from './cpu-profile.js';
import { build, machine, SERVER, startNode, startRedis, UNLIMITED } from './lib.js';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    paths: { type: 'string', default: '100000' },
    env: { type: 'string', multiple: true, default: [] },
    // Another server to profile the same way, for comparison: bench/koa-hello.mjs or bench/koa-naive.mjs.
    server: { type: 'string', default: SERVER },
  },
});
const extraEnv = Object.fromEntries(values.env.map((pair) => pair.split('=', 2) as [string, string]));

/** INFO commandstats as rows of calls and Redis CPU µs per request, costliest first. */
function commandStats(info: string, requests: number) {
  const rows = [];
  for (const [, command, calls, usec] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    rows.push({ command: command!, callsPerRequest: Math.round((Number(calls) / requests) * 100) / 100, usPerRequest: Math.round((Number(usec) / requests) * 10) / 10 });
  }
  return rows.filter((row) => row.callsPerRequest >= 0.01).sort((a, b) => b.usPerRequest - a.usPerRequest);
}

await build();
const { redis, cleanup } = await startRedis();
const profileDir = await mkdtemp(join(tmpdir(), 'hitcounter-profile-'));
try {
  const ours = values.server === SERVER;
  const server = await startNode(values.server, {
    REDIS_URL: redis.url, RATE_LIMITS: UNLIMITED, WORKERS: '1', ...extraEnv,
  }, values.server.endsWith('koa-hello.mjs') ? '/' : '/health', ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  const vocabulary = Number(values.paths);
  const admin = new Redis(redis.url);
  await admin.config('RESETSTAT');
  const result = await autocannon({
    url: server.url,
    connections: Number(values.connections),
    duration: Number(values.duration),
    requests: [{ setupRequest: (request) => ({ ...request, path: `/api/bench/p${Math.floor(Math.random() * vocabulary)}` }) }],
  });
  const redisSide = commandStats(await admin.info('commandstats'), result.requests.total);
  admin.disconnect();
  await server.stop();
  const [file] = (await readdir(profileDir)).filter((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('the server wrote no .cpuprofile');
  const summary = {
    command: `npm run bench:profile --${ours ? '' : ` --server ${values.server}`} --duration ${values.duration} --connections ${values.connections} --paths ${values.paths}${values.env.map((e) => ` --env ${e}`).join('')}`,
    machine: machine(),
    date: new Date().toISOString(),
    requests: result.requests.total,
    rps: Math.round(result.requests.total / result.duration),
    ...summarize(JSON.parse(await readFile(join(profileDir, file), 'utf8')) as CpuProfile),
    redis: redisSide,
  };
  console.log(`${summary.requests} requests, ${summary.rps} req/s, ${summary.busyMs} ms busy in the server's main thread`);
  console.table(summary.byOwner);
  console.table(summary.byFunction);
  console.log('Redis, per request (commands run by scripts are counted inside evalsha and on their own line too):');
  console.table(summary.redis);
  const out = `results/profile-${summary.date.slice(0, 10)}${ours ? '' : `-${values.server.replace(/^.*\/|\.\w+$/g, '')}`}.json`;
  await writeFile(new URL(out, import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(`written to bench/${out}`);
} finally {
  await cleanup();
  await rm(profileDir, { recursive: true, force: true });
}
