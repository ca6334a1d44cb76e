// What each analytics feature costs a hit, in one run on one machine:
//   npm run bench:analytics [-- --rounds 3 --seconds 3 --connections 50]
// Starts its own redis-server and four built servers (counter only, + buckets, + visitors,
// + event log = the default), then loads /api/* on each in turn with autocannon, round after
// round, and reports the median req/s of each and its ratio to the counter alone.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import getPort from 'get-port';
import got from 'got';
import { ensureRedisServer, startRedisServer } from '../src/redis/embedded.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '50' },
  },
});
const rounds = Number(values.rounds);
const seconds = Number(values.seconds);
const connections = Number(values.connections);
const root = new URL('..', import.meta.url);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const CONFIGS: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'counter only', env: { ANALYTICS_BUCKETS: 'false', ANALYTICS_VISITORS: 'false', EVENTS_ENABLED: 'false' } },
  { name: '+ buckets', env: { ANALYTICS_BUCKETS: 'true', ANALYTICS_VISITORS: 'false', EVENTS_ENABLED: 'false' } },
  { name: '+ visitors', env: { ANALYTICS_BUCKETS: 'true', ANALYTICS_VISITORS: 'true', EVENTS_ENABLED: 'false' } },
  { name: '+ event log (default)', env: { ANALYTICS_BUCKETS: 'true', ANALYTICS_VISITORS: 'true', EVENTS_ENABLED: 'true' } },
];

async function waitHealthy(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await got(`${url}/health`, { throwHttpErrors: false, retry: { limit: 0 } }).catch(() => undefined))?.statusCode === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${url} never became healthy`);
}

async function main(): Promise<void> {
  const build = spawn(process.execPath, ['scripts/bootstrap.mjs', '--build'], { cwd: root, stdio: 'inherit' });
  await new Promise((resolve) => build.on('exit', resolve));
  const dir = await mkdtemp(join(tmpdir(), 'hitcounter-bench-'));
  const redis = await startRedisServer({ binary: await ensureRedisServer(console.error), port: await getPort(), dir, appendfsync: 'everysec', startTimeoutMs: 10_000 });
  const servers: Array<{ name: string; url: string; child: ChildProcess }> = [];
  try {
    for (const [i, config] of CONFIGS.entries()) {
      const port = await getPort();
      const child = spawn(process.execPath, ['dist/server.js'], {
        cwd: root,
        env: { ...process.env, ...config.env, PORT: String(port), HOST: '127.0.0.1', REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench${i}:`, LOG_LEVEL: 'warn', WORKERS: '1' },
        stdio: 'inherit',
      });
      servers.push({ name: config.name, url: `http://127.0.0.1:${port}`, child });
    }
    for (const server of servers) await waitHealthy(server.url);

    // Random paths from a vocabulary of 1000, as real traffic would spread.
    const load = (url: string, duration: number) => autocannon({
      url, connections, duration,
      requests: [{ setupRequest: (request) => ({ ...request, path: `/api/bench/${Math.floor(Math.random() * 1000)}` }) }],
    });
    for (const server of servers) await load(server.url, 1); // warm-up

    const rps = new Map<string, number[]>(servers.map((s) => [s.name, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const server of servers) {
        const result = await load(server.url, seconds);
        if (result.non2xx > 0 || result.errors > 0) throw new Error(`${server.name}: ${result.non2xx} non-2xx, ${result.errors} errors`);
        rps.get(server.name)!.push(Math.round(result.requests.total / result.duration));
        console.error(`round ${round} ${server.name}: ${rps.get(server.name)!.at(-1)} req/s`);
      }
    }
    const base = median(rps.get(CONFIGS[0]!.name)!);
    const rows = servers.map((s) => ({ config: s.name, medianRps: median(rps.get(s.name)!), ratio: Math.round((median(rps.get(s.name)!) / base) * 100) / 100, rounds: rps.get(s.name)!.join(' ') }));
    console.table(rows);
    const summary = {
      command: `npm run bench:analytics -- --rounds ${rounds} --seconds ${seconds} --connections ${connections}`,
      machine: { cpus: cpus().length, model: cpus()[0]?.model ?? 'unknown', node: process.version },
      date: new Date().toISOString(),
      rows,
    };
    await writeFile(new URL(`results/analytics-${summary.date.slice(0, 10)}.json`, import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`written to bench/results/analytics-${summary.date.slice(0, 10)}.json`);
  } finally {
    for (const server of servers) server.child.kill('SIGTERM');
    await Promise.all(servers.map((s) => new Promise((resolve) => s.child.once('exit', resolve))));
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
