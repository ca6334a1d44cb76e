// Every read of the counts: the ranking (all time, or a window's union of buckets, merged across
// shards), the number of paths in it, and per path its hits, series and visitors. HitStore adds
// the writes on top (store.ts); nothing here writes a count.
import type { Redis } from 'ioredis';
import { cover, WINDOWS, windowRange, type Bucket, type Range } from '../analytics/buckets.js';
import type { Clock } from '../clock.js';
import { ServiceUnavailableError } from '../errors.js';
import type { GlobalKeys, ShardKeys } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import { unavailable } from '../redis/unavailable.js';
import { mergedPages } from './merged-pages.js';
import { groupByShard, shardOf } from './shards.js';

export interface PathHits {
  path: string;
  hits: number;
}

export interface Page {
  offset: number;
  /** Undefined means "to the end". */
  limit?: number;
}

/** A ranking to read: one sorted set per shard (see rankingKey). */
export type Ranking = readonly string[];

export interface RankingsOptions {
  redis: Redis;
  /** The keys that exist once (the window budget among them). */
  keys: GlobalKeys;
  /** The keys of every shard of the ranking (shardKeys), shard i at index i. */
  shards: readonly ShardKeys[];
  scripts: Scripts;
  clock: Clock;
  /** Rows per ZREVRANGE when the ranking streams. */
  pageSize: number;
  analytics: {
    /** Lifetimes (ms) of minute, hour and day buckets and of visitor HyperLogLogs. */
    minuteTtlMs: number; hourTtlMs: number; dayTtlMs: number; visitorTtlMs: number;
    windowCacheMs: number;
    /** How many custom (?from=&to=) windows may have cached unions at once (see rankingKey). */
    maxCachedWindows: number;
  };
}

/** How long a window's union stays readable after it stops being reused (see #windowOf). */
export const WINDOW_READ_GRACE_MS = 60_000;

const ZMSCORE_CHUNK = 1000; // paths per ZMSCORE round trip in sumOf

function pairs(flat: string[]): PathHits[] {
  const rows: PathHits[] = new Array(flat.length / 2);
  for (let i = 0; i < flat.length; i += 2) rows[i / 2] = { path: flat[i]!, hits: Number(flat[i + 1]) };
  return rows;
}

export class Rankings {
  readonly #o: RankingsOptions;
  readonly #shards: readonly ShardKeys[];

  constructor(options: RankingsOptions) {
    this.#o = options;
    this.#shards = options.shards;
  }

  /**
   * The sorted sets holding a range's ranking, one per shard: the union of the coarsest buckets
   * covering it, cached for windowCacheMs so repeated queries of the same window don't recompute
   * it. `undefined` range: the all-time ranking itself.
   *
   * A cached union costs Redis memory in proportion to the ranking, so how many exist is bounded.
   * They are keyed by the range, which is its cover (whole minutes, hours, days): every client
   * asking for the same window shares one union per shard. Named windows (15m … 30d) end with
   * the current minute, so at most 5 × (1 + ⌈windowCacheSeconds / 60⌉) of them are alive at
   * once. Custom ?from=&to= windows are admitted by a global budget kept in Redis
   * (acquire-window.lua): at most analytics.maxCachedWindows distinct ones at once; past it, a new
   * one gets 503 with Retry-After (when the earliest registration ends) rather than another copy.
   * A registration lasts windowCacheMs plus the read grace, and its unions expire with it, on
   * Redis's clock: like a named window's, a union stays readable for the grace after it stops
   * being reused.
   */
  async rankingKey(range: Range | undefined): Promise<Ranking> {
    if (!range) return this.#shards.map((keys) => keys.hits);
    let expiresAt: number | undefined;
    if (!this.#isNamed(range)) {
      const { keys, scripts, analytics } = this.#o;
      const [admitted, ms] = await scripts.acquireWindow(keys.windowBudget, `${range.from}:${range.to}`, analytics.windowCacheMs + WINDOW_READ_GRACE_MS, analytics.maxCachedWindows).catch(unavailable);
      if (Number(admitted) !== 1) {
        throw new ServiceUnavailableError(
          `Too many distinct custom windows are cached right now (analytics.maxCachedWindows = ${analytics.maxCachedWindows}); ` +
          'retry later, or use a named window (?window=15m|1h|24h|7d|30d)',
          { retryAfterSeconds: Math.max(1, Math.ceil(Number(ms) / 1000)) },
        );
      }
      expiresAt = Number(ms);
    }
    return Promise.all(this.#shards.map((keys) => this.#windowOf(keys, range, expiresAt)));
  }

  /** Whether a range is a named window's of this minute: shared by every client, bounded by construction. */
  #isNamed(range: Range): boolean {
    const now = this.#o.clock.now();
    return WINDOWS.some((name) => {
      if (name === 'all') return false;
      const named = windowRange(name, now, this.retention());
      return named.from === range.from && named.to === range.to;
    });
  }

  /** `expiresAt`: when the union is to expire (Redis time, ms); undefined: windowCacheMs from now. */
  async #windowOf(keys: ShardKeys, range: Range, expiresAt: number | undefined): Promise<string> {
    const { redis, clock, analytics } = this.#o;
    const key = keys.window(range.from, range.to);
    // A union outlives its freshness by WINDOW_READ_GRACE_MS, so a reader that chose it still
    // finds it while it pages through, however slow the machine (an expiry between choosing and
    // reading gave an empty ranking, named windows first, then a custom one on a loaded machine).
    // Fresh while more than the grace is left; rebuilt in place after that.
    const ttl = await redis.pttl(key).catch(unavailable);
    if (ttl > WINDOW_READ_GRACE_MS) return key;
    const buckets = cover(range.from, range.to, clock.now(), this.retention());
    if (!buckets) throw new Error(`no cover for ${range.from}..${range.to}`); // ranges are validated before
    const multi = redis.multi().zunionstore(key, buckets.length, ...buckets.map((bucket) => keys.bucket(bucket)));
    if (expiresAt === undefined) multi.pexpire(key, analytics.windowCacheMs + WINDOW_READ_GRACE_MS);
    else multi.pexpireat(key, expiresAt);
    await multi.exec().catch(unavailable);
    return key;
  }

  visitorRetentionMs(): number {
    return this.#o.analytics.visitorTtlMs;
  }

  retention(): { minute: number; hour: number; day: number } {
    const { analytics } = this.#o;
    return { minute: analytics.minuteTtlMs, hour: analytics.hourTtlMs, day: analytics.dayTtlMs };
  }

  /** How many distinct paths a ranking holds (a path lives in one shard only). */
  async distinctPaths(ranking?: Ranking): Promise<number> {
    const counts = await Promise.all((ranking ?? this.#shards.map((keys) => keys.hits)).map((key) => this.#o.redis.zcard(key).catch(unavailable)));
    return counts.reduce((sum, count) => sum + count, 0);
  }

  /** The keys of the shard that counts `path`. */
  #keysOf(path: string): ShardKeys {
    return this.#shards[shardOf(path, this.#shards.length)]!;
  }

  /** Approximate distinct visitors of each path over the given days (HyperLogLog, ~0.81% error). */
  async visitorsOf(paths: string[], days: string[]): Promise<number[]> {
    if (paths.length === 0) return [];
    // Each PFCOUNT reads one path's days, all in its shard's slot; on a cluster a pipeline must
    // stay in one slot too, so there is one per shard.
    const counts: number[] = new Array(paths.length);
    const byShard = groupByShard(paths.keys(), (i) => shardOf(paths[i]!, this.#shards.length));
    await Promise.all([...byShard].map(async ([shard, indexes]) => {
      const keys = this.#shards[shard]!;
      const pipeline = this.#o.redis.pipeline();
      for (const i of indexes) pipeline.pfcount(...days.map((day) => keys.visitors(day, paths[i]!)));
      const results = (await pipeline.exec().catch(unavailable)) ?? [];
      results.forEach(([error, count], j) => {
        if (error) unavailable(error);
        counts[indexes[j]!] = Number(count);
      });
    }));
    return counts;
  }

  /** The path's hits in each bucket, 0 where it has none. */
  async seriesOf(path: string, buckets: Bucket[]): Promise<number[]> {
    const { redis } = this.#o;
    const keys = this.#keysOf(path);
    const pipeline = redis.pipeline();
    for (const bucket of buckets) pipeline.zscore(keys.bucket(bucket), path);
    const results = (await pipeline.exec().catch(unavailable)) ?? [];
    return results.map(([error, score]) => {
      if (error) unavailable(error);
      return score === null ? 0 : Number(score);
    });
  }

  async hitsOf(path: string): Promise<number> {
    const score = await this.#o.redis.zscore(this.#keysOf(path).hits, path).catch(unavailable);
    return score === null ? 0 : Number(score);
  }

  /**
   * The sum of the hits of `paths`, read ZMSCORE_CHUNK paths per round trip (per shard) so a
   * vocabulary of millions of paths is never held at once. Paths never counted add 0.
   */
  async sumOf(paths: Iterable<string>): Promise<number> {
    let sum = 0;
    const chunks: string[][] = this.#shards.map(() => []);
    const flush = async (shard: number) => {
      const scores = await this.#o.redis.zmscore(this.#shards[shard]!.hits, ...chunks[shard]!).catch(unavailable);
      for (const score of scores) if (score !== null) sum += Number(score);
      chunks[shard] = [];
    };
    for (const path of paths) {
      const shard = shardOf(path, this.#shards.length);
      chunks[shard]!.push(path);
      if (chunks[shard]!.length === ZMSCORE_CHUNK) await flush(shard);
    }
    for (let shard = 0; shard < chunks.length; shard++) if (chunks[shard]!.length > 0) await flush(shard);
    return sum;
  }

  /**
   * The ranking, highest first, in ZREVRANGE order, fetched pageSize rows per round trip so
   * a million paths never sit in memory at once. Rows written while it runs may shift
   * between pages; each page is exact at the moment it is read. With shards, the shards' own
   * rankings are merged in that same order (k-way), and offset and limit count merged rows, so
   * the answer is the one a single sorted set would give.
   */
  async *ranking(page: Page, ranking?: Ranking): AsyncGenerator<PathHits[]> {
    const keys = ranking ?? this.#shards.map((shard) => shard.hits);
    if (keys.length === 1) return yield* this.#rankingOf(keys[0]!, page);
    yield* mergedPages(keys.map((key) => this.#rankingOf(key, { offset: 0 })), page, this.#o.pageSize);
  }

  /** Rows per ZREVRANGE: a page of at most this many is read at once (see page). */
  get pageSize(): number { return this.#o.pageSize; }

  /** One page of ranking(), whole: one ZREVRANGE with one shard; with more, ranking()'s merge, every shard's first read sent at once. */
  async page(ranking: Ranking, offset: number, limit: number): Promise<PathHits[]> {
    if (ranking.length === 1) return pairs(await this.#o.redis.zrevrange(ranking[0]!, offset, offset + limit - 1, 'WITHSCORES').catch(unavailable));
    const rows: PathHits[] = [];
    for await (const page of this.ranking({ offset, limit }, ranking)) rows.push(...page);
    return rows;
  }

  /** page() and distinctPaths() with their commands sent together: one round trip, not two. */
  pageWithTotal(ranking: Ranking, offset: number, limit: number): Promise<[rows: PathHits[], total: number]> {
    return Promise.all([this.page(ranking, offset, limit), this.distinctPaths(ranking)]);
  }

  async *#rankingOf(key: string, { offset, limit }: Page): AsyncGenerator<PathHits[]> {
    const { redis, pageSize } = this.#o;
    const end = limit === undefined ? Infinity : offset + limit;
    for (let start = offset; start < end; start += pageSize) {
      const stop = Math.min(start + pageSize, end) - 1;
      const flat = await redis.zrevrange(key, start, stop, 'WITHSCORES').catch(unavailable);
      if (flat.length === 0) return;
      yield pairs(flat);
      if (flat.length / 2 < stop - start + 1) return;
    }
  }
}
