// npm run bench -- --cluster: the scale-out comparison. A local Redis Cluster (3 masters, 3
// replicas; the tests' helper), the built server with 2 workers on it with redis.shards 1 and 3,
// and a bare Koa hello-world for the ratio; autocannon interleaved round after round on /api/*
// with random paths. Prints a table and writes bench/results/cluster-<date>.json.
import { writeFile } from 'node:fs/promises';
import { startCluster } from '../scripts/local-cluster.js';
import { interleaved, machine, SERVER, startNode, UNLIMITED, type Child } from './lib.js';

export async function benchCluster(options: { duration: number; rounds: number; connections: number; vocabulary: number; out?: string }): Promise<void> {
  const { duration, rounds, connections, vocabulary } = options;
  const cluster = await startCluster();
  const nodes = cluster.nodes.map(({ host, port }) => `${host}:${port}`).join(',');
  const started: Child[] = [];
  const start = async (...args: Parameters<typeof startNode>) => { const child = await startNode(...args); started.push(child); return child; };
  try {
    const server = (shards: number) => start(SERVER, { REDIS_CLUSTER_NODES: nodes, REDIS_SHARDS: String(shards), REDIS_KEY_PREFIX: `bench:s${shards}:`, RATE_LIMITS: UNLIMITED, WORKERS: '2' });
    const targets = [
      { name: 'bare Koa hello-world', child: await start('bench/koa-hello.mjs', {}, '/') },
      { name: 'hitcounter on Redis Cluster, 2 workers, 1 shard', child: await server(1) },
      { name: 'hitcounter on Redis Cluster, 2 workers, 3 shards', child: await server(3) },
    ];
    const randomHit = () => `/api/bench/p${Math.floor(Math.random() * vocabulary)}`;
    // Redis's CPU is not measured here: it is six processes, not one (redisCpuUsPerRequest stays 0).
    const rows = (await interleaved(targets, { path: randomHit, connections, duration, rounds })).map(({ redisCpuUsPerRequest: _, ...row }) => row);
    console.table(rows);
    const summary = {
      command: `npm run bench -- --cluster --duration ${duration} --rounds ${rounds} --connections ${connections} --paths ${vocabulary}`,
      machine: machine(),
      date: new Date().toISOString(),
      cluster: '3 masters + 3 replicas, redis-server on loopback',
      api: rows,
      shards3vs1: Math.round((rows[2]!.rps / rows[1]!.rps) * 100) / 100,
    };
    const file = options.out ?? new URL(`results/cluster-${summary.date.slice(0, 10)}.json`, import.meta.url).pathname;
    await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`3 shards vs 1: ${summary.shards3vs1}×; written to ${file}`);
  } finally {
    for (const child of started) await child.stop();
    await cluster.stop();
  }
}
