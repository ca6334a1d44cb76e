// HitStore is the only module that knows how hits are kept in Redis:
// one sorted set, member = normalized path, score = all-time hits.
import type { Redis } from 'ioredis';
import type { Keys } from '../redis/keys.js';
import { unavailable } from '../redis/unavailable.js';

export interface PathHits {
  path: string;
  hits: number;
}

export interface Page {
  offset: number;
  /** Undefined means "to the end". */
  limit?: number;
}

const ZMSCORE_CHUNK = 1000;

function pairs(flat: string[]): PathHits[] {
  const rows: PathHits[] = new Array(flat.length / 2);
  for (let i = 0; i < flat.length; i += 2) rows[i / 2] = { path: flat[i]!, hits: Number(flat[i + 1]) };
  return rows;
}

export class HitStore {
  constructor(private readonly redis: Redis, private readonly keys: Keys, private readonly pageSize: number) {}

  /** Counts one hit and returns the path's new total, as ZINCRBY reports it. */
  async record(path: string): Promise<number> {
    const score = await this.redis.zincrby(this.keys.hits, 1, path).catch(unavailable);
    return Number(score);
  }

  /** How many distinct paths have been counted. */
  async distinctPaths(): Promise<number> {
    return this.redis.zcard(this.keys.hits).catch(unavailable);
  }

  async hitsOf(path: string): Promise<number> {
    const score = await this.redis.zscore(this.keys.hits, path).catch(unavailable);
    return score === null ? 0 : Number(score);
  }

  /**
   * The sum of the hits of `paths`, read ZMSCORE_CHUNK paths per round trip so a vocabulary of
   * millions of paths is never held at once. Paths never counted add 0.
   */
  async sumOf(paths: Iterable<string>): Promise<number> {
    let sum = 0;
    let chunk: string[] = [];
    const flush = async () => {
      const scores = await this.redis.zmscore(this.keys.hits, ...chunk).catch(unavailable);
      for (const score of scores) if (score !== null) sum += Number(score);
      chunk = [];
    };
    for (const path of paths) {
      chunk.push(path);
      if (chunk.length === ZMSCORE_CHUNK) await flush();
    }
    if (chunk.length > 0) await flush();
    return sum;
  }

  /**
   * The ranking, highest first, in ZREVRANGE order, fetched pageSize rows per round trip so
   * a million paths never sit in memory at once. Rows written while it runs may shift
   * between pages; each page is exact at the moment it is read.
   */
  async *ranking({ offset, limit }: Page): AsyncGenerator<PathHits[]> {
    const end = limit === undefined ? Infinity : offset + limit;
    for (let start = offset; start < end; start += this.pageSize) {
      const stop = Math.min(start + this.pageSize, end) - 1;
      const flat = await this.redis.zrevrange(this.keys.hits, start, stop, 'WITHSCORES').catch(unavailable);
      if (flat.length === 0) return;
      yield pairs(flat);
      if (flat.length / 2 < stop - start + 1) return;
    }
  }
}
