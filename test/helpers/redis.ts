// A throwaway Redis for one test file: a testcontainers Redis when a Docker engine answers,
// otherwise a real redis-server (Debian's package) on a free port in a temporary directory.
// HITCOUNTER_TEST_REDIS=local|container forces one or the other.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import type { Redis } from 'ioredis';
import { ensureRedisServer, startRedisServer, type RedisServerOptions, type RedisServerProcess } from '../../src/redis/embedded.js';

export interface TestRedis {
  url: string;
  /** Present for a local redis-server, so fault tests can kill and restart it. */
  process?: RedisServerProcess;
  restart?: () => Promise<void>;
  stop(): Promise<void>;
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

async function startContainer(): Promise<TestRedis> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const container = await new GenericContainer('redis:7-alpine')
    .withCommand(['redis-server', '--appendonly', 'yes', '--appendfsync', 'everysec'])
    .withExposedPorts(6379)
    .withWaitStrategy(Wait.forLogMessage('Ready to accept connections'))
    .start();
  return {
    url: `redis://${container.getHost()}:${container.getMappedPort(6379)}`,
    stop: async () => { await container.stop(); },
  };
}

/** Another test file (a parallel process) may bind a port between our pick and redis-server's bind. */
async function startOnFreePort(base: Omit<RedisServerOptions, 'port'>): Promise<{ process: RedisServerProcess; options: RedisServerOptions }> {
  for (let attempt = 1; ; attempt++) {
    const options = { ...base, port: await getPort({ host: '127.0.0.1' }) };
    try {
      return { process: await startRedisServer(options), options };
    } catch (error) {
      if (attempt >= 5 || !/Address already in use/.test((error as Error).message)) throw error;
    }
  }
}

/**
 * Debian's redis-server, found but never installed: `npm test` made sure it is there before ava
 * started (scripts/preflight.mjs), and a test that installed things would race the others.
 */
export const redisServerBinary = (): Promise<string> => ensureRedisServer(() => {}, { install: false });

export async function startLocalRedis(dir?: string): Promise<TestRedis> {
  const binary = await redisServerBinary();
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'hitcounter-test-')));
  const started = await startOnFreePort({ binary, dir: dataDir, appendfsync: 'everysec', startTimeoutMs: 10_000 });
  const { options } = started;
  const handle: TestRedis = {
    url: `redis://127.0.0.1:${options.port}`,
    process: started.process,
    // Same port and data directory: a restart after a crash, as an operator would do it.
    restart: async () => {
      await handle.process!.stop();
      handle.process = await startRedisServer(options);
    },
    stop: async () => {
      await handle.process!.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

export async function startRedis(): Promise<TestRedis> {
  const mode = process.env.HITCOUNTER_TEST_REDIS;
  if (mode === 'container' || (mode !== 'local' && (await dockerAnswers()))) return startContainer();
  return startLocalRedis();
}

/** The sum of every score in a sorted set: the hits a ranking or bucket holds. */
export async function sumOfScores(redis: Redis, key: string): Promise<number> {
  const flat = await redis.zrange(key, 0, -1, 'WITHSCORES');
  let sum = 0;
  for (let i = 1; i < flat.length; i += 2) sum += Number(flat[i]);
  return sum;
}

// Runs inside Redis: KEYS[1] the ranking; ARGV first, last (exclusive), member stem, score modulo.
const SEED_RANKING = `
local first, last, stem, modulo = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local args = {}
for i = first, last - 1 do
  args[#args + 1] = i % modulo
  args[#args + 1] = stem .. i
  if #args == 2000 or i == last - 1 then
    redis.call('ZADD', KEYS[1], unpack(args))
    args = {}
  end
end
return last - first`;

/**
 * Fills a ranking with `count` members `<stem><i>`, scored `i % modulo`. Built inside Redis, in
 * batches that block it for a moment each: a million ZADD arguments built and sent by the test
 * process cost seconds of CPU that a busy CI machine does not have to spare.
 */
export async function seedRanking(redis: Redis, key: string, count: number, stem: string, modulo: number): Promise<void> {
  for (let first = 0; first < count; first += 50_000) {
    await redis.eval(SEED_RANKING, 1, key, first, Math.min(count, first + 50_000), stem, modulo);
  }
}
