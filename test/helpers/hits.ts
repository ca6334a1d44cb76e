// The parts of the hit write path (src/hits/), wired the way store.ts wires them, on a real Redis,
// a ManualClock and a silent logger: for the tests of one module at a time (test/send.ts,
// test/ledger.ts, test/writer.ts, test/write-behind-unit.ts).
import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import getPort from 'get-port';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { MS } from '../../src/analytics/buckets.js';
import { CallKeys, type Hit } from '../../src/hits/hit.js';
import { Ledger } from '../../src/hits/ledger.js';
import { Sender } from '../../src/hits/send.js';
import { SECOND_COUNTER_TTL_MS, shardKeys, type ShardKeys } from '../../src/redis/keys.js';
import type { HitKeyLifetimes } from '../../src/redis/script-args.js';
import { loadScripts, type Scripts } from '../../src/redis/scripts.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { PATIENT_REDIS_MS, prefixedRedis } from './app.js';
import { ManualClock } from './clock.js';
import { eventually } from './eventually.js';
import { startLocalRedis } from './redis.js';

/** Mid-minute, so that a test moving the clock a few seconds stays in one minute bucket. */
export const T0 = Date.UTC(2026, 10, 20, 12, 0, 30);
export const LEDGER_TTL_MS = 60_000;
export const silentLogger = pino({ level: 'silent' });

export const LIFETIMES: HitKeyLifetimes = {
  buckets: { minute: 2 * MS.day, hour: 90 * MS.day, day: 730 * MS.day },
  second: SECOND_COUNTER_TTL_MS,
  sequence: LEDGER_TTL_MS,
};

export const hitAt = (path: string, time = T0, visitor = ''): Hit => ({ path, time, method: 'GET', referrer: '', userAgent: 'ava', visitor });

/** What SendMetrics was told of one pipeline. */
export interface Flush {
  command: string;
  hits: number;
  ok: boolean;
}

export interface HitParts<G> {
  redis: Redis;
  prefix: string;
  shards: ShardKeys[];
  /** Shard 0's keys. */
  keys: ShardKeys;
  scripts: Scripts;
  clock: ManualClock;
  sender: Sender;
  ledger: Ledger<G>;
  callKeys: CallKeys[];
  /** Every pipeline the sender sent, in order. */
  flushes: Flush[];
  /** What the ledger handed back as not applied. */
  notApplied: G[];
}

export interface PartsOptions {
  /** Another Redis (a private one, an offline client) and its key prefix; default: prefixedRedis. */
  on?: { redis: Redis; prefix: string };
  shards?: number;
  settleMs?: number;
}

export async function hitParts<G = unknown>(t: ExecutionContext, options: PartsOptions = {}): Promise<HitParts<G>> {
  const { redis, prefix } = options.on ?? (await prefixedRedis(t));
  const shards = shardKeys({ prefix, hits: 'hits' }, options.shards ?? 1);
  const clock = new ManualClock(T0);
  const scripts = loadScripts(redis);
  const flushes: Flush[] = [];
  const sender = new Sender(redis, shards[0]!.probe, silentLogger, clock, { flushed: (command, _seconds, hits, ok) => void flushes.push({ command, hits, ok }) });
  const notApplied: G[] = [];
  const ledger = new Ledger<G>({
    redis, scripts, shards, clock, logger: silentLogger, ttlMs: LEDGER_TTL_MS, buckets: true,
    settleMs: options.settleMs ?? 100, notApplied: (group) => void notApplied.push(group),
  });
  t.teardown(() => ledger.close());
  return { redis, prefix, shards, keys: shards[0]!, scripts, clock, sender, ledger, callKeys: shards.map((keys) => new CallKeys(keys)), flushes, notApplied };
}

/**
 * A redis-server of the test's own, for faults that would disturb the other tests of the file
 * (OOM, CLIENT PAUSE): `redis` for the code under test, configured as the product configures it
 * (RedisConnection: no offline queue, no resending of unanswered commands after a reconnect), and
 * `admin` to provoke the faults. Stopping the server (data directory included) is the cleanup.
 */
export async function privateRedis(t: ExecutionContext, { commandTimeoutMs = PATIENT_REDIS_MS } = {}): Promise<{ redis: Redis; admin: Redis; prefix: string }> {
  const server = await startLocalRedis();
  t.teardown(() => server.stop());
  const connection = new RedisConnection({ url: server.url, commandTimeoutMs, connectTimeoutMs: 10_000 });
  const admin = new Redis(server.url);
  // Teardowns run last-registered first: the clients go before the server.
  t.teardown(() => { connection.client.disconnect(); admin.disconnect(); });
  // connect() pings with the client's own timeout, which a test may set to 200 ms: on a loaded
  // machine a Redis just started can take longer to answer its first command, so it is retried.
  await eventually(() => connection.connect().then(() => true, () => false), { what: 'the private Redis to answer a ping' });
  return { redis: connection.client, admin, prefix: `test:${randomUUID()}:` };
}

/**
 * A client that cannot send: no offline queue, and no Redis on its port, so it stays
 * (re)connecting and ioredis refuses every command before writing it (the not_sent case).
 */
export async function offlineClient(t: ExecutionContext): Promise<Redis> {
  const redis = new Redis({ host: '127.0.0.1', port: await getPort({ host: '127.0.0.1' }), enableOfflineQueue: false, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => 1000 });
  redis.on('error', () => {});
  t.teardown(() => redis.disconnect());
  return redis;
}

/**
 * reconcile() once the test has moved the clock or Redis: the first call may join a pass the
 * ledger's own timer began before, so a second, started afterwards, is the one that counts.
 */
export async function reconcileNow(ledger: Ledger<unknown>): Promise<void> {
  await ledger.reconcile();
  await ledger.reconcile();
}
