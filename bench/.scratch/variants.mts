// node --import tsx bench/.scratch/variants.mts '<json: {name: nodeArgs[]}>' rounds
import autocannon from 'autocannon';
import got from 'got';
import { build, cpuMicros, startNode, startRedis, UNLIMITED } from '../lib.js';
import { vocabularyPath } from '../../src/loadgen/paths.js';

await build();
const { redis, cleanup } = await startRedis();
const variants: Record<string, string[]> = JSON.parse(process.argv[2]!);
const envs: Record<string, Record<string, string>> = JSON.parse(process.argv[4] ?? '{}');
const servers: Record<string, Awaited<ReturnType<typeof startNode>>> = {};
for (const [name, args] of Object.entries(variants)) servers[name] = await startNode('dist/server.js', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `bench:${name}:`, RATE_LIMITS: UNLIMITED, WORKERS: '1', ...(envs[name] ?? {}) }, '/health', args);
const N = 10000, C = 50;
const rpid = redis.child.pid!;
async function cpu(pid: number, f: () => Promise<any>) {
  const a = await cpuMicros(pid), b = await cpuMicros(rpid);
  const r = await f();
  return { ...r, srv: Math.round(((await cpuMicros(pid)) - a) / r.n), redis: Math.round(((await cpuMicros(rpid)) - b) / r.n) };
}
const ac = (url: string) => autocannon({ url, connections: C, amount: N, sampleInt: 10, headers: { 'user-agent': 'hitcounter-loadgen' }, requests: [{ setupRequest: (req: any) => ({ ...req, path: vocabularyPath(Math.floor(Math.random() * 1000)) }) }] }).then((r) => ({ n: r.requests.total, rps: Math.round(r.requests.total / r.duration), p50: r.latency.p50, p99: r.latency.p99 }));
const gen = (url: string) => got.post(`${url}/test/${N}?concurrency=${C}`).json<any>().then((r) => ({ n: r.completed, rps: Math.round(r.requestsPerSecond), p50: r.latencyMs.p50, p99: r.latencyMs.p99 }));
const withAc = process.env.AC !== '0';
const rows: Record<string, number[]> = {};
for (let round = -1; round < Number(process.argv[3] ?? 3); round++) {
  for (const [name, s] of Object.entries(servers)) {
    const g = await cpu(s.child.pid!, () => gen(s.url));
    if (round >= 0) { console.log(round, name, 'gen', JSON.stringify(g)); (rows[name] ??= []).push(g.rps); }
  }
  if (withAc) { const a = await cpu(servers[Object.keys(servers)[0]!]!.child.pid!, () => ac(servers[Object.keys(servers)[0]!]!.url)); if (round >= 0) { console.log(round, 'ac', JSON.stringify(a)); (rows.ac ??= []).push(a.rps); } }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const [k, v] of Object.entries(rows)) console.log('median', k, med(v));
for (const s of Object.values(servers)) await s.stop();
await cleanup();
