// Every Redis key name is built here and nowhere else, once, at start-up, by two builders:
// - globalKeys(prefix): the keys that exist once per deployment, whatever the shards (the
//   product's SCAN pattern, visitor salts, the window budget, rate limits, load-test jobs, the
//   badge's recent views);
// - shardKeys({ prefix, hits }, shards): per shard of one ranking, the keys a hit of that shard
//   writes or a read of it uses (ranking, buckets, visitors, events, per-second counters,
//   sequence ledgers, cached windows, the write probe).
// No caller reads a global key through a shard's keys.
//
// The ranking stays the plain key `hits` (so `redis-cli ZREVRANGE hits 0 -1 WITHSCORES` works).
// Every key a hit writes with it carries the hash tag {hits}: a tag hashes like the plain key, so
// on Redis Cluster they all live in one slot and one Lua script may write them together.
import { bucketId, type Bucket } from '../analytics/buckets.js';
import { shardTags } from '../hits/shards.js';

/** One ranking: its name (redis.key, or botsRanking of it) under the deployment's prefix. */
export interface RankingOptions {
  /** Prepended to every key: lets several deployments (or test runs) share one Redis. */
  prefix: string;
  /** The all-time ranking: a sorted set of path → hits. */
  hits: string;
}

/** The keys that exist once per deployment (one Redis, one prefix), whatever the shards. */
export interface GlobalKeys {
  readonly prefix: string;
  /** What SCAN matches to find every other key of the product (DELETE /stats). */
  readonly productPattern: string;
  /** String: the random salt of one day's visitor hashes. */
  salt(day: string): string;
  /** Whether a key found by productPattern is a salt (DELETE /stats keeps those). */
  isSalt(key: string): boolean;
  /**
   * Sorted set: member = a custom window (`<from>:<to>`) whose unions are cached, score = when its
   * registration ends (Redis time, ms). Caps the custom windows cached at once (analytics.maxCachedWindows).
   */
  readonly windowBudget: string;
  /**
   * The key prefix of one rate-limit window of a route group (rate-limiter-flexible appends the
   * client's IP): `<prefix>hitcounter:ratelimit:<group>:<seconds>`.
   */
  rateLimit(group: string, durationSeconds: number): string;
  /** Sorted set: member = load-test job id, score = creation time (ms). Lists the jobs. */
  readonly jobs: string;
  /** Sorted set: member = id of a running job, score = when its lease expires (ms). Caps running jobs. */
  readonly runningJobs: string;
  /** String: the job's JSON, with a TTL. */
  job(id: string): string;
  /** String: present while a cancel of the job has been asked for and not yet carried out. */
  jobCancel(id: string): string;
  /** String: a finished run's per-second series (JSON), with the job's TTL. */
  jobSeries(id: string): string;
  /** String: a finished run's latencies in HdrHistogram's log format, with the job's TTL. */
  jobHistogram(id: string): string;
  /** Whether a key found by productPattern belongs to the load-test jobs (DELETE /stats keeps those). */
  isJob(key: string): boolean;
  /**
   * String, with a TTL of web.badge.dedupeSeconds: present while one visitor's (hashed) view of
   * one path's badge has counted, so that the visitor's other views within the window do not.
   * Written with SET NX EX on its own (no script), so it needs no shard's hash tag.
   */
  badgeView(visitor: string, path: string): string;
}

/** The keys of one shard of one ranking: all carry the shard's hash tag, so all share one slot. */
export interface ShardKeys {
  /** Sorted set: member = normalized path, score = all-time hits. */
  readonly hits: string;
  /**
   * Whether a key found by productPattern belongs to this shard's hit family: a key with the
   * shard's hash tag (buckets, events, per-second counters, sequence ledgers, visitors, windows),
   * all in the slot of its ranking.
   */
  inFamily(key: string): boolean;
  /** Whether a key of the family is a visitors HyperLogLog. */
  isVisitors(key: string): boolean;
  /** Sorted set per minute, hour and day: member = path, score = hits in that bucket. */
  bucket(bucket: Bucket): string;
  /** HyperLogLog of the visitors of one path on one day. */
  visitors(day: string, path: string): string;
  /** Stream: one entry per hit. */
  readonly events: string;
  /** Sorted set: a window's ranking, cached for a few seconds. */
  window(from: number, to: number): string;
  /** String: how many hits were counted in one second (epoch seconds), for the live feed; lives SECOND_COUNTER_TTL_MS. */
  second(epochSecond: number): string;
  /** String: the sequence number of the last hit Redis applied from one connection (its epoch). */
  hitSeq(epoch: string): string;
  /** Set: sequence numbers of that connection's hits already taken back. */
  hitRetracted(epoch: string): string;
  /** String: written (1 s TTL) to learn whether Redis takes writes (to this shard's slot) again after refusing them. */
  readonly probe: string;
  /**
   * String: the record of one POST /hits batch (its Idempotency-Key) on this shard: the body's
   * fingerprint and what was counted, written by record-batch.lua with the hits themselves.
   */
  batch(idempotencyKey: string): string;
}

/**
 * How long Redis keeps a second's counter (ShardKeys.second), set by the scripts that count hits:
 * longer than the live feed's backlog (analytics/traffic.ts), so a new sampler can fill it.
 */
export const SECOND_COUNTER_TTL_MS = 10 * 60_000;

/** The name of the bots' ranking (api.bots "separate"): a ranking of its own next to redis.key. */
export function botsRanking(hits: string): string {
  return `${hits}:bots`;
}

export function globalKeys(prefix: string): GlobalKeys {
  // Job state is written with MULTI across the index, the lease set and the job's own keys: one
  // hash tag keeps them in one slot on Redis Cluster (no CROSSSLOT).
  const jobs = `${prefix}hitcounter:{${prefix}jobs}`;
  return Object.freeze({
    prefix,
    productPattern: `${prefix}hitcounter:*`,
    salt: (day: string) => `${prefix}hitcounter:salt:${day}`,
    isSalt: (key: string) => key.startsWith(`${prefix}hitcounter:salt:`),
    windowBudget: `${prefix}hitcounter:windows`,
    rateLimit: (group: string, durationSeconds: number) => `${prefix}hitcounter:ratelimit:${group}:${durationSeconds}`,
    jobs,
    runningJobs: `${jobs}:running`,
    job: (id: string) => `${jobs}:${id}`,
    jobCancel: (id: string) => `${jobs}:${id}:cancel`,
    jobSeries: (id: string) => `${jobs}:${id}:series`,
    jobHistogram: (id: string) => `${jobs}:${id}:histogram`,
    isJob: (key: string) => key === jobs || key.startsWith(`${jobs}:`),
    badgeView: (visitor: string, path: string) => `${prefix}hitcounter:badge:${visitor}:${path}`,
  });
}

/** One shard's keys: `tag` undefined is the single ranking `hits`, tagged {<prefix><hits>}. */
function oneShard({ prefix, hits }: RankingOptions, tag: string | undefined): ShardKeys {
  const ranking = tag === undefined ? `${prefix}${hits}` : `${prefix}{${tag}}`;
  const tagged = `${prefix}hitcounter:{${tag ?? ranking}}`;
  return Object.freeze({
    hits: ranking,
    inFamily: (key: string) => key.startsWith(`${tagged}:`),
    isVisitors: (key: string) => key.startsWith(`${tagged}:visitors:`),
    bucket: (bucket: Bucket) => `${tagged}:${bucket.granularity}:${bucketId(bucket)}`,
    visitors: (day: string, path: string) => `${tagged}:visitors:${day}:${path}`,
    events: `${tagged}:events`,
    window: (from: number, to: number) => `${tagged}:window:${from}:${to}`,
    second: (epochSecond: number) => `${tagged}:second:${epochSecond}`,
    hitSeq: (epoch: string) => `${tagged}:seq:${epoch}`,
    hitRetracted: (epoch: string) => `${tagged}:seq:${epoch}:retracted`,
    probe: `${tagged}:probe`,
    batch: (idempotencyKey: string) => `${tagged}:batch:${idempotencyKey}`,
  });
}

/**
 * The keys of each shard of a ranking (redis.shards), shard i at index i. One shard is exactly
 * the single ranking `hits`; with more, shard i's ranking is `{<hits>:<i>…}` and every key a hit
 * of that shard writes carries the same tag, so each shard is one slot of its own.
 */
export function shardKeys(ranking: RankingOptions, shards: number): ShardKeys[] {
  if (shards === 1) return [oneShard(ranking, undefined)];
  return shardTags(`${ranking.prefix}${ranking.hits}`, shards).map((tag) => oneShard(ranking, tag));
}
