// What each analytics feature costs a hit, in one run on one machine:
//   npm run bench:analytics [-- --rounds 3 --seconds 3 --connections 50]
// Starts its own redis-server and four built servers (counter only, + buckets, + visitors,
// + event log = the default), then loads /api/* on each in turn with autocannon, round after
// round, and reports the median req/s of each and its ratio to the counter alone.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { build, machine, median, SERVER, startNode, startRedis, UNLIMITED, type Child } from './lib.js';

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

const CONFIGS: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'counter only', env: { ANALYTICS_BUCKETS: 'false', ANALYTICS_VISITORS: 'false', EVENTS_ENABLED: 'false' } },
  { name: '+ buckets', env: { ANALYTICS_BUCKETS: 'true', ANALYTICS_VISITORS: 'false', EVENTS_ENABLED: 'false' } },
  { name: '+ visitors', env: { ANALYTICS_BUCKETS: 'true', ANALYTICS_VISITORS: 'true', EVENTS_ENABLED: 'false' } },
  { name: '+ event log (default)', env: { ANALYTICS_BUCKETS: 'true', ANALYTICS_VISITORS: 'true', EVENTS_ENABLED: 'true' } },
];

async function main(): Promise<void> {
  await build();
  const { redis, cleanup } = await startRedis();
  const servers: Array<{ name: string; url: string; child: Child }> = [];
  try {
    for (const [i, config] of CONFIGS.entries()) {
      const child = await startNode(SERVER, { ...config.env, REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench${i}:`, WORKERS: '1', RATE_LIMITS: UNLIMITED });
      servers.push({ name: config.name, url: child.url, child });
    }

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
      machine: machine(),
      date: new Date().toISOString(),
      rows,
    };
    await writeFile(new URL(`results/analytics-${summary.date.slice(0, 10)}.json`, import.meta.url), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`written to bench/results/analytics-${summary.date.slice(0, 10)}.json`);
  } finally {
    for (const server of servers) await server.child.stop();
    await cleanup();
  }
}

await main();
