// HitStore is the only module that knows how hits are kept in Redis:
// one sorted set, member = normalized path, score = all-time hits.
import { ReplyError, type Redis } from 'ioredis';
import { ServiceUnavailableError } from '../errors.js';
import type { Keys } from '../redis/keys.js';

export interface PathHits {
  path: string;
  hits: number;
}

export interface Page {
  offset: number;
  /** Undefined means "to the end". */
  limit?: number;
}

// A ReplyError is Redis answering "no" (a bug on our side: 500). Anything else means no answer
// arrived in time or the connection is gone, so the client gets a 503 it may retry.
function unavailable(error: unknown): never {
  if (error instanceof ReplyError) throw error;
  throw new ServiceUnavailableError('Redis is unavailable; the hit was not counted', { cause: error });
}

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
