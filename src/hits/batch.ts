// POST /hits, the store's side: a batch's hits counted exactly once, whatever the retries. The hits
// of one shard go to Redis in ONE call of record-batch.lua together with the batch's record (its
// Idempotency-Key, the body's fingerprint and the answer), so each call is applied whole and
// recorded, or not at all; a call that finds its record counts nothing again. No ledger is needed
// when a reply is lost: the client's retry with the same key finds out, and completes what is missing.
//
// With one shard (redis.shards = 1) a store's whole batch is one call: atomic. With more, each
// shard's hits are one call with a record of their own in that shard's slot (one script may not
// span slots on Redis Cluster): a batch may then be counted in some shards and not yet in others
// until it is retried. The home call (shard 0, made even when no hit falls there) goes first and
// alone: it carries the hits dropped before Redis (bots), and a key used for a different batch is
// refused there before any other shard counts anything.
import { bucketId, bucketsAt, GRANULARITIES, MS, type Granularity } from '../analytics/buckets.js';
import { ServiceUnavailableError } from '../errors.js';
import { SECOND_COUNTER_TTL_MS, type ShardKeys } from '../redis/keys.js';
import { recordBatchArgs, type BatchHit, type BatchKey, type HitKeyLifetimes } from '../redis/script-args.js';
import { redisErrorText, refusalReason } from '../redis/unavailable.js';
import type { Hit } from './hit.js';
import type { Sender } from './send.js';
import { shardOf } from './shards.js';

/** A hit of a batch, ready to count: normalized path, its own time, visitor hashed ('' for none). */
export interface IndexedHit extends Hit {
  /** Its index in the request's list of hits. */
  index: number;
}

/** One store's share of a batch. */
export interface StoreBatch {
  /** The Idempotency-Key. */
  key: string;
  /** A digest of the request's body: the same key with another body is a conflict. */
  fingerprint: string;
  /** Whether this store keeps the batch's home record (the main store does; the bots' store does not). */
  home: boolean;
  /** Hits dropped before they reached Redis (index and reason): kept in the home record. */
  drops: ReadonlyArray<{ index: number; reason: string }>;
  hits: readonly IndexedHit[];
  /** The server's time when the batch arrived: bucket lifetimes count from it. */
  now: number;
}

/** What one call (one shard's hits, with its record) did. */
export interface BatchCall {
  /** `counted`: by this request; `duplicate`: found its record, counted before; `conflict`: the key holds another batch. */
  status: 'counted' | 'duplicate' | 'conflict';
  /** The indexes of the hits this call stood for (those it was sent, and the drops it records). */
  indexes: number[];
  /** Hits the call's record says were counted (0 for a conflict). */
  counted: number;
  /** The record's drops: before Redis (bots), or refused by the script (path_cap). */
  drops: Array<{ index: number; reason: string }>;
}

export interface BatchWriterOptions {
  sender: Sender;
  shards: readonly ShardKeys[];
  lifetimes: HitKeyLifetimes;
  /** Distinct paths per shard (api.maxPaths split evenly); 0: no cap. */
  maxPathsPerShard: number;
  /** The event log's approximate length; 0: no event log. */
  maxEvents: number;
  /** How long a batch's record is kept (batch.idempotencyTtlSeconds), ms. */
  recordTtlMs: number;
  /** Durability `replicated`: WAIT 1 within this many ms, or the batch is answered 503. */
  replicatedWithinMs?: number;
}

/** What the event log records as a batch hit's method. */
export const BATCH_METHOD = 'batch';

const parseDrops = (text: string) => (text === '' ? [] : text.split(',').map((drop) => {
  const colon = drop.indexOf(':');
  return { index: Number(drop.slice(0, colon)), reason: drop.slice(colon + 1) };
}));

/** A 503 for a batch; `refusal` names why for the metrics. */
function unavailable(message: string, cause: unknown, refusal = 'unavailable'): Error {
  return Object.assign(new ServiceUnavailableError(message, { cause: new Error(redisErrorText(cause)) }), { refusal });
}

export class BatchWriter {
  constructor(private readonly o: BatchWriterOptions) {}

  /**
   * Counts the batch, home call first; resolves with every call's outcome. Throws a 503 (nothing of
   * a call that failed was counted, or it is not known: the retry finds out) or, for a reply
   * Redis answered with an error, that error.
   */
  async record(batch: StoreBatch): Promise<BatchCall[]> {
    const { shards } = this.o;
    const byShard = new Map<number, IndexedHit[]>();
    if (batch.home) byShard.set(0, []);
    for (const hit of batch.hits) {
      const shard = shardOf(hit.path, shards.length);
      const list = byShard.get(shard);
      if (list) list.push(hit);
      else byShard.set(shard, [hit]);
    }
    const calls = [...byShard].map(([shard, hits]) => ({ shard, hits, drops: batch.home && shard === 0 ? batch.drops : [] }));
    if (calls.length === 0) return [];
    const [home, ...others] = calls;
    const first = await this.#call(batch, home!, false);
    if (first.status === 'conflict' || others.length === 0) return [first];
    const settled = await Promise.allSettled(others.map((call) => this.#call(batch, call, true)));
    const failed = settled.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    return [first, ...settled.map((result) => (result as PromiseFulfilledResult<BatchCall>).value)];
  }

  async #call(batch: StoreBatch, call: { shard: number; hits: IndexedHit[]; drops: StoreBatch['drops'] }, after: boolean): Promise<BatchCall> {
    const { sender, shards, maxEvents, maxPathsPerShard, recordTtlMs, replicatedWithinMs } = this.o;
    const keys = shards[call.shard]!;
    const args = recordBatchArgs({
      keys: { hits: keys.hits, record: keys.batch(batch.key), events: keys.events, second: keys.second(Math.floor(batch.now / 1000)) },
      fingerprint: batch.fingerprint,
      recordTtlMs,
      secondTtlMs: SECOND_COUNTER_TTL_MS,
      maxPaths: maxPathsPerShard,
      maxEvents,
      method: BATCH_METHOD,
      drops: call.drops.map(({ index, reason }) => `${index}:${reason}`),
      hits: this.#laidOut(keys, call.hits, batch.now),
    });
    const { replies, replicas } = await sender.send('record_batch', call.hits.length, [args], replicatedWithinMs);
    const reply = replies[0]!;
    const retry = 'retry with the same Idempotency-Key: what was counted is never counted twice';
    const part = after ? 'the batch was counted in part (redis.shards > 1)' : 'nothing of the batch was counted';
    if (!reply.ok) {
      if (reply.failure === 'rejected') throw reply.error;
      if (reply.failure === 'unknown') throw unavailable(`Redis did not answer in time: the batch may or may not have been counted; ${retry}`, reply.error);
      const refusal = reply.failure === 'refused' ? refusalReason(reply.error) : 'unavailable';
      throw unavailable(`Redis is unavailable: ${part}; ${retry}`, reply.error, refusal);
    }
    if (replicatedWithinMs !== undefined && replicas < 1) {
      throw unavailable(`No Redis replica confirmed the batch within ${replicatedWithinMs} ms (durability replicated): it may be lost in a failover; ${retry}`, new Error('WAIT 1 found no replica'));
    }
    const [status, counted, drops] = reply.value as unknown as [BatchCall['status'], number?, string?];
    const indexes = [...call.hits.map((hit) => hit.index), ...call.drops.map((drop) => drop.index)];
    if (status === 'conflict') return { status, indexes, counted: 0, drops: [] };
    return { status, indexes, counted: Number(counted), drops: parseDrops(String(drops ?? '')) };
  }

  /** The hits as the script takes them: each with the bucket and visitors keys its own time counts in. */
  #laidOut(keys: ShardKeys, hits: readonly IndexedHit[], now: number): BatchHit[] {
    const { buckets, visitors } = this.o.lifetimes;
    // A key is named where it is still kept: a bucket (or a day's visitors) that began longer ago
    // than its retention is no longer read by any window, so a hit from then counts in the ranking
    // and in the coarser buckets only. A new key lives until its retention after its end.
    const keyOf = (granularity: Granularity, start: number, ttlMs: number, name: () => string): BatchKey | undefined =>
      start >= now - ttlMs ? { key: name(), ttlMs: start + MS[granularity] + ttlMs - now } : undefined;
    return hits.map((hit) => {
      const at = bucketsAt(hit.time);
      const laid: BatchHit = {
        index: hit.index, path: hit.path, visitor: hit.visitor, time: hit.time, referrer: hit.referrer, userAgent: hit.userAgent, eventPath: hit.eventPath,
      };
      if (buckets) {
        for (const granularity of GRANULARITIES) {
          const bucket = at[granularity];
          laid[granularity] = keyOf(granularity, bucket.start, buckets[granularity], () => keys.bucket(bucket));
        }
      }
      if (visitors !== undefined && hit.visitor !== '') {
        laid.visitors = keyOf('day', at.day.start, visitors, () => keys.visitors(bucketId(at.day), hit.path));
      }
      return laid;
    });
  }
}
