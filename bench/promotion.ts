// npm run bench:gc [-- --rate 1500 --seconds 12 --rounds 3 --also before=/path/to/other/checkout]
// What a hit leaves to the old generation: each server runs under V8's --trace-gc-nvp while
// autocannon sends it a fixed rate (-R, 10 connections, random paths from 1,000) for a while; the
// main isolate's scavenges say how many bytes they promoted, and every promoted byte that dies is
// garbage only a full GC (mark-compact) takes back. Full GCs are what stall a server for some ms
// (their final pause, plus incremental marking and its concurrent threads on the same cores), so
// bytes promoted per hit set how often a steady load meets one. The naive Koa counter is measured
// in the same run, interleaved, as the baseline; the figures are medians over the rounds.
// Writes bench/results/promotion-<date>.json.
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { gcFigures, type GcFigures } from './gc-trace.js';
import { build, machine, median, SERVER, startNode, startRedis, UNLIMITED, type Child } from './lib.js';
import { SERVERS } from './targets.js';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1500' },
    seconds: { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    // `<label>=<dir>`: also measure another build (a checkout with dist/ built), default settings.
    also: { type: 'string', multiple: true, default: [] },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);

async function measure(server: { child: Child; trace: () => string }): Promise<GcFigures> {
  const from = server.trace().length;
  const result = await autocannon({
    url: `${server.child.url}/api/gc/x`,
    connections: 10,
    overallRate: rate,
    duration: seconds,
    requests: [{ setupRequest: (request) => ({ ...request, path: `/api/gc/page-${Math.floor(Math.random() * 1000)}` }) }],
  });
  if (result.errors > 0 || result.non2xx > 0) throw new Error(`autocannon: ${result.errors} errors, ${result.non2xx} non-2xx`);
  const { promotedBytes, ...gc } = gcFigures(server.trace().slice(from));
  const requests = result.requests.total;
  return { requests, promotedKBPerRequest: Math.round((promotedBytes / 1024 / requests) * 100) / 100, ...gc, fullGcPauseMs: Math.round(gc.fullGcPauseMs * 10) / 10, p99: result.latency.p99 };
}

await build();
const { redis, cleanup } = await startRedis();
const common = { REDIS_URL: redis.url, RATE_LIMITS: UNLIMITED, WORKERS: '1' };
const configs = [
  { name: SERVERS.naive, script: 'bench/koa-naive.mjs', env: common, ready: '/api/ready' },
  { name: SERVERS.defaults, script: SERVER, env: { ...common, REDIS_KEY_PREFIX: 'bench:gc:default:' }, ready: '/health' },
  { name: SERVERS.counterOnly, script: SERVER, env: { ...common, REDIS_KEY_PREFIX: 'bench:gc:counter:', EVENTS_ENABLED: 'false', ANALYTICS_BUCKETS: 'false', ANALYTICS_VISITORS: 'false' }, ready: '/health' },
  ...values.also.map((pair, i) => {
    const [label, dir] = pair.split('=', 2) as [string, string];
    return { name: `${label}: default settings, 1 worker`, script: `${dir}/${SERVER}`, env: { ...common, REDIS_KEY_PREFIX: `bench:gc:also${i}:` }, ready: '/health' };
  }),
];
const servers: Array<{ name: string; child: Child; trace: () => string }> = [];
try {
  for (const { name, script, env, ready } of configs) {
    let trace = '';
    const child = await startNode(script, env, ready, ['--trace-gc-nvp'], (text) => { trace += text; });
    servers.push({ name, child, trace: () => trace });
  }
  // A warm-up of each: the JIT, and the old generation's size after start-up.
  for (const server of servers) await measure(server);
  const samples = new Map<string, GcFigures[]>(servers.map((s) => [s.name, []]));
  for (let round = 1; round <= rounds; round++) {
    for (const server of servers) {
      const m = await measure(server);
      samples.get(server.name)!.push(m);
      console.error(`round ${round}: ${server.name}: ${m.promotedKBPerRequest} KB promoted per hit, ${m.fullGcs} full GC(s), p99 ${m.p99} ms`);
    }
  }
  const rows = servers.map(({ name }) => {
    const ms = samples.get(name)!;
    const med = (pick: (m: GcFigures) => number) => median(ms.map(pick));
    return { server: name, promotedKBPerHit: med((m) => m.promotedKBPerRequest), fullGcsPerMinute: Math.round((med((m) => m.fullGcs) / seconds) * 60 * 10) / 10, fullGcPauseMs: med((m) => m.fullGcPauseMs), scavenges: med((m) => m.scavenges), p99: med((m) => m.p99) };
  });
  const base = rows[0]!.promotedKBPerHit;
  const table = rows.map((row) => ({ ...row, promotedVsNaive: Math.round((row.promotedKBPerHit / base) * 10) / 10 }));
  console.table(table);
  const date = new Date().toISOString();
  const file = new URL(`results/promotion-${date.slice(0, 10)}.json`, import.meta.url).pathname;
  await writeFile(file, `${JSON.stringify({ command: `npm run bench:gc -- --rate ${rate} --seconds ${seconds} --rounds ${rounds}${values.also.map((pair) => ` --also ${pair}`).join('')}`, machine: machine(), date, rows: table }, null, 2)}\n`);
  console.error(`written to ${file}`);
} finally {
  for (const { child } of servers) await child.stop();
  await cleanup();
}
