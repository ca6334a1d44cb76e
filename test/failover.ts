// Failover on a real Redis Cluster: two app replicas under load, 3 shards over 3 masters, and the
// master of shard 0 killed with kill -9 until its replica is promoted. Every 2xx must be counted
// exactly once, per path; the one exception Redis allows is a hit the dead master acknowledged but
// had not yet replicated (replication is asynchronous), so shard 0 may miss a few in `local`
// durability: measured and logged, never more counted than answered 2xx. In `replicated`
// durability (WAIT 1 per batch) not even those may be missing.
import test, { type ExecutionContext } from 'ava';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { shardOf } from '../src/hits/shards.js';
import { createShardKeys } from '../src/redis/keys.js';
import { clusterSettings, startCluster, startClusterApp, type TestCluster } from './helpers/cluster.js';
import { hammer, sleep, type Outcomes } from './helpers/load.js';

const SHARDS = 3;

async function failover(t: ExecutionContext, durability: 'local' | 'replicated') {
  const cluster: TestCluster = await startCluster();
  t.teardown(() => cluster.stop());
  const settings = clusterSettings(cluster, { shards: SHARDS, durability });
  const [one, two] = [await startClusterApp(t, settings), await startClusterApp(t, settings)];
  const client = one.redis.client as unknown as Cluster;
  const shard0 = createShardKeys({ prefix: settings.redis.keyPrefix, hits: settings.redis.key }, SHARDS)[0]!;
  const victimPort = Number(client.slots[calculateSlot(shard0.hits)]![0]!.split(':')[1]);
  const victim = cluster.members.find((member) => member.port === victimPort)!;

  const stop = new AbortController();
  const load = [one, two].map((app) => hammer(app.url, { concurrency: 20, until: stop.signal, prefix: 'failover', spread: 300 }));
  await sleep(1500);
  const slot = calculateSlot(shard0.hits);
  victim.kill();
  const killedAt = Date.now();
  // The replica is promoted after cluster-node-timeout (2 s) and the vote; load goes on meanwhile,
  // and the client learns the new master from its slot refresh (every second).
  let promotedAfterMs: number | undefined;
  while (Date.now() - killedAt < 8000) {
    if (promotedAfterMs === undefined && client.slots[slot]?.[0] !== undefined && client.slots[slot]![0] !== `127.0.0.1:${victimPort}`) promotedAfterMs = Date.now() - killedAt;
    await sleep(100);
  }
  t.not(promotedAfterMs, undefined, "shard 0's slot has a new master: the replica was promoted");
  stop.abort();
  const outcomes: Outcomes[] = await Promise.all(load);
  const loadEndedAfterMs = Date.now() - killedAt;

  // Let both replicas resolve the hits whose replies were lost (see HitStore.reconcile).
  for (const app of [one, two]) {
    for (let i = 0; i < 100; i++) {
      const health = (await app.http.get('health')).body as unknown as { unresolvedHits?: number };
      if (health.unresolvedHits === 0) break;
      await sleep(200);
    }
  }
  const resolvedAfterMs = Date.now() - killedAt;
  const healths = await Promise.all([one, two].map(async (app) => (await app.http.get('health')).body));
  const ok = new Map<string, number>();
  for (const outcome of outcomes) for (const [path, n] of outcome.okByPath) ok.set(path, (ok.get(path) ?? 0) + n);
  const rows = (await one.http.get('stats')).body as unknown as Array<{ path: string; hits: number }>;
  const counted = new Map(rows.map((row) => [row.path, row.hits]));

  const perShard = Array.from({ length: SHARDS }, () => ({ ok: 0, counted: 0, overcounted: 0 }));
  for (const path of new Set([...ok.keys(), ...counted.keys()])) {
    const s = perShard[shardOf(path, SHARDS)]!;
    const answered = ok.get(path) ?? 0;
    const stored = counted.get(path) ?? 0;
    s.ok += answered;
    s.counted += stored;
    if (stored > answered) s.overcounted += stored - answered;
  }
  const statuses = outcomes.map((o) => Object.fromEntries(o.statuses));
  const lost = perShard[0]!.ok - perShard[0]!.counted;
  t.log(`${durability}: 2xx ${perShard.map((s) => s.ok).join('/')} per shard, counted ${perShard.map((s) => s.counted).join('/')}; shard 0's master killed, replica promoted and known ${promotedAfterMs} ms later, load stopped ${loadEndedAfterMs} ms later, unresolved hits resolved ${resolvedAfterMs} ms after the kill; acknowledged but lost with it: ${lost}; statuses ${JSON.stringify(statuses)}; health ${JSON.stringify(healths)}`);
  for (const status of statuses) t.deepEqual(Object.keys(status).filter((code) => code !== '200' && code !== '503'), [], 'only 200 or 503');
  t.true(perShard[0]!.ok > 0 && perShard[1]!.ok > 0 && perShard[2]!.ok > 0, 'every shard took hits');
  for (const [i, s] of perShard.entries()) t.is(s.overcounted, 0, `shard ${i}: no path counted more often than it was answered 2xx`);
  t.is(perShard[1]!.counted, perShard[1]!.ok, 'shard 1 (its master alive) exact');
  t.is(perShard[2]!.counted, perShard[2]!.ok, 'shard 2 (its master alive) exact');
  // After the failover, shard 0 takes hits again on its new master.
  const after = await one.http.get('api/failover/after');
  t.is(after.statusCode, 200, JSON.stringify(after.body));
  return { lost, shard0: perShard[0]! };
}

test.serial('local durability: through a master failover every 2xx is counted once, except what the dead master had not replicated', async (t) => {
  t.timeout(180_000);
  const { lost, shard0 } = await failover(t, 'local');
  t.true(lost >= 0 && lost <= shard0.ok, `lost ${lost}`);
});

test.serial('replicated durability: through a master failover every 2xx is counted exactly once', async (t) => {
  t.timeout(180_000);
  const { lost } = await failover(t, 'replicated');
  t.is(lost, 0);
});
