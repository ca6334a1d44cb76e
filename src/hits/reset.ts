// Erases the counts: every key of the product but the visitor salts, the load-test jobs and the
// window budget. The salts are not counts, and every replica keeps the day's salt in memory, so
// a new one in Redis would split one visitor into two hashes across replicas. Jobs (their records
// and the leases that cap how many run at once) belong to the job system, not to the counts: they
// have DELETE /test/jobs/<id>. The window budget only holds live registrations and ends them itself.
//
// Exact under load: each shard's hit family (its ranking, buckets, event stream, per-second
// counters, sequence ledgers, cached windows) is deleted in ONE atomic step, reset-shard.lua.
// record-hits.lua and add-hits.lua write a hit into all of those at once, so every hit is either
// wholly before the reset (gone from all) or wholly after it (in all): the ranking, each bucket
// and the event stream agree afterwards. The step must name its keys (one slot on Redis Cluster),
// so they are found first: SCAN finds those that exist; a hit counted while SCAN runs can only
// create keys of the present, so the buckets and per-second counters from RESET_MARGIN_MS before
// the scan began to RESET_MARGIN_MS after it ended are named too (whether they exist or not),
// and this process's own sequence keys. Visitor HyperLogLogs (approximate by nature, one per
// path and day: too many for one step) and the other keys (rate-limit counters) go afterwards.
import type { Redis } from 'ioredis';
import { bucketsAt, floorTo, MS } from '../analytics/buckets.js';
import type { Clock } from '../clock.js';
import type { GlobalKeys, ShardKeys } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import { unavailable } from '../redis/unavailable.js';

// How far around the scan the present's bucket and per-second keys are named: a hit's time is its
// replica's clock, read shortly before its script runs.
const RESET_MARGIN_MS = 2 * 60_000;

export interface ResetOptions {
  redis: Redis;
  /** The keys that exist once: the product's pattern, salts, jobs and the window budget. */
  keys: GlobalKeys;
  shards: readonly ShardKeys[];
  scripts: Scripts;
  clock: Clock;
  /** How late a hit may reach Redis after its time (write-behind: the flush interval), on top of the margin. */
  lateMs: number;
  /** Per shard, this process's own sequence keys. */
  seqKeys: readonly string[][];
  /** Keys left alone although they match the pattern: another store's family, which it resets itself. */
  resetSkips?: (key: string) => boolean;
}

/** Deletes the counts; resolves with how many keys existed. */
export async function resetCounts({ redis, keys, shards, scripts, clock, lateMs, seqKeys, resetSkips }: ResetOptions): Promise<number> {
  const started = clock.now();
  const families: string[][] = shards.map((shard) => [shard.hits, shard.events]);
  const rest: string[] = [];
  // On Redis Cluster every master holds its own share of the keys, so each is scanned.
  const cluster = redis as unknown as { isCluster?: boolean; nodes(role: 'master'): Redis[] };
  // A scan that fails (Redis gone) has deleted nothing yet: a 503, like any other command.
  try {
    for (const node of cluster.isCluster ? cluster.nodes('master') : [redis]) {
      for await (const found of node.scanStream({ match: keys.productPattern, count: 1000 }) as AsyncIterable<string[]>) {
        for (const key of found) {
          if (keys.isSalt(key) || keys.isJob(key) || key === keys.windowBudget || resetSkips?.(key)) continue;
          const shard = shards.findIndex((family) => family.inFamily(key));
          if (shard >= 0 && !shards[shard]!.isVisitors(key)) families[shard]!.push(key);
          else rest.push(key);
        }
      }
    }
  } catch (error) {
    unavailable(error);
  }
  const margin = RESET_MARGIN_MS + lateMs;
  const from = started - margin;
  const to = clock.now() + margin;
  const counts = await Promise.all(shards.map((shard, i) => {
    const doomed = new Set(families[i]);
    for (let minute = floorTo(from, 'minute'); minute <= to; minute += MS.minute) {
      for (const bucket of Object.values(bucketsAt(minute))) doomed.add(shard.bucket(bucket));
    }
    for (let second = Math.floor(from / 1000); second <= Math.floor(to / 1000); second++) doomed.add(shard.second(second));
    for (const key of seqKeys[i] ?? []) doomed.add(key);
    return scripts.resetShard([...doomed]).catch(unavailable);
  }));
  let deleted = counts.reduce((sum, count) => sum + Number(count), 0);
  // Keys of different slots can't share one UNLINK (CROSSSLOT): on a cluster they go one by one.
  for (let i = 0; i < rest.length; i += 1000) {
    const batch = rest.slice(i, i + 1000);
    if (!cluster.isCluster) deleted += await redis.unlink(...batch).catch(unavailable);
    else for (const count of await Promise.all(batch.map((key) => redis.unlink(key).catch(unavailable)))) deleted += count;
  }
  return deleted;
}
