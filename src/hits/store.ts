// HitStore is the only module that knows how hits are kept in Redis:
// one sorted set, member = normalized path, score = all-time hits.
//
// Exactly one hit per 2xx: a hit is acknowledged only after Redis replied to its command. Commands
// are never retried (ioredis: no offline queue, no retries, no resend after reconnect), so none
// is applied twice. A command that got no reply in time (timeout, lost connection) may still have
// been applied; the client gets 503, and the hit is kept as unresolved until Redis says whether it
// was applied (see record-hits.lua); if it was, it is taken back (retract-hit.lua).
import { randomUUID } from 'node:crypto';
import { ReplyError, type Redis } from 'ioredis';
import { bucketId, bucketsAt } from '../analytics/buckets.js';
import { SECOND_COUNTER_TTL_MS } from '../analytics/traffic.js';
import { hashVisitor, type VisitorHasher } from '../analytics/visitors.js';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { ForbiddenError, ServiceUnavailableError } from '../errors.js';
import type { Keys } from '../redis/keys.js';
import type { Scripts } from '../redis/scripts.js';
import { RefusalLog, redisErrorText, refusalReason, refusedForNow } from '../redis/unavailable.js';
import type { Settings } from '../settings.js';
import { Rankings } from './rankings.js';
import { resetCounts } from './reset.js';
import { groupByShard, shardOf } from './shards.js';
import { UnresolvedHits } from './unresolved.js';

export { WINDOW_READ_GRACE_MS, type Page, type PathHits, type Ranking } from './rankings.js';

export interface HitStoreOptions {
  redis: Redis;
  /** The keys of the ranking when there is one shard; with more, the keys of shard 0. */
  keys: Keys;
  /** The keys of every shard (createShardKeys); default: [keys]. */
  shards?: readonly Keys[];
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
}

export interface HitStoreMetrics {
  /** `ok`: Redis replied to every call of the pipeline without an error. */
  flushed(command: 'record_hits' | 'add_hits', seconds: number, hits: number, ok: boolean): void;
}

/** One hit, as the API route hands it over. */
export interface Hit {
  path: string;
  /** ms since the epoch, from the injected clock. */
  time: number;
  method: string;
  referrer: string;
  userAgent: string;
  /** The path as the event log keeps it (events.maxPathBytes); default: path. */
  eventPath?: string;
  /** Salted hash of IP and User-Agent (see analytics/visitors.ts); '' when visitors are off. */
  visitor: string;
  /**
   * Write-behind: the visitor's identity (visitorIdentity), hashed with its day's salt when the
   * hit is flushed; `visitor` is '' then.
   */
  unhashedVisitor?: string;
}

/** Write-behind: the hits of one path in one minute, summed until the next flush. */
interface Group {
  path: string;
  time: number;
  count: number;
  visitors: Set<string>;
  /** Identities whose hash waits for the day's salt (see #hashVisitors). */
  unhashed: Set<string>;
}

/** What waits for Redis to say whether it applied a command whose reply never came. */
type Unresolved =
  | { kind: 'answered503'; path: string; time: number } // applied → take it back
  | { kind: 'flushed'; group: Group }; // not applied → send it again

interface PendingHit {
  hit: Hit;
  shard: number;
  epoch: string;
  seq: number;
  resolve(count: number): void;
  reject(error: Error): void;
}

/** The parts of HitStoreOptions that come from settings. */
export function storeSettings(settings: Readonly<Settings>): Pick<HitStoreOptions, 'pageSize' | 'ledgerTtlMs' | 'analytics' | 'events' | 'writeBehind' | 'replicatedWithinMs' | 'maxPaths'> {
  const { analytics, events, redis, writeBehind } = settings;
  return {
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

const RECONCILE_EVERY_MS = 250;
const UNREPLICATED_BACKOFF_MS = 1000;
// Hits per record-hits.lua call: about 10 Redis commands each, so a call stays well under a millisecond.
const MAX_PER_CALL = 200;

/** Durability `replicated`: Redis applied the batch, but no replica confirmed it in time. */
class NotReplicatedError extends Error {}

// ioredis says this when it refused to send at all (not connected, no offline queue).
const NOT_SENT = /Stream isn't writeable|enableOfflineQueue/;

/**
 * Write-behind mode, past api.maxPaths: the hits of new paths are counted under this member
 * (add-hits.lua), since they were acknowledged before Redis could refuse them. It cannot be a
 * counted path: those all begin with /api.
 */
export const OVERFLOW_PATH = '(new paths past api.maxPaths)';

/** The writes: hits counted exactly once, write-behind, the ledger of unanswered hits, reset. The reads are Rankings'. */
export class HitStore extends Rankings {
  readonly #o: HitStoreOptions;
  readonly #unresolved: UnresolvedHits<Unresolved>;
  readonly #pending = new Map<string, Group>();
  // The last all-time totals flushes returned, for the counts write-behind answers with.
  readonly #lastKnown = new Map<string, number>();
  readonly #shards: readonly Keys[];
  // Per shard: the current epoch (a connection's run of sequence numbers) and its last number.
  // A shard's commands go to one node over one connection, in order; that is what makes "applied
  // up to N" meaningful, so each shard numbers its own hits.
  readonly #epochs: string[] = [];
  readonly #seqs: number[] = [];
  readonly #epochShard = new Map<string, number>();
  // Durability replicated: per shard, until when batches are refused because the last WAIT found no replica.
  readonly #unreplicatedUntil: number[] = [];
  #retracted = 0;
  // Redis's last refusal of a write (OOM, …), until a write succeeds again (see writeRefusal).
  #refusal: { reason: string; error: string } | undefined;
  readonly #refusals: RefusalLog;
  #batch: PendingHit[] = [];
  readonly #maxPathsPerShard: number;
  #timer: NodeJS.Timeout | undefined;
  #reconciling: Promise<void> | undefined;

  constructor(options: HitStoreOptions) {
    super(options);
    this.#o = options;
    this.#shards = options.shards ?? [options.keys];
    this.#shards.forEach((_, shard) => this.#newEpoch(shard));
    if (options.writeBehind.enabled) setInterval(() => void this.#flushPending(), options.writeBehind.flushIntervalMs).unref();
    this.#unresolved = new UnresolvedHits(options.settleMs ?? 1000);
    this.#refusals = new RefusalLog(options.logger, () => options.clock.now());
    this.#maxPathsPerShard = Math.ceil((options.maxPaths ?? 0) / this.#shards.length);
    // Each connection is an epoch with its own sequence numbers: a new one starts when the old closes.
    options.redis.on('close', () => this.#shards.forEach((_, shard) => this.#rollEpoch(shard)));
  }

  #newEpoch(shard: number): void {
    const epoch = randomUUID();
    this.#epochShard.set(epoch, shard);
    this.#epochs[shard] = epoch;
    this.#seqs[shard] = 0;
  }

  /**
   * Ends the shard's epoch: its unanswered hits are resolved against what Redis recorded for it.
   * Also done at the first unknown outcome, not only when the connection closes: on Redis Cluster
   * a failover moves the shard to another node without the client as a whole closing, and hits
   * numbered on in the same epoch there would make "applied up to N" wrong.
   */
  #rollEpoch(shard: number): void {
    this.#unresolved.closed(this.#epochs[shard]!, this.#o.clock.now());
    this.#newEpoch(shard);
  }

  #refused(error: Error): void {
    const reason = refusalReason(error);
    this.#refusal = { reason, error: redisErrorText(error) };
    this.#refusals.report(reason, error);
  }

  /**
   * Why Redis refuses this store's writes (`redis_oom`: out of memory), or undefined when it
   * takes them. Known from the last batch; while one was refused, each call probes with a small
   * write of its own, so that the answer recovers without waiting for hits (a replica taken out
   * of a load balancer by its health check gets none).
   */
  async writeRefusal(): Promise<{ reason: string; error: string } | undefined> {
    if (!this.#refusal) return undefined;
    try {
      await this.#o.redis.set(this.#shards[0]!.probe, '1', 'PX', 1000);
      this.#refusal = undefined;
    } catch (error) {
      if (refusedForNow(error)) this.#refusal = { reason: refusalReason(error), error: redisErrorText(error) };
    }
    return this.#refusal;
  }

  /** Hits answered 503 whose fate Redis has not told yet. */
  get unresolved(): number {
    return this.#unresolved.size;
  }

  /** Hits taken back since start-up: applied by Redis after their client was answered 503. */
  get retracted(): number {
    return this.#retracted;
  }

  /**
   * Counts one hit (ranking, buckets, visitors, event) and returns the path's new all-time total,
   * as ZINCRBY reports it.
   *
   * Hits that arrive in the same turn of the event loop are batched, flushed with setImmediate
   * (after every ready socket has been read), and counted by one call of record-hits.lua per
   * minute they fall in: one write to Redis and one script run for many hits. Writing to a socket
   * and building a command per hit were what a hit cost most; process.nextTick batching
   * (ioredis's autopipelining) flushes after every single request, so it measured slower.
   */
  record(hit: Hit): Promise<number> {
    if (this.#o.writeBehind.enabled) return Promise.resolve(this.#recordLater(hit));
    return new Promise((resolve, reject) => {
      const shard = shardOf(hit.path, this.#shards.length);
      this.#batch.push({ hit, shard, epoch: this.#epochs[shard]!, seq: ++this.#seqs[shard]!, resolve, reject });
      if (this.#batch.length === 1) setImmediate(this.#flush);
    });
  }

  readonly #flush = (): void => {
    const batch = this.#batch;
    this.#batch = [];
    // One pipeline per shard: on Redis Cluster a pipeline must stay in one slot.
    if (this.#shards.length === 1) return this.#flushShard(batch);
    for (const hits of groupByShard(batch, (pending) => pending.shard).values()) this.#flushShard(hits);
  };

  /** Sends hits of one shard, in sequence order. */
  #flushShard(batch: PendingHit[]): void {
    const waitMs = this.#o.replicatedWithinMs;
    const shard = batch[0]!.shard;
    // WAIT holds the connection until it returns: while a shard has no replica in sync, one batch
    // a second finds out, and the others are refused before they are sent (not counted, 503)
    // instead of queueing one wait each behind it.
    if (waitMs !== undefined && this.#o.clock.now() < (this.#unreplicatedUntil[shard] ?? 0)) {
      const error = new ServiceUnavailableError('No Redis replica is in sync: the hit was not counted (durability replicated)');
      for (const pending of batch) pending.reject(error);
      return;
    }
    const pipeline = this.#o.redis.pipeline() as unknown as { hcRecordHits(...args: Array<string | number>): void; exec(): Promise<Array<[Error | null, unknown]> | null> };
    // One script call per run of hits in the same second (their bucket keys and the live feed's
    // per-second counter), at most MAX_PER_CALL long so that no single call holds Redis for long,
    // and of one connection epoch (its sequence key).
    const calls: PendingHit[][] = [];
    for (let start = 0; start < batch.length;) {
      const { hit, epoch } = batch[start]!;
      const second = Math.floor(hit.time / 1000);
      let end = start + 1;
      while (end < batch.length && end - start < MAX_PER_CALL && batch[end]!.epoch === epoch && Math.floor(batch[end]!.hit.time / 1000) === second) end++;
      const hits = batch.slice(start, end);
      pipeline.hcRecordHits(...this.#recordHitsArgs(hits));
      calls.push(hits);
      start = end;
    }
    // WAIT counts the replicas that have every write this connection made so far: the batch.
    if (waitMs !== undefined) (pipeline as unknown as { wait(replicas: number, ms: number): void }).wait(1, waitMs);
    this.#timed('record_hits', batch.length, pipeline.exec()).then(
      (results) => {
        // Applied on the master but not known to be on a replica: a failover could still lose it,
        // so it is not acknowledged. It is resolved like a lost reply: found applied, taken back.
        const unreplicated = waitMs !== undefined && Number(results?.[calls.length]?.[1] ?? 0) < 1
          ? new NotReplicatedError(`no replica confirmed the batch within ${waitMs} ms`) : undefined;
        if (unreplicated) this.#unreplicatedUntil[shard] = this.#o.clock.now() + UNREPLICATED_BACKOFF_MS;
        calls.forEach((hits, i) => {
          const [error, counts] = results?.[i] ?? [new Error('no reply'), null];
          if (!error) this.#refusal = undefined;
          if (error || unreplicated) for (const pending of hits) this.#failed(pending, error ?? unreplicated!);
          else hits.forEach((pending, j) => {
            const count = Number((counts as string[])[j]);
            if (count >= 0) return pending.resolve(count);
            pending.reject(Object.assign(new ForbiddenError(`Path cap reached: ${this.#o.maxPaths} distinct paths are counted (api.maxPaths); a new path is not counted, known paths still are`), { refusal: 'path_cap' }));
          });
        });
      },
      (error: Error) => batch.forEach((pending) => this.#failed(pending, error)),
    );
  }

  /** Passes a pipeline's reply through, reporting its round trip to the metrics observer. */
  #timed<T extends Array<[Error | null, unknown]> | null>(command: 'record_hits' | 'add_hits', hits: number, exec: Promise<T>): Promise<T> {
    const metrics = this.#o.metrics;
    if (!metrics) return exec;
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    exec.then(
      (results) => metrics.flushed(command, seconds(), hits, results !== null && results.every(([error]) => !error)),
      () => metrics.flushed(command, seconds(), hits, false),
    );
    return exec;
  }

  /** record-hits.lua's number of keys, keys and arguments for hits of one second, in sequence order. */
  #recordHitsArgs(hits: PendingHit[]): Array<string | number> {
    const { ledgerTtlMs, analytics, events } = this.#o;
    const first = hits[0]!;
    const keys = this.#shards[first.shard]!;
    const { minute, hour, day, dayId } = this.#bucketKeys(first.hit.time, first.shard);
    const visitors = analytics.visitors;
    const keyList: string[] = [keys.hits, keys.hitSeq(first.epoch), minute, hour, day, keys.events, keys.second(Math.floor(first.hit.time / 1000))];
    if (visitors) for (const { hit } of hits) keyList.push(keys.visitors(dayId, hit.path));
    const args: Array<string | number> = [
      keyList.length, ...keyList,
      hits.length, hits[hits.length - 1]!.seq, ledgerTtlMs,
      analytics.buckets ? '1' : '0', analytics.minuteTtlMs, analytics.hourTtlMs, analytics.dayTtlMs,
      visitors ? analytics.visitorTtlMs : '', events.enabled ? events.maxLength : 0, SECOND_COUNTER_TTL_MS,
      this.#maxPathsPerShard,
    ];
    for (const { hit } of hits) {
      if (events.enabled) args.push(hit.path, hit.visitor, Math.floor(hit.time), hit.method, hit.referrer, hit.userAgent, hit.eventPath ?? hit.path);
      else args.push(hit.path, hit.visitor, '', '', '', '', '');
    }
    return args;
  }

  #failed(pending: PendingHit, error: Error): void {
    if (error instanceof ReplyError && !refusedForNow(error)) return pending.reject(error);
    if (refusedForNow(error)) {
      this.#refused(error);
      // Not the ReplyError as cause: it carries the batch's arguments (other clients' requests).
      return pending.reject(Object.assign(new ServiceUnavailableError('Redis is unavailable: the hit was not counted', { cause: new Error(redisErrorText(error)) }), { refusal: refusalReason(error) }));
    }
    if (!NOT_SENT.test(error.message)) {
      this.#unresolved.add(pending.epoch, pending.seq, { kind: 'answered503', path: pending.hit.path, time: pending.hit.time });
      if (pending.epoch === this.#epochs[pending.shard]) this.#rollEpoch(pending.shard);
      this.#timer ??= setInterval(() => void this.reconcile(), RECONCILE_EVERY_MS).unref();
    }
    pending.reject(new ServiceUnavailableError('Redis is unavailable: the hit was not counted', { cause: error }));
  }

  // Bucket key names change once a minute: they are built then, not for every hit.
  readonly #bucketMinute: number[] = [];
  readonly #bucketNames: Array<{ minute: string; hour: string; day: string; dayId: string }> = [];
  #bucketKeys(time: number, shard: number): { minute: string; hour: string; day: string; dayId: string } {
    const minuteStart = Math.floor(time / 60_000) * 60_000;
    if (minuteStart !== this.#bucketMinute[shard]) {
      const { minute, hour, day } = bucketsAt(time);
      const keys = this.#shards[shard]!;
      this.#bucketNames[shard] = { minute: keys.bucket(minute), hour: keys.bucket(hour), day: keys.bucket(day), dayId: bucketId(day) };
      this.#bucketMinute[shard] = minuteStart;
    }
    return this.#bucketNames[shard]!;
  }

  /**
   * Write-behind: the hit is summed in memory and acknowledged at once; flushes send the sums every
   * flushIntervalMs. The count answered is this process's best knowledge: the last total a flush
   * returned for the path plus its own hits not yet flushed. A crash loses the hits of the
   * current interval, and everything held while Redis is unreachable.
   */
  #recordLater(hit: Hit): number {
    const time = Math.floor(hit.time / 60_000) * 60_000;
    const key = `${time}|${hit.path}`;
    let group = this.#pending.get(key);
    if (!group) this.#pending.set(key, (group = { path: hit.path, time, count: 0, visitors: new Set(), unhashed: new Set() }));
    group.count++;
    if (this.#o.analytics.visitors && hit.visitor) group.visitors.add(hit.visitor);
    if (this.#o.analytics.visitors && hit.unhashedVisitor !== undefined) group.unhashed.add(hit.unhashedVisitor);
    return (this.#lastKnown.get(hit.path) ?? 0) + group.count;
  }

  #requeue(group: Group): void {
    const key = `${group.time}|${group.path}`;
    const pending = this.#pending.get(key);
    if (!pending) return void this.#pending.set(key, group);
    pending.count += group.count;
    for (const visitor of group.visitors) pending.visitors.add(visitor);
    for (const identity of group.unhashed) pending.unhashed.add(identity);
  }

  /**
   * Write-behind hashes visitors here, not when a hit arrives: the day's salt is in Redis, and a
   * write-behind hit is acknowledged without waiting on Redis, even when the salt is not in memory
   * yet (at start-up, at midnight) and Redis is down. Until the salt can be read, the groups wait
   * in memory like any hits that cannot be flushed; the identities never leave this process.
   */
  async #hashVisitors(groups: Group[]): Promise<void> {
    const hasher = this.#o.visitors;
    for (const group of groups) {
      if (group.unhashed.size === 0 || !hasher) continue;
      const salt = await hasher.saltAt(group.time);
      for (const identity of group.unhashed) group.visitors.add(hashVisitor(salt, identity));
      group.unhashed.clear();
    }
  }

  /** Hits acknowledged in write-behind mode and not yet known to be in Redis. */
  get pendingHits(): number {
    let count = 0;
    for (const group of this.#pending.values()) count += group.count;
    for (const item of this.#unresolved.items()) if (item.kind === 'flushed') count += item.group.count;
    return count;
  }

  async #flushPending(): Promise<void> {
    if (this.#pending.size === 0) return;
    // Sorted by minute, so that each call of add-hits.lua covers one minute's bucket keys.
    const groups = [...this.#pending.values()].sort((a, b) => a.time - b.time);
    this.#pending.clear();
    try {
      await this.#hashVisitors(groups);
    } catch (error) {
      this.#o.logger.debug({ err: error }, 'no visitor salt yet; write-behind hits wait for the next flush');
      return groups.forEach((group) => this.#requeue(group));
    }
    // One pipeline per shard (one slot each on Redis Cluster), all in flight together.
    const byShard = groupByShard(groups, (group) => shardOf(group.path, this.#shards.length));
    await Promise.all([...byShard].map(([shard, list]) => this.#flushShardPending(shard, list)));
    // Bounded by the paths seen lately, not by all paths ever counted.
    if (this.#lastKnown.size > 100_000) this.#lastKnown.clear();
  }

  async #flushShardPending(shard: number, groups: Group[]): Promise<void> {
    const { redis, ledgerTtlMs, analytics, logger, clock } = this.#o;
    const keys = this.#shards[shard]!;
    const epoch = this.#epochs[shard]!;
    // The live feed sees write-behind hits in the second they reach Redis, at most an interval late.
    const second = keys.second(Math.floor(clock.now() / 1000));
    const calls: Array<{ groups: Group[]; seq: number }> = [];
    const pipeline = redis.pipeline() as unknown as { hcAddHits(...args: Array<string | number>): void; exec(): Promise<Array<[Error | null, unknown]> | null> };
    for (let start = 0; start < groups.length;) {
      let end = start + 1;
      while (end < groups.length && end - start < MAX_PER_CALL && groups[end]!.time === groups[start]!.time) end++;
      const chunk = groups.slice(start, end);
      const seq = (this.#seqs[shard]! += chunk.length);
      const { minute, hour, day, dayId } = this.#bucketKeys(chunk[0]!.time, shard);
      const keyList = [keys.hits, keys.hitSeq(epoch), minute, hour, day, second];
      if (analytics.visitors) for (const group of chunk) keyList.push(keys.visitors(dayId, group.path));
      const args: Array<string | number> = [
        keyList.length, ...keyList, chunk.length, seq, ledgerTtlMs, analytics.buckets ? '1' : '0',
        analytics.minuteTtlMs, analytics.hourTtlMs, analytics.dayTtlMs, analytics.visitors ? analytics.visitorTtlMs : '', SECOND_COUNTER_TTL_MS,
        this.#maxPathsPerShard, OVERFLOW_PATH,
      ];
      for (const group of chunk) args.push(group.path, group.count, group.visitors.size, ...group.visitors);
      pipeline.hcAddHits(...args);
      calls.push({ groups: chunk, seq });
      start = end;
    }
    // A call is atomic: its groups share one fate. Each group keeps its own sequence number (the
    // call's last one is what Redis records), as record-hits does for hits.
    const failed = ({ groups: chunk, seq }: { groups: Group[]; seq: number }, error: Error) => {
      const hits = chunk.reduce((sum, group) => sum + group.count, 0);
      // Not run, and may be run later: kept for the next flush, as when it could not be sent.
      if (refusedForNow(error)) this.#refused(error);
      if (NOT_SENT.test(error.message) || refusedForNow(error)) return chunk.forEach((group) => this.#requeue(group));
      if (error instanceof ReplyError) return logger.error({ error: redisErrorText(error), paths: chunk.length, hits }, 'Redis refused a write-behind flush; its hits are lost');
      chunk.forEach((group, j) => this.#unresolved.add(epoch, seq - chunk.length + 1 + j, { kind: 'flushed', group }));
      if (epoch === this.#epochs[shard]) this.#rollEpoch(shard);
      this.#timer ??= setInterval(() => void this.reconcile(), RECONCILE_EVERY_MS).unref();
    };
    try {
      const results = (await this.#timed('add_hits', groups.reduce((sum, group) => sum + group.count, 0), pipeline.exec())) ?? [];
      calls.forEach((call, i) => {
        const [error, totals] = results[i] ?? [new Error('no reply'), null];
        if (error) failed(call, error);
        else {
          this.#refusal = undefined;
          // -1: counted under OVERFLOW_PATH; the path itself holds nothing.
          call.groups.forEach((group, j) => this.#lastKnown.set(group.path, Math.max(0, Number((totals as string[])[j]))));
        }
      });
    } catch (error) {
      for (const call of calls) failed(call, error as Error);
    }
  }

  /** Write-behind: flushes until nothing is pending (or timeoutMs), for a clean stop. */
  async drain(timeoutMs: number): Promise<void> {
    if (!this.#o.writeBehind.enabled) return;
    const deadline = this.#o.clock.now() + timeoutMs;
    while (this.pendingHits > 0 && this.#o.clock.now() < deadline) {
      await this.#flushPending();
      await this.reconcile();
      if (this.pendingHits > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (this.pendingHits > 0) this.#o.logger.error({ hits: this.pendingHits }, 'stopping with write-behind hits that could not be flushed');
  }

  /** Resolves what can be resolved now. Runs by itself while hits are unresolved. */
  reconcile(): Promise<void> {
    this.#reconciling ??= this.#reconcileOnce().finally(() => { this.#reconciling = undefined; });
    return this.#reconciling;
  }

  async #reconcileOnce(): Promise<void> {
    const { redis, scripts, clock, logger, ledgerTtlMs } = this.#o;
    if (redis.status !== 'ready') return;
    try {
      for (const epoch of this.#unresolved.epochs()) {
        const keys = this.#shards[this.#epochShard.get(epoch) ?? 0]!;
        const last = Number((await redis.get(keys.hitSeq(epoch))) ?? 0);
        const { applied, notApplied } = this.#unresolved.resolve(epoch, last, clock.now());
        let retracted = 0;
        for (const { epoch: appliedEpoch, seq, hit } of applied) {
          if (hit.kind === 'answered503') {
            const { minute, hour, day } = bucketsAt(hit.time);
            const taken = await scripts.retractHit(
              keys.hits, keys.hitRetracted(appliedEpoch), keys.bucket(minute), keys.bucket(hour), keys.bucket(day),
              keys.second(Math.floor(hit.time / 1000)), hit.path, seq, ledgerTtlMs, this.#o.analytics.buckets ? '1' : '0',
            );
            // -1: Redis applied the call but had counted nothing for this hit (refused at api.maxPaths).
            if (Number(taken) !== -1) {
              this.#retracted++;
              retracted++;
            }
          }
          this.#unresolved.retracted(appliedEpoch, seq);
        }
        for (const hit of notApplied) if (hit.kind === 'flushed') this.#requeue(hit.group);
        if (applied.length > 0 || notApplied.length > 0) {
          logger.info({ epoch, applied: applied.length, retracted, notApplied: notApplied.length }, 'resolved writes whose replies were lost');
        }
      }
      this.#unresolved.prune();
      const open = new Set([...this.#epochs, ...this.#unresolved.epochs()]);
      for (const epoch of this.#epochShard.keys()) if (!open.has(epoch)) this.#epochShard.delete(epoch);
    } catch (error) {
      logger.debug({ err: error }, 'could not resolve unanswered hits yet; retrying');
    }
    if (this.#unresolved.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Erases the counts (DELETE /stats): see reset.ts for what is kept and why it is exact under load. */
  reset(): Promise<number> {
    const { writeBehind } = this.#o;
    // This process's own sequence keys, per shard: named in the atomic step with the rest.
    const seqKeys = this.#shards.map((shard, i) => [...this.#epochShard].filter(([, of]) => of === i).map(([epoch]) => shard.hitSeq(epoch)));
    return resetCounts({ ...this.#o, shards: this.#shards, lateMs: writeBehind.enabled ? writeBehind.flushIntervalMs : 0, seqKeys });
  }
}
