// HitStore is the only module that knows how hits are kept in Redis: one sorted set, member =
// normalized path, score = all-time hits. It puts the parts together, each in its own module:
// - writer.ts: the durable write path (batches, replicated durability)
// - write-behind.ts: hits summed in memory and flushed
// - send.ts: the pipeline both write paths send through, and what each failure means
// - ledger.ts: exactly once when a reply is lost (epochs, sequence numbers, reconcile, retraction)
// - rankings.ts: every read; reset.ts: DELETE /stats
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { VisitorHasher } from '../analytics/visitors.js';
import type { Clock } from '../clock.js';
import { SECOND_COUNTER_TTL_MS, type GlobalKeys, type ShardKeys } from '../redis/keys.js';
import type { HitKeyLifetimes } from '../redis/script-args.js';
import type { Scripts } from '../redis/scripts.js';
import type { Settings } from '../settings.js';
import { BatchWriter, type BatchCall, type StoreBatch } from './batch.js';
import { CallKeys, type Hit } from './hit.js';
import { Ledger } from './ledger.js';
import { Rankings } from './rankings.js';
import { resetCounts } from './reset.js';
import { Sender, type SendMetrics } from './send.js';
import { WriteBehind, type Group } from './write-behind.js';
import { Writer } from './writer.js';

export { WINDOW_READ_GRACE_MS, type Page, type PathHits, type Ranking } from './rankings.js';
export type { Hit } from './hit.js';
export type HitStoreMetrics = SendMetrics;

export interface HitStoreOptions {
  redis: Redis;
  /** The keys that exist once (the product's pattern, salts, jobs, the window budget). */
  keys: GlobalKeys;
  /** The keys of every shard of this store's ranking (shardKeys), shard i at index i. */
  shards: readonly ShardKeys[];
  scripts: Scripts;
  clock: Clock;
  logger: Logger;
  /** Rows per ZREVRANGE when the ranking streams. */
  pageSize: number;
  /** How long Redis keeps a connection's last-applied sequence number, and so how long an outage may last for unresolved hits to still be resolved exactly. */
  ledgerTtlMs: number;
  /** After a connection closes, how long to wait before concluding its unanswered hits were not applied. */
  settleMs?: number;
  analytics: {
    buckets: boolean;
    visitors: boolean;
    /** Lifetimes (ms) of minute, hour and day buckets and of visitor HyperLogLogs. */
    minuteTtlMs: number;
    hourTtlMs: number;
    dayTtlMs: number;
    visitorTtlMs: number;
    windowCacheMs: number;
    /** How many custom (?from=&to=) windows may have cached unions at once (see rankingKey). */
    maxCachedWindows: number;
  };
  events: { enabled: boolean; maxLength: number };
  /** Acknowledge hits at once and flush their sums every flushIntervalMs (see recordLater). */
  writeBehind: { enabled: boolean; flushIntervalMs: number };
  /**
   * Durability `replicated`: a batch is acknowledged only once a replica has it (WAIT 1 within
   * this many ms). Undefined: once the master applied it. Write-behind ignores it: that mode has
   * already traded durability for speed.
   */
  replicatedWithinMs?: number;
  /** Distinct paths the ranking may hold (api.maxPaths; with shards, split evenly); 0: no cap. */
  maxPaths?: number;
  /**
   * Keys reset() leaves alone although they match the product's pattern: those of another
   * store's family (api.bots "separate" keeps bots' hits in one), which that store resets itself.
   */
  resetSkips?: (key: string) => boolean;
  /** Told of every pipeline of hits sent to Redis (see metrics.ts). */
  metrics?: HitStoreMetrics;
  /** Write-behind: hashes the visitors of hits that carry an unhashedVisitor, at flush time. */
  visitors?: VisitorHasher;
  /** POST /hits: how long a batch's Idempotency-Key record is kept (batch.idempotencyTtlSeconds), ms; default a day. */
  batchRecordTtlMs?: number;
}

/** The parts of HitStoreOptions that come from settings. */
export function storeSettings(settings: Readonly<Settings>): Pick<HitStoreOptions, 'pageSize' | 'ledgerTtlMs' | 'analytics' | 'events' | 'writeBehind' | 'replicatedWithinMs' | 'maxPaths' | 'batchRecordTtlMs'> {
  const { analytics, events, redis, writeBehind } = settings;
  return {
    batchRecordTtlMs: settings.batch.idempotencyTtlSeconds * 1000,
    maxPaths: settings.api.maxPaths,
    pageSize: redis.statsPageSize,
    replicatedWithinMs: redis.durability === 'replicated' ? redis.replicationTimeoutMs : undefined,
    ledgerTtlMs: redis.ledgerTtlSeconds * 1000,
    analytics: {
      buckets: analytics.buckets,
      visitors: analytics.visitors,
      minuteTtlMs: analytics.minuteTtlSeconds * 1000,
      hourTtlMs: analytics.hourTtlSeconds * 1000,
      dayTtlMs: analytics.dayTtlSeconds * 1000,
      visitorTtlMs: analytics.visitorTtlSeconds * 1000,
      windowCacheMs: analytics.windowCacheSeconds * 1000,
      maxCachedWindows: analytics.maxCachedWindows,
    },
    events: { ...events },
    writeBehind: { ...writeBehind },
  };
}

/**
 * Write-behind mode, past api.maxPaths: the hits of new paths are counted under this member
 * (add-hits.lua), since they were acknowledged before Redis could refuse them. It cannot be a
 * counted path: those all begin with /api.
 */
export const OVERFLOW_PATH = '(new paths past api.maxPaths)';

/** The writes, by the durable path or write-behind, and the ledger's figures. The reads are Rankings'. */
export class HitStore extends Rankings {
  readonly #o: HitStoreOptions;
  readonly #shards: readonly ShardKeys[];
  readonly #sender: Sender;
  readonly #ledger: Ledger<Group>;
  readonly #writer: Writer | undefined;
  readonly #writeBehind: WriteBehind | undefined;
  readonly #batches: BatchWriter;

  constructor(options: HitStoreOptions) {
    super(options);
    this.#o = options;
    const { redis, clock, logger, analytics, events, writeBehind } = options;
    const shards = (this.#shards = options.shards);
    this.#sender = new Sender(redis, shards[0]!.probe, logger, clock, options.metrics);
    this.#ledger = new Ledger<Group>({
      redis, scripts: options.scripts, shards, clock, logger, ttlMs: options.ledgerTtlMs, buckets: analytics.buckets,
      settleMs: options.settleMs ?? 1000, notApplied: (group) => this.#writeBehind?.requeue(group),
    });
    const callKeys = shards.map((keys) => new CallKeys(keys));
    const lifetimes: HitKeyLifetimes = {
      buckets: analytics.buckets ? { minute: analytics.minuteTtlMs, hour: analytics.hourTtlMs, day: analytics.dayTtlMs } : undefined,
      visitors: analytics.visitors ? analytics.visitorTtlMs : undefined,
      second: SECOND_COUNTER_TTL_MS,
      sequence: options.ledgerTtlMs,
    };
    const maxPathsPerShard = Math.ceil((options.maxPaths ?? 0) / shards.length);
    const common = { sender: this.#sender, callKeys, lifetimes, maxPathsPerShard, clock };
    if (writeBehind.enabled) {
      this.#writeBehind = new WriteBehind({ ...common, ledger: this.#ledger, overflow: OVERFLOW_PATH, flushIntervalMs: writeBehind.flushIntervalMs, logger, visitors: options.visitors });
    } else {
      this.#writer = new Writer({ ...common, ledger: this.#ledger, maxEvents: events.enabled ? events.maxLength : 0, maxPaths: options.maxPaths ?? 0, replicatedWithinMs: options.replicatedWithinMs });
    }
    // POST /hits is durable in every mode: its Idempotency-Key record is written with its hits.
    this.#batches = new BatchWriter({
      sender: this.#sender, shards, lifetimes, maxPathsPerShard, maxEvents: events.enabled ? events.maxLength : 0,
      recordTtlMs: options.batchRecordTtlMs ?? 86_400_000, replicatedWithinMs: options.replicatedWithinMs,
    });
  }

  /**
   * Counts one hit (ranking, buckets, visitors, event) and returns the path's new all-time total:
   * durable, as ZINCRBY reports it once Redis applied it; write-behind, as this process knows it.
   */
  record(hit: Hit): Promise<number> {
    if (this.#writeBehind) return Promise.resolve(this.#writeBehind.record(hit));
    return this.#writer!.record(hit);
  }

  /**
   * POST /hits: counts this store's share of a batch, each shard's hits in one atomic call with the
   * batch's Idempotency-Key record, and resolves with what each call did (see batch.ts).
   */
  recordBatch(batch: StoreBatch): Promise<BatchCall[]> {
    return this.#batches.record(batch);
  }

  /** Why Redis refuses this store's writes (`redis_oom`: out of memory), or undefined when it takes them (see Sender). */
  writeRefusal(): Promise<{ reason: string; error: string } | undefined> {
    return this.#sender.writeRefusal();
  }

  /** Hits answered 503 whose fate Redis has not told yet. */
  get unresolved(): number {
    return this.#ledger.size;
  }

  /** Hits taken back since start-up: applied by Redis after their client was answered 503. */
  get retracted(): number {
    return this.#ledger.retracted;
  }

  /** Hits acknowledged in write-behind mode and not yet known to be in Redis. */
  get pendingHits(): number {
    return this.#writeBehind?.pendingHits ?? 0;
  }

  /** Resolves what can be resolved now. Runs by itself while hits are unresolved. */
  reconcile(): Promise<void> {
    return this.#ledger.reconcile();
  }

  /** Write-behind: flushes until nothing is pending (or timeoutMs), for a clean stop. */
  async drain(timeoutMs: number): Promise<void> {
    await this.#writeBehind?.drain(timeoutMs);
  }

  /** Erases the counts (DELETE /stats): see reset.ts for what is kept and why it is exact under load. */
  reset(): Promise<number> {
    const { writeBehind } = this.#o;
    return resetCounts({ ...this.#o, shards: this.#shards, lateMs: writeBehind.enabled ? writeBehind.flushIntervalMs : 0, seqKeys: this.#ledger.seqKeys() });
  }

  /** Stops the store's timers and listeners (drain first to send what write-behind holds). Safe to call twice. */
  close(): void {
    this.#writeBehind?.close();
    this.#ledger.close();
  }
}

/** The stores' ledger figures, summed (two stores with api.bots "separate"): /health and /metrics report these. */
export function storeFigures(stores: readonly HitStore[]): { unresolved: number; retracted: number; pendingHits: number } {
  const figures = { unresolved: 0, retracted: 0, pendingHits: 0 };
  for (const store of stores) {
    figures.unresolved += store.unresolved;
    figures.retracted += store.retracted;
    figures.pendingHits += store.pendingHits;
  }
  return figures;
}
