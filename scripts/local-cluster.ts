// A real Redis Cluster on loopback, for the tests and the cluster bench: 3 masters and 3
// replicas, each a `redis-server --cluster-enabled yes` process in its own temporary directory,
// joined with `redis-cli --cluster create … --cluster-replicas 1 --cluster-yes`. It is ready once
// every node reports cluster_state:ok and every replica is in sync; stop() kills every node and
// removes the directories.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { setTimeout as delay } from 'node:timers/promises';
import { ensureRedisServer } from '../src/redis/embedded.js';

export interface ClusterNode {
  port: number;
  process: ChildProcess;
  /** kill -9, as a crash would. */
  kill(): void;
}

export interface TestCluster {
  /** host:port of every node, for ioredis's Cluster or REDIS_CLUSTER_NODES. */
  nodes: Array<{ host: string; port: number }>;
  members: ClusterNode[];
  stop(): Promise<void>;
}

// Each node also listens on its port + 10000 (the cluster bus), so ports stay below 55536. Drawn at
// random from the range, each time: two clusters started at once (test files run in parallel)
// would otherwise both try the range's first free ports.
const randomPorts = () => Array.from({ length: 50 }, () => 20_000 + Math.floor(Math.random() * 25_000));
// A node whose port was taken between the check and its start exits at once: it is started again
// on another port, this many times at most.
const START_ATTEMPTS = 10;
const NODE_TIMEOUT_MS = 2000;

// Polls `check` every 100 ms (every probe opens a connection) until it holds, for at most 120 s:
// generous, since a loaded machine starts six redis-servers slowly.
async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + 120_000;
  while (!(await check().catch(() => false))) {
    if (performance.now() > deadline) throw new Error(`timed out after 120000 ms waiting for ${what}`);
    await delay(100);
  }
}

async function probe<T>(port: number, ask: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await ask(redis);
  } finally {
    redis.disconnect();
  }
}

/** One cluster node, answering; started again on another port if its port was taken. */
async function startNode(binary: string, root: string, taken: number[]): Promise<ClusterNode> {
  for (let attempt = 1; ; attempt++) {
    const port = await getPort({ port: randomPorts(), exclude: taken });
    const dir = join(root, String(port));
    await mkdir(dir, { recursive: true });
    const child = spawn(binary, [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
      '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--daemonize', 'no',
    ], { stdio: 'ignore' });
    const node = { port, process: child, kill: () => { if (child.exitCode === null) child.kill('SIGKILL'); } };
    const exited = () => child.exitCode !== null || child.signalCode !== null;
    // This very process must answer, not another Redis that got the port first.
    const ours = (info: string) => info.includes(`process_id:${child.pid}\r\n`);
    try {
      await waitFor(`redis-server on ${port}`, async () => exited() || ours(await probe(port, (r) => r.info('server'))));
    } catch (error) {
      node.kill();
      throw error;
    }
    if (!exited()) return node;
    if (attempt >= START_ATTEMPTS) throw new Error(`redis-server exited at start ${attempt} times (ports taken?)`);
  }
}

export async function startCluster(): Promise<TestCluster> {
  const binary = await ensureRedisServer(console.error);
  const cli = join(dirname(binary), 'redis-cli');
  const root = await mkdtemp(join(tmpdir(), 'hitcounter-cluster-'));
  const members: ClusterNode[] = [];
  const stop = async () => {
    for (const member of members) member.kill();
    await Promise.all(members.map((m) => (m.process.exitCode === null && m.process.signalCode === null ? new Promise((resolve) => m.process.once('exit', resolve)) : undefined)));
    await rm(root, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) members.push(await startNode(binary, root, members.map((m) => m.port)));
    const created = spawnSync(cli, ['--cluster', 'create', ...members.map((m) => `127.0.0.1:${m.port}`), '--cluster-replicas', '1', '--cluster-yes'], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${created.stdout}${created.stderr}`);
    for (const { port } of members) {
      await waitFor(`cluster_state:ok on ${port}`, () => probe(port, async (r) => (await r.cluster('INFO')).includes('cluster_state:ok')));
    }
    // Ready also means replicated: every master has its replica attached and in sync, so WAIT,
    // and a failover, have a replica to count on.
    for (const { port } of members) {
      await waitFor(`the replica of ${port} in sync`, () => probe(port, async (r) => {
        const info = await r.info('replication');
        return info.includes('role:slave') ? /master_link_status:up/.test(info) : /connected_slaves:1/.test(info) && /slave0:.*state=online/.test(info);
      }));
    }
    return { nodes: members.map((m) => ({ host: '127.0.0.1', port: m.port })), members, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

