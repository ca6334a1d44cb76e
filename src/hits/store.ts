// HitStore is the only module that knows how hits are kept in Redis:
// one sorted set, member = normalized path, score = all-time hits.
//
// Exactly one hit per 2xx: a hit is acknowledged only after Redis replied to its command. Commands
// are never retried (ioredis: no offline queue, no retries, no resend after reconnect), so none
// is applied twice. A command that got no reply in time (timeout, lost connection) may still have
// been applied; the client gets 503, and the hit is kept as unresolved until Redis says whether it
// was applied (see record-hit.lua); if it was, it is taken back (retract-hit.lua).
import { randomUUID } from 'node:crypto';
import { ReplyError, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { ServiceUnavailableError } from '../errors.js';
import type { Keys } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import { unavailable } from '../redis/unavailable.js';
import { UnresolvedHits } from './unresolved.js';

export interface PathHits {
  path: string;
  hits: number;
}

export interface Page {
  offset: number;
  /** Undefined means "to the end". */
  limit?: number;
}

export interface HitStoreOptions {
  redis: Redis;
  keys: Keys;
  scripts: Scripts;
  clock: Clock;
  logger: Logger;
  /** Rows per ZREVRANGE when the ranking streams. */
  pageSize: number;
  /** How long Redis keeps a connection's last-applied sequence number, and so how long an outage may last for unresolved hits to still be resolved exactly. */
  ledgerTtlMs: number;
  /** After a connection closes, how long to wait before concluding its unanswered hits were not applied. */
  settleMs?: number;
}

const ZMSCORE_CHUNK = 1000;
const RECONCILE_EVERY_MS = 250;

// ioredis says this when it refused to send at all (not connected, no offline queue).
const NOT_SENT = /Stream isn't writeable|enableOfflineQueue/;

function pairs(flat: string[]): PathHits[] {
  const rows: PathHits[] = new Array(flat.length / 2);
  for (let i = 0; i < flat.length; i += 2) rows[i / 2] = { path: flat[i]!, hits: Number(flat[i + 1]) };
  return rows;
}

export class HitStore {
  readonly #o: HitStoreOptions;
  readonly #unresolved: UnresolvedHits;
  #epoch = randomUUID();
  #seq = 0;
  #retracted = 0;
  #timer: NodeJS.Timeout | undefined;
  #reconciling: Promise<void> | undefined;

  constructor(options: HitStoreOptions) {
    this.#o = options;
    this.#unresolved = new UnresolvedHits(options.settleMs ?? 1000);
    // Each connection is an epoch with its own sequence numbers: a new one starts when the old closes.
    options.redis.on('close', () => {
      this.#unresolved.closed(this.#epoch, options.clock.now());
      this.#epoch = randomUUID();
      this.#seq = 0;
    });
  }

  /** Hits answered 503 whose fate Redis has not told yet. */
  get unresolved(): number {
    return this.#unresolved.size;
  }

  /** Hits taken back since start-up: applied by Redis after their client was answered 503. */
  get retracted(): number {
    return this.#retracted;
  }

  /** Counts one hit and returns the path's new total, as ZINCRBY reports it. */
  async record(path: string): Promise<number> {
    const { scripts, keys, ledgerTtlMs } = this.#o;
    const epoch = this.#epoch;
    const seq = ++this.#seq;
    try {
      return Number(await scripts.recordHit(keys.hits, keys.hitSeq(epoch), path, seq, ledgerTtlMs));
    } catch (error) {
      if (error instanceof ReplyError) throw error;
      if (!NOT_SENT.test((error as Error).message)) {
        this.#unresolved.add(epoch, seq, path);
        this.#timer ??= setInterval(() => void this.reconcile(), RECONCILE_EVERY_MS).unref();
      }
      throw new ServiceUnavailableError('Redis is unavailable: the hit was not counted', { cause: error });
    }
  }

  /** Resolves what can be resolved now. Runs by itself while hits are unresolved. */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.#reconcileOnce().finally(() => { this.#reconciling = undefined; });
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    const { redis, keys, scripts, clock, logger, ledgerTtlMs } = this.#o;
    if (redis.status !== 'ready') return;
    try {
      for (const epoch of this.#unresolved.epochs()) {
        const last = Number((await redis.get(keys.hitSeq(epoch))) ?? 0);
        const { applied, dropped } = this.#unresolved.resolve(epoch, last, clock.now());
        for (const hit of applied) {
          await scripts.retractHit(keys.hits, keys.hitRetracted(hit.epoch), hit.path, hit.seq, ledgerTtlMs);
          this.#unresolved.retracted(hit.epoch, hit.seq);
          this.#retracted++;
        }
        if (applied.length > 0 || dropped > 0) {
          logger.info({ epoch, retracted: applied.length, notApplied: dropped }, 'resolved hits that were answered 503');
        }
      }
      this.#unresolved.prune();
    } catch (error) {
      logger.debug({ err: error }, 'could not resolve unanswered hits yet; retrying');
    }
    if (this.#unresolved.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Erases every count. */
  async reset(): Promise<void> {
    await this.#o.redis.del(this.#o.keys.hits).catch(unavailable);
  }

  /** How many distinct paths have been counted. */
  async distinctPaths(): Promise<number> {
    return this.#o.redis.zcard(this.#o.keys.hits).catch(unavailable);
  }

  async hitsOf(path: string): Promise<number> {
    const score = await this.#o.redis.zscore(this.#o.keys.hits, path).catch(unavailable);
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
      const scores = await this.#o.redis.zmscore(this.#o.keys.hits, ...chunk).catch(unavailable);
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
    const { redis, keys, pageSize } = this.#o;
    const end = limit === undefined ? Infinity : offset + limit;
    for (let start = offset; start < end; start += pageSize) {
      const stop = Math.min(start + pageSize, end) - 1;
      const flat = await redis.zrevrange(keys.hits, start, stop, 'WITHSCORES').catch(unavailable);
      if (flat.length === 0) return;
      yield pairs(flat);
      if (flat.length / 2 < stop - start + 1) return;
    }
  }
}
