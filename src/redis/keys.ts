// Every Redis key name is built here and nowhere else, once, at start-up.
//
// The ranking stays the plain key `hits` (so `redis-cli ZREVRANGE hits 0 -1 WITHSCORES` works).
// Every key a hit writes with it carries the hash tag {hits}: a tag hashes like the plain key, so
// on Redis Cluster they all live in one slot and one Lua script may write them together.
import { bucketId, type Bucket } from '../analytics/buckets.js';
import { shardTags } from '../hits/shards.js';

export interface KeyOptions {
  /** Prepended to every key: lets several deployments (or test runs) share one Redis. */
  prefix: string;
  /** The all-time ranking: a sorted set of path → hits. */
  hits: string;
  /** A shard's hash tag (see hits/shards.ts); none: the single ranking `hits`, tagged {hits}. */
  tag?: string;
}

export interface Keys {
  readonly prefix: string;
  /** Sorted set: member = normalized path, score = all-time hits. */
  readonly hits: string;
  /** What SCAN matches to find every other key of the product (DELETE /stats). */
  readonly productPattern: string;
  /**
   * Whether a key found by productPattern belongs to this shard's hit family: a key with the
   * shard's hash tag (buckets, events, per-second counters, sequence ledgers, visitors, windows),
   * all in the slot of its ranking.
   */
  inFamily(key: string): boolean;
  /** Whether a key of the family is a visitors HyperLogLog. */
  isVisitors(key: string): boolean;
  /** Whether a key found by productPattern belongs to the load-test jobs (DELETE /stats keeps those). */
  isJob(key: string): boolean;
  /**
   * Sorted set: member = a custom window (`<from>:<to>`) whose unions are cached, score = when its
   * registration ends (Redis time, ms). Caps the custom windows cached at once (analytics.maxCachedWindows).
   */
  readonly windowBudget: string;
  /** Sorted set per minute, hour and day: member = path, score = hits in that bucket. */
  bucket(bucket: Bucket): string;
  /** HyperLogLog of the visitors of one path on one day. */
  visitors(day: string, path: string): string;
  /** String: the random salt of one day's visitor hashes. */
  salt(day: string): string;
  /** Whether a key found by productPattern is a salt (DELETE /stats keeps those). */
  isSalt(key: string): boolean;
  /** Stream: one entry per hit. */
  readonly events: string;
  /** Sorted set: a window's ranking, cached for a few seconds. */
  window(from: number, to: number): string;
  /** String: how many hits were counted in one second (epoch seconds), for the live feed; lives SECOND_COUNTER_TTL_MS. */
  second(epochSecond: number): string;
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
  /** String: the sequence number of the last hit Redis applied from one connection (its epoch). */
  hitSeq(epoch: string): string;
  /** Set: sequence numbers of that connection's hits already taken back. */
  hitRetracted(epoch: string): string;
  /** String: written (1 s TTL) by /health to learn whether Redis takes writes again after refusing them. */
  readonly probe: string;
}

/**
 * How long Redis keeps a second's counter (keys.second), set by the scripts that count hits:
 * longer than the live feed's backlog (analytics/traffic.ts), so a new sampler can fill it.
 */
export const SECOND_COUNTER_TTL_MS = 10 * 60_000;

export function createKeys({ prefix, hits, tag }: KeyOptions): Keys {
  const ranking = tag === undefined ? `${prefix}${hits}` : `${prefix}{${tag}}`;
  const tagged = `${prefix}hitcounter:{${tag ?? ranking}}`;
  // Job state is written with MULTI across the index, the lease set and the job's own keys: one
  // hash tag keeps them in one slot on Redis Cluster (no CROSSSLOT).
  const jobs = `${prefix}hitcounter:{${prefix}jobs}`;
  return Object.freeze({
    prefix,
    hits: ranking,
    productPattern: `${prefix}hitcounter:*`,
    bucket: (bucket: Bucket) => `${tagged}:${bucket.granularity}:${bucketId(bucket)}`,
    visitors: (day: string, path: string) => `${tagged}:visitors:${day}:${path}`,
    salt: (day: string) => `${prefix}hitcounter:salt:${day}`,
    isSalt: (key: string) => key.startsWith(`${prefix}hitcounter:salt:`),
    inFamily: (key: string) => key.startsWith(`${tagged}:`),
    isVisitors: (key: string) => key.startsWith(`${tagged}:visitors:`),
    isJob: (key: string) => key === jobs || key.startsWith(`${jobs}:`),
    windowBudget: `${prefix}hitcounter:windows`,
    events: `${tagged}:events`,
    window: (from: number, to: number) => `${tagged}:window:${from}:${to}`,
    second: (epochSecond: number) => `${tagged}:second:${epochSecond}`,
    rateLimit: (group: string, durationSeconds: number) => `${prefix}hitcounter:ratelimit:${group}:${durationSeconds}`,
    jobs,
    runningJobs: `${jobs}:running`,
    job: (id: string) => `${jobs}:${id}`,
    jobCancel: (id: string) => `${jobs}:${id}:cancel`,
    hitSeq: (epoch: string) => `${tagged}:seq:${epoch}`,
    hitRetracted: (epoch: string) => `${tagged}:seq:${epoch}:retracted`,
    probe: `${tagged}:probe`,
  });
}

/**
 * The keys of each shard of the ranking (redis.shards). One shard is exactly the single ranking
 * `hits` of createKeys; with more, shard i's ranking is `{<hits>:<i>…}` and every key a hit of
 * that shard writes carries the same tag, so each shard is one slot of its own.
 */
export function createShardKeys(options: Omit<KeyOptions, 'tag'>, shards: number): Keys[] {
  if (shards === 1) return [createKeys(options)];
  return shardTags(`${options.prefix}${options.hits}`, shards).map((tag) => createKeys({ ...options, tag }));
}
