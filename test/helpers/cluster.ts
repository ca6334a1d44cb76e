// The local Redis Cluster (scripts/local-cluster.ts, shared with the cluster bench) and apps on it.
import { randomUUID } from 'node:crypto';
import type { ExecutionContext } from 'ava';
import type { Got } from 'got';
import { pino } from 'pino';
import type { TestCluster } from '../../scripts/local-cluster.js';
import type { RedisConnection } from '../../src/redis/connection.js';
import { parseSettings, type Settings } from '../../src/settings.js';
import { defaultSettingsJson, PATIENT_LOADGEN_MS, startApp } from './app.js';

export { startCluster, type ClusterNode, type TestCluster } from '../../scripts/local-cluster.js';

/** Settings for an app on `cluster`, with its own key prefix and no rate limits. */
export function clusterSettings(cluster: TestCluster, { shards = 1, durability = 'local', replicationTimeoutMs = 200 }: { shards?: number; durability?: 'local' | 'replicated'; replicationTimeoutMs?: number } = {}): Settings {
  const json = defaultSettingsJson();
  json.server.host = '127.0.0.1';
  json.redis.keyPrefix = `test:${randomUUID()}:`;
  json.redis.cluster.nodes = cluster.nodes.map(({ host, port }) => `${host}:${port}`);
  json.redis.shards = shards;
  json.redis.durability = durability;
  json.redis.replicationTimeoutMs = replicationTimeoutMs;
  json.rateLimits = { api: [], read: [], write: [] };
  json.loadtest.requestTimeoutMs = PATIENT_LOADGEN_MS;
  return parseSettings(json);
}

/** An app (a replica) on the cluster through RedisConnection's Cluster client, on an ephemeral port: startApp's, contract check included. */
export async function startClusterApp(t: ExecutionContext, settings: Settings): Promise<{ url: string; http: Got; redis: RedisConnection; settings: Settings }> {
  const { url, http, redis } = await startApp(t, { settings, deps: { logger: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) } });
  return { url, http, redis, settings };
}
