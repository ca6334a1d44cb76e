import autocannon from 'autocannon';
import got from 'got';
import { build, cpuMicros, startNode, startRedis, UNLIMITED } from '../lib.js';
import { vocabularyPath } from '../../src/loadgen/paths.js';

await build();
const { redis, cleanup } = await startRedis();
const server = await startNode('dist/server.js', { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'bench:default:', RATE_LIMITS: UNLIMITED, WORKERS: '1' });
const pid = server.child.pid!; const rpid = redis.child.pid!;
const N = 10000, C = 50;
import { readdir, readFile } from 'node:fs/promises';
async function threads(p: number) {
  const out: Record<string, number> = {};
  for (const t of await readdir(`/proc/${p}/task`)) {
    const st = await readFile(`/proc/${p}/task/${t}/stat`, 'utf8').catch(() => '');
    const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'));
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    out[`${name}:${t}`] = (Number(f[11]) + Number(f[12])) * 10000;
  }
  return out;
}
async function cpu<T extends { n: number }>(f: () => Promise<T>) {
  const a = await cpuMicros(pid), b = await cpuMicros(rpid);
  const th = await threads(pid);
  const r = await f();
  const th2 = await threads(pid);
  const per: Record<string, number> = {};
  for (const k in th2) { const d = Math.round((th2[k]! - (th[k] ?? 0)) / r.n); if (d > 0) per[k] = d; }
  (r as any).threads = per;
  return { ...r, srv: Math.round(((await cpuMicros(pid)) - a) / r.n), redis: Math.round(((await cpuMicros(rpid)) - b) / r.n) };
}
const ac = (path: () => string, headers: Record<string, string> = {}) => cpu(async () => {
  const r = await autocannon({ url: server.url, connections: C, amount: N, sampleInt: 10, headers, requests: [{ setupRequest: (req: any) => ({ ...req, path: path() }) }] });
  if (r.errors || r.non2xx) throw new Error('ac errors');
  return { n: r.requests.total, rps: Math.round(r.requests.total / r.duration), p50: r.latency.p50, p99: r.latency.p99 };
});
const tools: Record<string, () => Promise<any>> = {
  acOne: () => ac(() => '/api/bench/autocannon'),
  acVocab: () => ac(() => vocabularyPath(Math.floor(Math.random() * 1000)), { 'user-agent': 'hitcounter-loadgen' }),
  gen: () => cpu(async () => {
    const r: any = await got.post(`${server.url}/test/${N}?concurrency=${C}`).json();
    return { n: r.completed, rps: Math.round(r.requestsPerSecond), p50: r.latencyMs.p50, p99: r.latencyMs.p99 };
  }),
};
const which = (process.argv[2] ?? 'acOne,acVocab,gen').split(',');
for (const t of which) await tools[t]!();
for (let round = 0; round < Number(process.argv[3] ?? 3); round++) {
  for (const t of which) console.log(round, t, JSON.stringify(await tools[t]!()));
}
await server.stop(); await cleanup();
